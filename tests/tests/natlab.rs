//! The NAT lab itself, with real packets and no weftd: two sites behind NAT routers (one
//! port-preserving, one mapping the WireGuard port to another public port) and one public host on
//! the lab bridge, the internet. Proves what the KubeSpan NAT tests build on: a site's node reaches
//! the internet from its router's public address and the expected public port; nothing
//! unsolicited gets in; a reply on a flow the node opened does (the hole-punching precondition);
//! the API port forward works; and private addresses are undeliverable from anywhere else. One
//! test puts a real weftd behind a NAT and drives it with weftctl from the root namespace, and
//! at the router's address once `machine.certSANs` names it.
//! Privileged: runs as root (CI); skipped with a reason otherwise, and fails under `CI=true`.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use weft_e2e::{
    Capture, Cluster, Lab, Nat, edit_config, in_ns, ok, privileged, stderr, tools_present,
    wait_until, with_ns,
};

/// The node's WireGuard port, as KubeSpan's default.
const WG_PORT: u16 = 51820;
/// The public port [`Nat::MapUdpPort`] maps it to.
const MAPPED_PORT: u16 = 40001;
/// The public host's UDP port.
const PEER_PORT: u16 = 5000;
/// Bound on waiting for a datagram that must arrive (a failing test ends after it, no more).
const RECV_LIMIT: Duration = Duration::from_secs(10);

fn ip_addr(s: &str) -> IpAddr {
    s.parse().expect("IP address")
}

/// A UDP socket bound to `port` on every address of namespace `ns`.
fn udp_in(ns: &str, port: u16) -> UdpSocket {
    let socket = with_ns(ns, || UdpSocket::bind(("0.0.0.0", port))).expect("bind UDP");
    socket
        .set_read_timeout(Some(RECV_LIMIT))
        .expect("read timeout");
    socket
}

/// The next datagram on `socket`, as text, and its sender.
fn recv(socket: &UdpSocket, what: &str) -> (String, SocketAddr) {
    let mut buf = [0u8; 1500];
    let (n, from) = socket
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("{what}: nothing within {RECV_LIMIT:?}: {e}"));
    (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
}

#[test]
#[ignore = "needs root"]
fn nat_sites_translate_filter_and_isolate() {
    let test = "nat_sites_translate_filter_and_isolate";
    if !privileged(test)
        || !tools_present(
            test,
            &[
                ("nft", "nftables"),
                ("tcpdump", "tcpdump"),
                ("ping", "iputils-ping"),
            ],
        )
    {
        return;
    }
    let mut lab = Lab::new();
    let sites = [
        (lab.add_site(1, Nat::PortPreserving), WG_PORT),
        (
            lab.add_site(
                2,
                Nat::MapUdpPort {
                    from: WG_PORT,
                    to: MAPPED_PORT,
                },
            ),
            MAPPED_PORT,
        ),
    ];
    let (host_ns, host_addr) = lab.add_host(3);
    let host = udp_in(&host_ns, PEER_PORT);
    let peer = SocketAddr::new(ip_addr(&host_addr), PEER_PORT);
    // A second socket of the same host: a different source port than the one the node talks to.
    let stranger = udp_in(&host_ns, PEER_PORT + 1);

    for (site, public_port) in &sites {
        let public = ip_addr(&site.public);
        let node = udp_in(&site.ns, WG_PORT);

        // (b) Unsolicited datagrams to the public address — the WireGuard port, the mapped port —
        // sent before the node has sent anything. Were any let in, it would be queued on the
        // node's socket ahead of the reply below, on the same path.
        for port in [WG_PORT, MAPPED_PORT] {
            host.send_to(b"unsolicited", (public, port))
                .expect("send unsolicited");
        }

        // (a) Out through the NAT: the host sees the router's public address and the public port
        // `nat` promises, seen on the wire of the host's link as well.
        let wire = Capture::start(
            Some(&host_ns),
            "eth0",
            &format!("udp and dst port {PEER_PORT}"),
            10,
            RECV_LIMIT,
        );
        node.send_to(b"out", peer).expect("send from the node");
        let (text, from) = recv(&host, "the node's datagram at the public host");
        assert_eq!(text, "out");
        assert_eq!(
            from,
            SocketAddr::new(public, *public_port),
            "site {}: the host sees the router's public address and port",
            site.ns
        );
        wire.wait_for("the node's datagram from the public address", |p| {
            p.src == Some(public) && p.sport == Some(*public_port)
        });
        let seen = wire.stop();
        assert!(
            seen.iter().all(|p| p.src == Some(public)),
            "only the public address on the host's link: {seen:?}"
        );

        // (c) The reply on that flow gets in, to the node's WireGuard port; it is the first thing
        // the node receives, so (b)'s datagrams were dropped.
        host.send_to(b"reply", from).expect("reply");
        let (text, from_host) = recv(&node, "the reply at the node");
        assert_eq!(
            text, "reply",
            "site {}: an unsolicited datagram got in",
            site.ns
        );
        assert_eq!(from_host, peer);

        // Filtering depends on the sender's port too: the same host from another port is dropped
        // (the next datagram the node gets is the second reply, sent after it).
        stranger
            .send_to(b"stranger", from)
            .expect("send from another port");
        host.send_to(b"reply 2", from).expect("reply 2");
        let (text, _) = recv(&node, "the second reply at the node");
        assert_eq!(
            text, "reply 2",
            "site {}: a datagram from another port got in",
            site.ns
        );
    }

    // (d) Private addresses are undeliverable. Site 1's node reaches the internet …
    let (a, _) = &sites[0];
    let (b, _) = &sites[1];
    let out = in_ns(&a.ns, &["ping", "-c", "1", "-W", "2", &host_addr]);
    assert!(out.success, "site 1 → public host: {}", out.stdout);
    // … but not site 2's node, nor site 2's node site 1's.
    for (from, to) in [(a, b), (b, a)] {
        let out = in_ns(&from.ns, &["ping", "-c", "1", "-W", "2", &to.private]);
        assert!(
            !out.success,
            "{} reached {} at its private address",
            from.ns, to.ns
        );
    }
    // Routers have exactly their two connected routes: no default, no way past the bridge.
    for site in [a, b] {
        let out = in_ns(&site.router_ns, &["ip", "-4", "route", "show"]);
        let routes = out.stdout.clone();
        assert_eq!(routes.lines().count(), 2, "{}: {routes}", site.router_ns);
        assert!(!routes.contains("default"), "{}: {routes}", site.router_ns);
        let out = in_ns(&site.router_ns, &["ip", "route", "get", "1.1.1.1"]);
        assert!(!out.success, "{} routes to 1.1.1.1", site.router_ns);
    }
    // The root namespace has no route into any site: the lab adds none, so 192.168.<i>.0/24
    // is never reached through the bridge.
    let routes = weft_lab::cmd::ip(&["-4", "route", "show", "table", "all"]).expect("ip route");
    for line in routes.lines().filter(|l| l.contains(&lab.bridge)) {
        assert!(
            line.starts_with("10.201.")
                || line.contains("table local")
                || line.contains("broadcast"),
            "root namespace route through the lab: {line}"
        );
    }
    for site in [a, b] {
        // A failing lookup (no route at all) prints nothing: as good as no route via the bridge.
        let route = weft_lab::cmd::run("ip", &["route", "get", &site.private])
            .expect("ip route get")
            .stdout;
        assert!(
            !route.contains(&lab.bridge),
            "root namespace routes {} into the lab: {route}",
            site.private
        );
    }
}

#[test]
#[ignore = "needs root"]
fn port_forward_reaches_the_site_node() {
    let test = "port_forward_reaches_the_site_node";
    if !privileged(test) || !tools_present(test, &[("nft", "nftables")]) {
        return;
    }
    let mut lab = Lab::new();
    let site = lab.add_site(4, Nat::PortPreserving);
    let port = 7443;
    let listener = with_ns(&site.ns, || TcpListener::bind(("0.0.0.0", port))).expect("listen");
    let public: SocketAddr = format!("{}:{port}", site.public).parse().expect("address");

    // Without the forward, the router drops the SYN: connecting times out.
    let refused = TcpStream::connect_timeout(&public, Duration::from_secs(1));
    assert!(refused.is_err(), "connected before the port forward");

    lab.forward_tcp(4, port);
    let mut client = TcpStream::connect_timeout(&public, RECV_LIMIT).expect("connect");
    client.write_all(b"hello").expect("write");
    listener.set_nonblocking(true).expect("nonblocking");
    let (mut conn, from) = wait_until("the forwarded connection", || listener.accept().ok());
    conn.set_nonblocking(false).expect("blocking");
    // The node sees the real client (the bridge's address), not the router.
    assert_eq!(from.ip(), ip_addr(&lab.gateway));
    conn.set_read_timeout(Some(RECV_LIMIT)).expect("timeout");
    let mut buf = [0u8; 5];
    conn.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"hello");
}

#[test]
#[ignore = "needs root"]
fn node_behind_nat_serves_its_api_through_the_port_forward() {
    let test = "node_behind_nat_serves_its_api_through_the_port_forward";
    if !privileged(test) || !tools_present(test, &[("nft", "nftables")]) {
        return;
    }
    let cluster = Cluster::new();
    let mut lab = Lab::new();
    let mut node = cluster.node("natted", false);
    let site = lab.place_behind_nat(&mut node, 5, Nat::PortPreserving);
    assert_eq!(node.netns.as_deref(), Some(site.ns.as_str()));
    // `start` waits until weftctl, in the root namespace, gets an answer at `node.api`.
    node.start(&cluster);
    ok(
        &cluster.weftctl(&["-n", &node.addr(), "get", "identities"]),
        "get identities behind NAT",
    );
    // Dialed at the router's address itself, TLS fails: the serving certificate names the node's
    // own addresses, and behind a NAT the public address is not one of them. Hence the relay.
    let direct = format!("{}:{}", site.public, node.port);
    let out = cluster.weftctl(&["-n", &direct, "get", "identities"]);
    assert!(!out.status.success(), "the router address verified");
    let why = stderr(&out);
    assert!(
        why.contains("certificate") || why.contains("NotValidForName"),
        "{why}"
    );

    // `machine.certSANs` names it: applied live, it takes effect at the next start (the reply
    // says so); after a restart the router's address verifies.
    let public = site.public.clone();
    edit_config(&node, |cfg| {
        cfg["machine"]["certSANs"] = vec![public.as_str(), "natted.example.com"].into();
    });
    let file = node.config.to_str().expect("utf8 path").to_owned();
    let applied = cluster.weftctl(&["-n", &node.addr(), "apply-config", "--file", &file]);
    ok(&applied, "apply-config certSANs");
    let reply = String::from_utf8_lossy(&applied.stdout).into_owned() + &stderr(&applied);
    assert!(
        reply.contains("machine.certSANs take effect when weftd restarts"),
        "{reply}"
    );
    node.stop();
    node.start(&cluster);
    ok(
        &cluster.weftctl(&["-n", &direct, "get", "identities"]),
        "get identities at the router's address, named by certSANs",
    );
}
