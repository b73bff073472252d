//! weft-discovery against hostile clients (issue 13), each attack run against the real binary on
//! loopback and checked from the outside (gRPC answers, `/metrics`, `/proc/<pid>/status`, the
//! log, the snapshot file):
//! - owned affiliates: knowing the cluster id is not enough to delete or overwrite a node's
//!   affiliate (PermissionDenied), also after a restart from the snapshot; Talos-style affiliates
//!   (no token) behave as in Sidero's service;
//! - an endpoint flood cannot lock a node out of its own affiliate: past 64 endpoints the extra
//!   ones are dropped and the owner's evict the flood's;
//! - global caps on clusters and affiliates (ResourceExhausted);
//! - `x-real-ip` is not believed by default, so it cannot buy a client fresh rate-limit buckets;
//! - lockout by idle connections: 2,200 silent TCP connections (one source over the per-IP cap,
//!   twenty under it) against a service started at the common soft open-file limit of 1024, and
//!   a flood over `--max-connections`; half-open TLS handshakes. Real clients are served
//!   throughout and the service closes every silent connection by itself;
//! - unread watches of the largest legal cluster: the service's memory stays bounded (the reply
//!   budget refuses the excess, the send timeout cuts the rest) and is reused afterwards; open
//!   watches that did read their snapshot do not keep it;
//! - a watcher that falls behind is closed with ResourceExhausted "watch fell behind";
//! - leftover temporary snapshot files are removed and a truncated snapshot keeps its complete
//!   records; control bytes in `client_version` never reach `/metrics`.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use weft_api::discovery::owner::owner_token;
use weft_api::proto::discovery::server::cluster_client::ClusterClient;
use weft_api::proto::discovery::server::{
    Affiliate, AffiliateDeleteRequest, AffiliateUpdateRequest, HelloRequest, ListRequest,
    WatchRequest, WatchResponse,
};
use weft_e2e::flood::{closed_by_server, connect_from};
use weft_e2e::{DEADLINE, DiscoveryService, wait_until};

/// How long a test waits for one gRPC answer that must come.
const ANSWER: Duration = Duration::from_secs(10);
/// The soft open-file limit most systems start processes with.
const COMMON_NOFILE: u64 = 1024;
/// The cluster secret of the test nodes (owner tokens are derived from it).
const SECRET: [u8; 32] = [0x5e; 32];
/// Sidero's limits, as the largest legal cluster needs them.
const MAX_AFFILIATES: usize = 1024;
const MAX_DATA: usize = 2048;
const MAX_ENDPOINTS: usize = 64;
const MAX_ENDPOINT: usize = 32;
const MAX_ID: usize = 256;
/// Decode limit of the clients that read the largest cluster (tonic's default is 4 MiB).
const BIG_DECODE: usize = 8 * 1024 * 1024;
/// The first bytes of a TLS ClientHello whose record announces 512 bytes: the server waits for
/// the rest, which never comes.
const PARTIAL_CLIENT_HELLO: [u8; 11] = [
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// Serialises the tests that change this process's open-file limit or hold thousands of sockets.
/// A plain mutex held across awaits on purpose (`await_holding_lock` is allowed on those tests):
/// each test runs its own single-threaded runtime on its own thread, so holding it blocks only
/// the other tests that take it, which is the point.
static NOFILE: Mutex<()> = Mutex::new(());

fn nofile_lock() -> std::sync::MutexGuard<'static, ()> {
    NOFILE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts `service` with the soft open-file limit at [`COMMON_NOFILE`] (what a default systemd
/// unit or shell gives), then raises this process's own to its hard limit for the attack.
fn start_with_common_nofile(service: &mut DiscoveryService) {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, COMMON_NOFILE.min(hard), hard).expect("lower");
    service.start();
    setrlimit(Resource::RLIMIT_NOFILE, soft.max(hard), hard).expect("raise");
}

/// A gRPC client whose connections come from `source` (any 127/8 address works on Linux).
async fn client_from(service: &DiscoveryService, source: Ipv4Addr) -> ClusterClient<Channel> {
    let channel = Endpoint::from_shared(service.url())
        .expect("url")
        .local_address(Some(IpAddr::V4(source)))
        .connect_timeout(ANSWER)
        .connect()
        .await
        .expect("connect");
    ClusterClient::new(channel).max_decoding_message_size(BIG_DECODE)
}

async fn client(service: &DiscoveryService) -> ClusterClient<Channel> {
    client_from(service, Ipv4Addr::LOCALHOST).await
}

fn update(cluster: &str, id: &str, data: &[u8], endpoints: &[Vec<u8>]) -> AffiliateUpdateRequest {
    let mut req = AffiliateUpdateRequest {
        cluster_id: cluster.to_owned(),
        affiliate_id: id.to_owned(),
        owner_token: Vec::new(),
        affiliate_data: (!data.is_empty()).then(|| data.to_vec()),
        affiliate_endpoints: endpoints.to_vec(),
        ttl: Some(Default::default()),
    };
    if let Some(ttl) = req.ttl.as_mut() {
        ttl.seconds = 1800;
    }
    req
}

/// The same update, with the owner token a Weft node sends for `id`.
fn owned(mut req: AffiliateUpdateRequest) -> AffiliateUpdateRequest {
    req.owner_token = owner_token(&SECRET, &req.cluster_id, &req.affiliate_id).to_vec();
    req
}

fn delete(cluster: &str, id: &str, token: Vec<u8>) -> AffiliateDeleteRequest {
    AffiliateDeleteRequest {
        cluster_id: cluster.to_owned(),
        affiliate_id: id.to_owned(),
        owner_token: token,
    }
}

fn hello(cluster: &str, version: &str) -> HelloRequest {
    HelloRequest {
        cluster_id: cluster.to_owned(),
        client_version: version.to_owned(),
    }
}

async fn list(c: &mut ClusterClient<Channel>, cluster: &str) -> Vec<Affiliate> {
    let mut affiliates = tokio::time::timeout(
        ANSWER,
        c.list(ListRequest {
            cluster_id: cluster.to_owned(),
        }),
    )
    .await
    .expect("list in time")
    .expect("list")
    .into_inner()
    .affiliates;
    affiliates.sort_by(|a, b| a.id.cmp(&b.id));
    affiliates
}

async fn next(stream: &mut tonic::Streaming<WatchResponse>) -> Result<WatchResponse, Status> {
    tokio::time::timeout(ANSWER, stream.message())
        .await
        .expect("a watch message in time")
        .map(|m| m.expect("watch stream open"))
}

fn expect_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, what: &str) -> Status {
    match result {
        Err(status) => {
            assert_eq!(status.code(), code, "{what}: {status:?}");
            status
        }
        Ok(v) => panic!("{what}: expected {code:?}, got {v:?}"),
    }
}

/// `GET /metrics` over a plain TCP connection.
fn metrics_text(service: &DiscoveryService) -> String {
    let mut s = TcpStream::connect((service.host.as_str(), service.metrics_port)).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    let text = String::from_utf8(out).expect("metrics are UTF-8");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    text
}

/// The value of the metric line `name` (with its labels, if any).
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Resident memory of `pid`, in MiB (`VmRSS` of `/proc/<pid>/status`).
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024
}

/// Opens `count` silent connections from each of `sources` (sending `first_bytes`, if any, then
/// nothing); connects that fail are counted, not fatal (a server that stopped accepting fills its
/// backlog).
fn flood(
    target: SocketAddr,
    sources: impl IntoIterator<Item = Ipv4Addr>,
    count: usize,
    first_bytes: &[u8],
) -> (Vec<TcpStream>, usize) {
    let mut open = Vec::new();
    let mut failed = 0;
    for source in sources {
        for _ in 0..count {
            match connect_from(source, target) {
                Ok(mut conn) => {
                    if !first_bytes.is_empty() {
                        let _ = conn.write_all(first_bytes);
                    }
                    open.push(conn);
                }
                Err(_) => failed += 1,
            }
        }
    }
    (open, failed)
}

fn target(service: &DiscoveryService) -> SocketAddr {
    format!("{}:{}", service.host, service.port)
        .parse()
        .expect("address")
}

/// SIGTERM and wait from a blocking thread, so this runtime keeps serving client connections.
async fn stop(mut service: DiscoveryService) -> DiscoveryService {
    tokio::task::spawn_blocking(move || {
        let status = service.stop();
        assert!(status.success(), "{status}: {}", service.log_text());
        service
    })
    .await
    .expect("stop")
}

#[tokio::test]
async fn owned_affiliates_cannot_be_deleted_or_overwritten_with_the_cluster_id_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "owned", &[]);
    service.start();
    let mut node = client(&service).await;
    let mut attacker = client_from(&service, Ipv4Addr::new(127, 0, 0, 9)).await;
    let mine = vec![vec![1u8; 16], vec![2u8; 16]];
    node.affiliate_update(owned(update("c", "node-a", b"real", &mine)))
        .await
        .expect("the node publishes itself with its token");
    // A Talos node: no token, an affiliate as in Sidero's service.
    node.affiliate_update(update("c", "talos-b", b"talos", &[]))
        .await
        .expect("talos");
    let mut watch = node
        .watch(WatchRequest {
            cluster_id: "c".to_owned(),
        })
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(
        next(&mut watch).await.expect("snapshot").affiliates.len(),
        2
    );

    // Everything the attacker can do knowing only the cluster and affiliate ids.
    let status = expect_code(
        attacker
            .affiliate_delete(delete("c", "node-a", Vec::new()))
            .await,
        Code::PermissionDenied,
        "delete without a token",
    );
    assert!(
        status.message().contains("owner token"),
        "{}",
        status.message()
    );
    expect_code(
        attacker
            .affiliate_delete(delete("c", "node-a", vec![0xee; 32]))
            .await,
        Code::PermissionDenied,
        "delete with a made-up token",
    );
    expect_code(
        attacker
            .affiliate_update(update("c", "node-a", b"poison", &[]))
            .await,
        Code::PermissionDenied,
        "overwrite the data without a token",
    );
    let mut forged = update("c", "node-a", b"poison", &[]);
    forged.owner_token = owner_token(&[0; 32], "c", "node-a").to_vec();
    expect_code(
        attacker.affiliate_update(forged).await,
        Code::PermissionDenied,
        "overwrite with a token from another secret",
    );
    // An endpoint-only update without a token is still merged (Talos's harvesting).
    attacker
        .affiliate_update(update("c", "node-a", b"", &[vec![3u8; 16]]))
        .await
        .expect("harvested endpoint");
    let msg = next(&mut watch).await.expect("the harvested endpoint");
    assert!(!msg.deleted, "no delete reached the watchers: {msg:?}");
    assert_eq!(msg.affiliates[0].data, b"real");
    // The Talos affiliate is as in Sidero's: anyone may delete it.
    attacker
        .affiliate_delete(delete("c", "talos-b", Vec::new()))
        .await
        .expect("unowned: Sidero's behaviour");
    assert!(next(&mut watch).await.expect("talos deleted").deleted);
    let text = metrics_text(&service);
    assert_eq!(metric(&text, "discovery_server_owner_refused_total"), 4);

    // The binding survives a restart (it is in the snapshot).
    drop((node, attacker, watch));
    let mut service = stop(service).await;
    service.start();
    let mut node = client(&service).await;
    let mut attacker = client_from(&service, Ipv4Addr::new(127, 0, 0, 9)).await;
    expect_code(
        attacker
            .affiliate_delete(delete("c", "node-a", Vec::new()))
            .await,
        Code::PermissionDenied,
        "delete without a token after a restart",
    );
    let listed = list(&mut node, "c").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].data, b"real");
    // The owner itself deletes it (weftctl leave).
    node.affiliate_delete(delete(
        "c",
        "node-a",
        owner_token(&SECRET, "c", "node-a").to_vec(),
    ))
    .await
    .expect("the owner deletes");
    assert!(list(&mut node, "c").await.is_empty());
}

#[tokio::test]
async fn an_endpoint_flood_cannot_lock_a_node_out_of_its_affiliate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "flood", &["--no-snapshots"]);
    service.start();
    let mut node = client(&service).await;
    let mut attacker = client_from(&service, Ipv4Addr::new(127, 0, 0, 9)).await;
    let mine = vec![vec![1u8; 16], vec![2u8; 16]];
    node.affiliate_update(owned(update("c", "node-a", b"v1", &mine)))
        .await
        .expect("node");
    // One endpoint-only update with 63 random endpoints (the old service took them and then
    // refused every update of the node: "would have 65 endpoints").
    let junk: Vec<Vec<u8>> = (0..63u8).map(|i| vec![0x80 | i; 32]).collect();
    attacker
        .affiliate_update(update("c", "node-a", b"", &junk))
        .await
        .expect("merged up to the limit; the rest dropped");
    let a = list(&mut node, "c").await.remove(0);
    assert_eq!(a.endpoints.len(), 64);
    // The node's next update (data and a new endpoint) goes through whole.
    let moved = vec![vec![1u8; 16], vec![2u8; 16], vec![9u8; 16]];
    node.affiliate_update(owned(update("c", "node-a", b"v2", &moved)))
        .await
        .expect("the node's own update is never refused for the flood");
    let a = list(&mut node, "c").await.remove(0);
    assert_eq!(a.data, b"v2");
    assert_eq!(a.endpoints.len(), 64);
    for e in &moved {
        assert!(
            a.endpoints.contains(e),
            "the node's endpoint {e:?} is there"
        );
    }
    // A Talos affiliate (no owner) keeps Sidero's rule: the first 64 in, the rest dropped.
    let many: Vec<Vec<u8>> = (0..70u8).map(|i| vec![i; 16]).collect();
    node.affiliate_update(update("c", "talos", b"t", &many))
        .await
        .expect("dropped, not refused");
    let t = list(&mut node, "c").await.remove(1);
    assert_eq!(t.endpoints, many[..64].to_vec());
    let text = metrics_text(&service);
    assert_eq!(metric(&text, "discovery_state_endpoints_dropped_total"), 7);
    assert_eq!(metric(&text, "discovery_state_endpoints_evicted_total"), 1);
}

#[tokio::test]
async fn global_caps_refuse_new_clusters_and_affiliates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(
        dir.path(),
        "caps",
        &[
            "--no-snapshots",
            "--max-clusters",
            "3",
            "--max-affiliates",
            "5",
        ],
    );
    service.start();
    let mut c = client(&service).await;
    for cluster in ["c1", "c2", "c3"] {
        c.affiliate_update(update(cluster, "a", b"d", &[]))
            .await
            .expect("within the caps");
    }
    let status = expect_code(
        c.affiliate_update(update("c4", "a", b"d", &[])).await,
        Code::ResourceExhausted,
        "a fourth cluster",
    );
    assert!(
        status.message().contains("--max-clusters"),
        "{}",
        status.message()
    );
    expect_code(
        c.watch(WatchRequest {
            cluster_id: "c5".to_owned(),
        })
        .await,
        Code::ResourceExhausted,
        "a watch creating a cluster",
    );
    // Reading an unknown cluster creates nothing and is not refused.
    assert!(list(&mut c, "c6").await.is_empty());
    c.affiliate_update(update("c1", "b", b"d", &[]))
        .await
        .expect("4th");
    c.affiliate_update(update("c1", "c", b"d", &[]))
        .await
        .expect("5th");
    let status = expect_code(
        c.affiliate_update(update("c2", "b", b"d", &[])).await,
        Code::ResourceExhausted,
        "a sixth affiliate",
    );
    assert!(
        status.message().contains("--max-affiliates"),
        "{}",
        status.message()
    );
    c.affiliate_update(update("c1", "a", b"refresh", &[]))
        .await
        .expect("existing affiliates are still updated");
    let text = metrics_text(&service);
    assert_eq!(metric(&text, "discovery_state_clusters"), 3);
    assert_eq!(metric(&text, "discovery_state_affiliates"), 5);
    assert_eq!(metric(&text, "discovery_state_clusters_refused_total"), 2);
    assert_eq!(metric(&text, "discovery_state_affiliates_refused_total"), 1);
}

#[tokio::test]
async fn a_forged_x_real_ip_buys_no_rate_limit_buckets() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Trusting headers, but only from a proxy that is not loopback.
    for (name, extra) in [
        ("default", &[][..]),
        (
            "other-proxy",
            &["--trust-x-real-ip", "--trusted-proxy", "192.0.2.0/24"][..],
        ),
    ] {
        let mut args = vec!["--no-snapshots"];
        args.extend(extra);
        let mut service = DiscoveryService::new(dir.path(), name, &args);
        service.start();
        let mut c = client(&service).await;
        // A fresh x-real-ip on every request: with the header believed, each would have its own
        // bucket and none would ever be limited (400 of 400 were served).
        let (mut served, mut limited) = (0, 0);
        for i in 0..200u32 {
            let mut req = Request::new(hello("c", "v1"));
            let ip = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255);
            req.metadata_mut()
                .insert("x-real-ip", ip.parse().expect("value"));
            req.set_timeout(Duration::from_millis(50));
            match c.hello(req).await {
                Ok(resp) => {
                    served += 1;
                    assert_eq!(resp.into_inner().client_ip, vec![127, 0, 0, 1], "{name}");
                }
                Err(status) if status.code() == Code::ResourceExhausted => limited += 1,
                // The server's deadline ran out while the request waited for a token.
                Err(status) if status.code() == Code::Cancelled => limited += 1,
                Err(status) => panic!("{name}: {status:?}"),
            }
        }
        assert!(
            served < 120 && limited > 80,
            "{name}: served {served}, limited {limited}: the per-IP limit (burst 60, 15/s) applies"
        );
    }
}

#[tokio::test]
#[allow(clippy::await_holding_lock)] // see NOFILE
async fn silent_connections_do_not_lock_out_the_service() {
    let _one = nofile_lock();
    let dir = tempfile::tempdir().expect("tempdir");
    // Default settings (handshake timeout 10 s), so the same test runs against older binaries.
    let mut service = DiscoveryService::new(dir.path(), "silent", &["--no-snapshots"]);
    start_with_common_nofile(&mut service);
    let target = target(&service);

    // 1,100 from one source (over the per-IP cap of 256), and 1,100 from twenty others (55
    // each): together more than the 1024 file descriptors the service started with.
    let (mut attack, mut failed) = flood(target, [Ipv4Addr::new(127, 0, 0, 2)], 1100, &[]);
    let (spread, failed_spread) = flood(
        target,
        (1..=20).map(|i| Ipv4Addr::new(127, 0, 1, i)),
        55,
        &[],
    );
    attack.extend(spread);
    failed += failed_spread;

    // A real client is served while every one of them is open.
    let mut c = client_from(&service, Ipv4Addr::new(127, 0, 0, 3)).await;
    let resp = tokio::time::timeout(ANSWER, c.hello(hello("c", "v1")))
        .await
        .expect("hello in time")
        .expect("hello during the flood");
    assert_eq!(resp.into_inner().client_ip, vec![127, 0, 0, 3]);
    c.affiliate_update(update("c", "a", b"d", &[]))
        .await
        .expect("update during the flood");
    assert_eq!(list(&mut c, "c").await.len(), 1);

    // The service closes every silent connection by itself: over the per-IP cap at once, the
    // others at the handshake deadline.
    let deadline = Instant::now() + DEADLINE;
    let opened = attack.len();
    let still_open = attack
        .iter()
        .filter(|conn| !closed_by_server(conn, deadline))
        .count();
    let log = service.log_text();
    assert_eq!(
        still_open, 0,
        "{still_open} of {opened} silent connections still open ({failed} connects failed); log: {log}"
    );
    drop(attack);
    // Over the per-IP cap: 844 if the flood took less than the handshake timeout; fewer when the
    // deadline closed early ones while it went on, making room.
    let text = metrics_text(&service);
    assert!(
        metric(
            &text,
            "discovery_server_connections_refused_total{cap=\"per_ip\"}"
        ) >= 300,
        "{text}"
    );
    assert!(
        metric(
            &text,
            "discovery_server_connections_closed_total{reason=\"handshake_timeout\"}"
        ) >= 1300,
        "{text}"
    );
    assert!(
        log.contains("raised the soft RLIMIT_NOFILE"),
        "the open-file limit was raised: {log}"
    );
    assert!(!log.contains("Too many open files"), "{log}");
    // One line for the refusals, not one per connection.
    assert!(
        log.matches("connection refused").count() <= 2,
        "refusals are logged once a minute: {log}"
    );
    // The client's connection made requests: it is still there and still served.
    c.hello(hello("c", "v1")).await.expect("hello after");
}

#[tokio::test]
#[allow(clippy::await_holding_lock)] // see NOFILE
async fn at_the_connection_cap_silent_connections_make_room_for_clients() {
    let _one = nofile_lock();
    let dir = tempfile::tempdir().expect("tempdir");
    // A long handshake timeout: only the cap's eviction can make room here.
    let mut service = DiscoveryService::new(
        dir.path(),
        "cap",
        &[
            "--no-snapshots",
            "--max-connections",
            "200",
            "--handshake-timeout",
            "10m",
        ],
    );
    service.start();
    let target = target(&service);
    let (attack, _) = flood(
        target,
        (1..=20).map(|i| Ipv4Addr::new(127, 0, 2, i)),
        20,
        &[],
    );
    // 400 silent connections against a cap of 200: the oldest made room for the newest.
    let deadline = Instant::now() + DEADLINE;
    let evicted = attack[..200]
        .iter()
        .filter(|conn| closed_by_server(conn, deadline))
        .count();
    assert_eq!(evicted, 200, "the oldest 200 were closed to make room");
    // A client still gets in (closing the oldest silent one) and is served.
    let mut c = client_from(&service, Ipv4Addr::new(127, 0, 0, 3)).await;
    tokio::time::timeout(ANSWER, c.hello(hello("c", "v1")))
        .await
        .expect("in time")
        .expect("hello at the cap");
    let text = metrics_text(&service);
    assert!(
        metric(
            &text,
            "discovery_server_connections_closed_total{reason=\"evicted\"}"
        ) >= 201,
        "{text}"
    );
    assert_eq!(metric(&text, "discovery_server_connections"), 200);
}

#[tokio::test]
#[allow(clippy::await_holding_lock)] // see NOFILE
async fn half_open_tls_handshakes_are_closed_and_clients_served() {
    let _one = nofile_lock();
    let dir = tempfile::tempdir().expect("tempdir");
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_pem = issued.cert.pem();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &cert_pem).expect("cert");
    std::fs::write(&key, issued.signing_key.serialize_pem()).expect("key");
    let mut service = DiscoveryService::new(
        dir.path(),
        "tls",
        &[
            "--no-snapshots",
            "--tls-cert",
            cert.to_str().expect("utf8"),
            "--tls-key",
            key.to_str().expect("utf8"),
        ],
    );
    start_with_common_nofile(&mut service);
    let target = target(&service);
    let (attack, failed) = flood(
        target,
        (1..=20).map(|i| Ipv4Addr::new(127, 0, 3, i)),
        55,
        &PARTIAL_CLIENT_HELLO,
    );
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://127.0.0.1:{}", service.port))
        .expect("uri")
        .local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3))))
        .tls_config(tls)
        .expect("tls")
        .connect_timeout(ANSWER)
        .connect()
        .await
        .expect("TLS connect during the flood");
    tokio::time::timeout(ANSWER, ClusterClient::new(channel).hello(hello("c", "v1")))
        .await
        .expect("in time")
        .expect("hello over TLS during the flood");
    let deadline = Instant::now() + DEADLINE;
    let still_open = attack
        .iter()
        .filter(|conn| !closed_by_server(conn, deadline))
        .count();
    assert_eq!(
        still_open,
        0,
        "{still_open} of {} half-open TLS connections still open ({failed} connects failed): {}",
        attack.len(),
        service.log_text()
    );
}

/// Fills `cluster` with the largest legal cluster: 1024 affiliates with 256-byte ids, 2048 bytes
/// of data and 64 endpoints of 32 bytes each (a 4.4 MiB snapshot).
async fn fill_largest_cluster(c: &ClusterClient<Channel>, cluster: &str) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8usize {
        let mut c = c.clone();
        let cluster = cluster.to_owned();
        tasks.spawn(async move {
            for i in (worker..MAX_AFFILIATES).step_by(8) {
                let id = format!("{i:0>MAX_ID$}");
                let endpoints: Vec<Vec<u8>> = (0..MAX_ENDPOINTS)
                    .map(|e| {
                        let mut blob = vec![e as u8; MAX_ENDPOINT];
                        blob[..8].copy_from_slice(&(i as u64).to_be_bytes());
                        blob
                    })
                    .collect();
                c.affiliate_update(update(&cluster, &id, &[0xa5; MAX_DATA], &endpoints))
                    .await
                    .expect("an affiliate at every limit");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("filler");
    }
}

/// Opens `count` watches of `cluster` that are never read, from `sources` in turn, each on its
/// own connection with small HTTP/2 windows (so this process buffers little of what it does not
/// read). Returns the open streams and the statuses of the refused ones.
async fn unread_watches(
    service: &DiscoveryService,
    cluster: &str,
    sources: &[Ipv4Addr],
    count: usize,
) -> (Vec<tonic::Streaming<WatchResponse>>, Vec<Status>) {
    let (mut open, mut refused) = (Vec::new(), Vec::new());
    for i in 0..count {
        let channel = Endpoint::from_shared(service.url())
            .expect("url")
            .local_address(Some(IpAddr::V4(sources[i % sources.len()])))
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await
            .expect("connect");
        let mut c = ClusterClient::new(channel).max_decoding_message_size(BIG_DECODE);
        let watch = tokio::time::timeout(
            ANSWER,
            c.watch(WatchRequest {
                cluster_id: cluster.to_owned(),
            }),
        )
        .await
        .expect("an answer in time");
        match watch {
            Ok(stream) => open.push(stream.into_inner()),
            Err(status) => refused.push(status),
        }
    }
    (open, refused)
}

#[tokio::test]
#[allow(clippy::await_holding_lock)] // see NOFILE
async fn unread_watches_of_the_largest_cluster_hold_bounded_memory() {
    let _one = nofile_lock();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(
        dir.path(),
        "unread",
        &[
            "--no-snapshots",
            "--rate-limit",
            "off",
            "--send-timeout",
            "15s",
        ],
    );
    service.start();
    let pid = service.pid().expect("running");
    let reader = client(&service).await;
    fill_largest_cluster(&reader, "big").await;

    // The largest legal cluster is served whole, to List and to Watch (over 4 MiB).
    let mut reader = client(&service).await;
    assert_eq!(list(&mut reader, "big").await.len(), MAX_AFFILIATES);
    let mut watch = reader
        .watch(WatchRequest {
            cluster_id: "big".to_owned(),
        })
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(
        next(&mut watch).await.expect("snapshot").affiliates.len(),
        MAX_AFFILIATES
    );
    drop(watch);
    let baseline = rss_mib(pid);

    // 200 watches that are never read, from 20 addresses: before, each made the service hold its
    // own encoded 4.4 MiB snapshot (200 held 852 MB, and kept it after they were cancelled).
    let sources: Vec<Ipv4Addr> = (1..=20).map(|i| Ipv4Addr::new(127, 0, 4, i)).collect();
    let (open, refused) = unread_watches(&service, "big", &sources, 200).await;
    let peak = rss_mib(pid);
    assert!(
        open.len() <= 16 && refused.len() >= 184,
        "the reply budget (64 MiB, 16 MiB per address) took {} and refused {}",
        open.len(),
        refused.len()
    );
    for status in &refused {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("not taken yet"), "{status:?}");
    }
    assert!(
        peak < baseline + 160,
        "RSS went from {baseline} MiB to {peak} MiB with {} unread watches",
        open.len()
    );

    // The service cuts the connections whose client does not take its snapshot (--send-timeout)
    // and frees what they held: the budget is whole again, and a reader is served.
    let held = open.len() as u64;
    wait_until("the unread watches to be cut", || {
        let text = metrics_text(&service);
        (metric(
            &text,
            "discovery_server_connections_closed_total{reason=\"send_timeout\"}",
        ) >= held
            && metric(&text, "discovery_server_pending_reply_bytes") == 0)
            .then_some(())
    });
    let mut watch = reader
        .watch(WatchRequest {
            cluster_id: "big".to_owned(),
        })
        .await
        .expect("watch after the cut")
        .into_inner();
    assert_eq!(
        next(&mut watch).await.expect("snapshot").affiliates.len(),
        MAX_AFFILIATES
    );
    drop(watch);
    drop(open);

    // A second round: the memory of the first was given back or is reused, not added to.
    let (open, _) = unread_watches(&service, "big", &sources, 200).await;
    let again = rss_mib(pid);
    assert!(
        again < baseline + 160,
        "RSS {again} MiB after a second round (baseline {baseline} MiB, first round {peak} MiB)"
    );
    drop(open);
    let text = metrics_text(&service);
    assert!(metric(&text, "discovery_server_replies_refused_total") >= 368);

    // Watchers that read their snapshot and stay open (as every node does): each used to keep
    // its snapshot's encoding buffer (4.4 MiB) for as long as it stayed open.
    let mut readers = Vec::new();
    for _ in 0..60 {
        let mut c = client(&service).await;
        let mut watch = c
            .watch(WatchRequest {
                cluster_id: "big".to_owned(),
            })
            .await
            .expect("watch")
            .into_inner();
        assert_eq!(
            next(&mut watch).await.expect("snapshot").affiliates.len(),
            MAX_AFFILIATES
        );
        readers.push((c, watch));
    }
    let open_readers = rss_mib(pid);
    assert!(
        open_readers < baseline + 160,
        "RSS {open_readers} MiB with 60 open watches of the largest cluster (baseline {baseline} MiB)"
    );
    assert_eq!(
        metric(&metrics_text(&service), "discovery_state_subscriptions"),
        60
    );
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_closed_with_a_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "behind", &["--no-snapshots"]);
    service.start();
    // A watcher whose HTTP/2 window holds two changes: while it does not read, the service
    // buffers at most 32 more, then gives up on it.
    let channel = Endpoint::from_shared(service.url())
        .expect("url")
        .initial_stream_window_size(1024)
        .connect()
        .await
        .expect("connect");
    let mut slow = ClusterClient::new(channel);
    let mut watch = slow
        .watch(WatchRequest {
            cluster_id: "c".to_owned(),
        })
        .await
        .expect("watch")
        .into_inner();
    assert!(
        next(&mut watch)
            .await
            .expect("snapshot")
            .affiliates
            .is_empty()
    );
    let mut writer = client(&service).await;
    for i in 0..50u32 {
        writer
            .affiliate_update(update("c", "a", format!("{i:0>300}").as_bytes(), &[]))
            .await
            .expect("update");
    }
    let status = loop {
        match next(&mut watch).await {
            Ok(_) => continue,
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("watch fell behind"), "{status:?}");
    let text = metrics_text(&service);
    assert_eq!(
        metric(&text, "discovery_server_watches_fell_behind_total"),
        1
    );
    assert_eq!(metric(&text, "discovery_state_subscriptions"), 0);
}

#[tokio::test]
async fn leftover_temp_files_are_removed_and_a_truncated_snapshot_keeps_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "snap", &[]);
    service.start();
    let mut c = client(&service).await;
    for cluster in ["c1", "c2", "c3"] {
        for id in ["a", "b", "c", "d"] {
            c.affiliate_update(update(
                cluster,
                id,
                format!("{cluster}/{id}").as_bytes(),
                &[],
            ))
            .await
            .expect("update");
        }
    }
    drop(c);
    let mut service = stop(service).await;
    // The disk filled up while the last record was written: the file is cut short.
    let mut bytes = std::fs::read(&service.snapshot).expect("snapshot");
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&service.snapshot, &bytes).expect("truncate");
    // And earlier crashes mid-write left their temporary files (they used to pile up: 112 MB).
    let leftovers: Vec<_> = ["0123456789abcdef", "fedcba9876543210"]
        .iter()
        .map(|nonce| dir.path().join(format!(".snap.binpb.4242.{nonce}.tmp")))
        .collect();
    for path in &leftovers {
        std::fs::write(path, vec![0u8; 1 << 20]).expect("leftover");
    }

    service.start();
    let mut c = client(&service).await;
    let mut kept = 0;
    for cluster in ["c1", "c2", "c3"] {
        let n = list(&mut c, cluster).await.len();
        assert!(
            n == 0 || n == 4,
            "a cluster comes back whole or not at all: {n}"
        );
        kept += n;
    }
    assert_eq!(kept, 8, "the two complete records before the cut are kept");
    let log = service.log_text();
    assert!(
        log.contains("kept every complete record") && log.contains("recovered_affiliates=8"),
        "{log}"
    );
    for path in &leftovers {
        assert!(!path.exists(), "{} removed", path.display());
    }
    assert!(
        log.contains("removed temporary files of interrupted snapshot writes"),
        "{log}"
    );
    // The damaged file is kept aside for inspection.
    let aside = std::fs::read_dir(dir.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("snap.binpb.corrupt-")
        })
        .count();
    assert_eq!(aside, 1);
}

#[tokio::test]
async fn control_bytes_in_client_version_never_reach_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "labels", &["--no-snapshots"]);
    service.start();
    let mut c = client(&service).await;
    for version in ["v1\0evil", "v1\r\n# TYPE injected counter", "v1.9.0"] {
        c.hello(hello("c", version)).await.expect("hello");
    }
    let text = metrics_text(&service);
    let (_, body) = text.split_once("\r\n\r\n").expect("HTTP head and body");
    assert!(!body.contains('\0') && !body.contains('\r'), "{body:?}");
    assert!(
        !body.contains("evil") && !body.contains("injected"),
        "{body}"
    );
    assert_eq!(
        metric(
            &text,
            "discovery_server_hello_requests_total{client_version=\"other\"}"
        ),
        2
    );
    assert_eq!(
        metric(
            &text,
            "discovery_server_hello_requests_total{client_version=\"v1.9.0\"}"
        ),
        1
    );
}
