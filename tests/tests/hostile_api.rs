//! The node API against hostile clients, each attack run against a real weftd on loopback:
//! - lockout by idle connections: 1,400 silent TCP and half-sent TLS connections from many source
//!   addresses, with weftd started under the common soft open-file limit of 1024 — `weftctl get`
//!   still answers, and weftd closes every silent connection by itself (handshake deadline);
//! - out of file descriptors (its limit lowered under it): `accept` fails, weftd backs off with
//!   one warning instead of spinning, and serves again once descriptors free up;
//! - configs that cost quadratic time: 1 MB of nested brackets sent as `apply-config --dry-run`
//!   from four clients at once is refused at once, naming the place and the limit, while
//!   `weftctl get` keeps answering;
//! - a config over the 1 MiB file limit sent over the API is refused (ResourceExhausted);
//! - a KubeSpan identity file readable by others is made private at start, with a warning.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use tonic::Code;
use weft_api::config::MAX_CONFIG_FILE_BYTES;
use weft_api::config::client::ClientConfig;
use weft_api::proto::machine::ApplyConfigurationRequest;
use weft_api::proto::machine::machine_service_client::MachineServiceClient;
use weft_e2e::flood::{closed_by_server, connect_from};
use weft_e2e::{Cluster, DEADLINE, Node, ok, wait_until};

/// The soft open-file limit most systems start processes with.
const COMMON_NOFILE: u64 = 1024;
/// Silent connections opened from 20 source addresses, 55 each: under the per-source cap each,
/// over the global cap together.
const SPREAD_SOURCES: u8 = 20;
const SPREAD_PER_SOURCE: usize = 55;
/// Silent connections from one more source address: over the per-source cap (128).
const ONE_SOURCE: usize = 300;
/// The first bytes of a TLS ClientHello whose record announces 512 bytes: the server waits for
/// the rest, which never comes.
const PARTIAL_CLIENT_HELLO: [u8; 11] = [
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// Serialises the moments this process runs with a lowered open-file limit.
static NOFILE: Mutex<()> = Mutex::new(());

/// Starts `node` with the soft open-file limit at [`COMMON_NOFILE`] (what weftd gets from a
/// default systemd unit or shell), whatever this process has; waits until it serves.
fn start_with_common_nofile(node: &mut Node, cluster: &Cluster) {
    {
        let _one = NOFILE.lock().unwrap_or_else(|e| e.into_inner());
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        setrlimit(Resource::RLIMIT_NOFILE, COMMON_NOFILE.min(hard), hard).expect("lower");
        node.spawn(&[]);
        setrlimit(Resource::RLIMIT_NOFILE, soft, hard).expect("restore");
    }
    let addr = node.addr();
    wait_until(&format!("{} to serve its API", node.name), || {
        if let Some(status) = node.try_exit() {
            panic!("{} exited with {status}: {}", node.name, node.log_text());
        }
        cluster
            .weftctl(&["-n", &addr, "get", "identities"])
            .status
            .success()
            .then_some(())
    });
}

/// Raises this process's soft open-file limit to its hard limit (the attack needs ~1,500).
fn raise_own_nofile() {
    let _one = NOFILE.lock().unwrap_or_else(|e| e.into_inner());
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise");
}

#[test]
fn silent_connections_do_not_lock_out_the_node_api() {
    let cluster = Cluster::new();
    let mut node = cluster.node("a", true);
    start_with_common_nofile(&mut node, &cluster);
    raise_own_nofile();
    let addr = node.addr();
    let target: SocketAddr = addr.parse().expect("node address");

    // The flood: silent connections and half-sent ClientHellos, from 21 source addresses.
    let mut attack = Vec::new();
    let mut failed_connects = 0;
    let sources = (1..=SPREAD_SOURCES)
        .flat_map(|i| std::iter::repeat_n(Ipv4Addr::new(127, 0, 1, i), SPREAD_PER_SOURCE))
        .chain(std::iter::repeat_n(Ipv4Addr::new(127, 0, 0, 2), ONE_SOURCE));
    for (i, source) in sources.enumerate() {
        match connect_from(source, target) {
            Ok(mut conn) => {
                if i % 4 == 0 {
                    let _ = conn.write_all(&PARTIAL_CLIENT_HELLO);
                }
                attack.push(conn);
            }
            // A server that stopped accepting has filled its backlog: it is locked out already.
            Err(_) => {
                failed_connects += 1;
                break;
            }
        }
    }
    let opened = attack.len();

    // While the flood is open, an authenticated client is still served.
    let out = weftctl_within(&cluster, &["-n", &addr, "get", "identities"], DEADLINE)
        .expect("weftctl get finished during the flood");
    ok(&out, "weftctl get during the flood");

    // weftd closes every silent connection by itself: the ones it made room with at once, the
    // others at the handshake deadline.
    let deadline = Instant::now() + DEADLINE;
    let still_open = attack
        .iter()
        .filter(|conn| !closed_by_server(conn, deadline))
        .count();
    assert_eq!(
        still_open,
        0,
        "{still_open} of {opened} silent connections still open ({failed_connects} connects failed); log: {}",
        node.log_text()
    );
    drop(attack);
    ok(
        &cluster.weftctl(&["-n", &addr, "get", "identities"]),
        "weftctl get after the flood",
    );
    let log = node.log_text();
    assert!(
        !log.contains("Too many open files"),
        "weftd ran out of file descriptors: {log}"
    );
    assert!(node.try_exit().is_none(), "weftd is still running");
}

/// CPU time (user + system) `pid` has used, from `/proc/<pid>/stat` (clock ticks of 10 ms).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) in parentheses; utime and stime are
    // fields 14 and 15 of the whole line, 12 and 13 after it.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse().expect("ticks"))
        .collect();
    Duration::from_millis((fields[0] + fields[1]) * 10)
}

/// weftd out of file descriptors (its limit lowered under it, so raising at start cannot help):
/// `accept` fails with EMFILE. weftd backs off instead of spinning — one warning line, little
/// CPU — and serves again once the silent connections it holds reach their handshake deadline.
#[test]
fn accept_errors_back_off_with_one_line_and_recover() {
    /// The flood: more connections than the descriptors left.
    const FLOOD: usize = 100;
    /// Descriptors weftd may open beyond those it has when its limit is lowered.
    const SPARE_FDS: usize = 20;
    if !weft_e2e::tools_present(
        "accept_errors_back_off_with_one_line_and_recover",
        &[("prlimit", "util-linux")],
    ) {
        return;
    }
    let cluster = Cluster::new();
    let mut node = cluster.node("a", false);
    node.start(&cluster);
    raise_own_nofile();
    let pid = node.pid().expect("running");
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    let limit = (open + SPARE_FDS).to_string();
    let status = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit");
    assert!(status.success(), "prlimit");

    let target: SocketAddr = node.addr().parse().expect("node address");
    let flood: Vec<TcpStream> = (0..FLOOD)
        .filter_map(|_| connect_from(Ipv4Addr::LOCALHOST, target).ok())
        .collect();
    let failing = "accepting node API connections failed";
    wait_until("weftd to report failing accepts", || {
        node.log_text().contains(failing).then_some(())
    });
    // Out of descriptors for a while: it waits, it does not spin.
    let window = Duration::from_secs(4);
    let before = cpu_time(pid);
    std::thread::sleep(window);
    let used = cpu_time(pid) - before;
    assert!(
        used < window / 2,
        "weftd used {used:?} of CPU in {window:?} while accept failed"
    );
    drop(flood);
    // The silent connections it took reach their deadline, descriptors free up, it serves again
    // (and says so at the first connection after a quiet moment).
    let recovered = "accepting node API connections again";
    let addr = node.addr();
    wait_until(
        "weftctl get to be served again, and weftd to say so",
        || {
            let served = cluster
                .weftctl(&["-n", &addr, "get", "identities"])
                .status
                .success();
            (served && node.log_text().contains(recovered)).then_some(())
        },
    );
    let log = node.log_text();
    assert_eq!(
        log.matches(failing).count(),
        1,
        "one line for the streak of failures: {log}"
    );
}

/// `weftctl args` with the cluster's client config, killed if it has not finished within
/// `limit` (None then): weftctl's own `--timeout` does not bound a TLS handshake that never ends.
fn weftctl_within(cluster: &Cluster, args: &[&str], limit: Duration) -> Option<Output> {
    let mut child = Command::new(weft_e2e::bin("weftctl"))
        .args(args)
        .env("WEFTCONFIG", &cluster.weftconfig)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run weftctl");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(child.wait_with_output().expect("output"))
}

/// A current-thread runtime for the tonic calls of a test.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A machine service client with the cluster's admin credentials.
async fn machine_client(
    cluster: &Cluster,
    node: &Node,
) -> MachineServiceClient<tonic::transport::Channel> {
    let cfg = ClientConfig::load_or_default(&cluster.weftconfig).expect("client config");
    let ctx = &cfg.contexts[&cfg.context];
    let pem = |what: &'static str, v: &str| weft_api::pki::decode_pem(what, v).expect("pem");
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(pem("ca", &ctx.ca)))
        .identity(tonic::transport::Identity::from_pem(
            pem("crt", &ctx.crt),
            pem("key", &ctx.key),
        ))
        .domain_name("127.0.0.1");
    let endpoint = tonic::transport::Endpoint::from_shared(format!("https://{}", node.addr()))
        .expect("endpoint")
        .tls_config(tls)
        .expect("tls");
    // tonic's connect timeout bounds only the TCP connect, not the TLS handshake.
    let channel = tokio::time::timeout(Duration::from_secs(10), endpoint.connect())
        .await
        .expect("connected to the node API within 10 s")
        .expect("connect");
    MachineServiceClient::new(channel)
}

/// `apply-config --dry-run` of `text`, bounded by `limit`: the status, or None on timeout.
async fn dry_run(
    client: &mut MachineServiceClient<tonic::transport::Channel>,
    text: &str,
    limit: Duration,
) -> Option<Result<String, tonic::Status>> {
    let call = client.apply_configuration(ApplyConfigurationRequest {
        data: text.as_bytes().to_vec(),
        dry_run: true,
    });
    tokio::time::timeout(limit, call)
        .await
        .ok()
        .map(|r| r.map(|reply| reply.into_inner().message))
}

#[test]
fn deeply_nested_configs_are_refused_at_once_and_the_api_keeps_answering() {
    /// `weftctl get` calls that must succeed while the senders keep sending.
    const GETS: usize = 5;
    let cluster = Cluster::new();
    let mut node = cluster.node("a", false);
    node.start(&cluster);
    let base = std::fs::read_to_string(&node.config).expect("node config");
    // A valid config plus ~1 MB of nested brackets: the parser would take minutes on it.
    let depth = (MAX_CONFIG_FILE_BYTES as usize - base.len() - 64) / 2;
    let deep = format!(
        "{base}\nextra: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(deep.len() as u64 <= MAX_CONFIG_FILE_BYTES);
    let deep_line = base.lines().count() + 2;

    let addr = node.addr();
    let done = std::sync::atomic::AtomicBool::new(false);
    let getter = std::thread::scope(|scope| {
        let getter = scope.spawn(|| {
            let limit = Duration::from_secs(30);
            let results: Vec<_> = (0..GETS)
                .map(|_| weftctl_within(&cluster, &["-n", &addr, "get", "machineconfigs"], limit))
                .collect();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            results
        });
        let outcomes = runtime().block_on(async {
            let send = || async {
                let mut client = machine_client(&cluster, &node).await;
                let mut seen = Vec::new();
                // Keep sending while the getter works (at least once each).
                loop {
                    seen.push(dry_run(&mut client, &deep, Duration::from_secs(30)).await);
                    if done.load(std::sync::atomic::Ordering::SeqCst)
                        || seen.len() >= 200
                        || seen.last().is_some_and(Option::is_none)
                    {
                        return seen;
                    }
                }
            };
            let (a, b, c, d) = tokio::join!(send(), send(), send(), send());
            [a, b, c, d]
        });
        for (i, seen) in outcomes.iter().enumerate() {
            for outcome in seen {
                let status = match outcome {
                    None => panic!("sender {i}: no answer within 30 s"),
                    Some(Ok(message)) => panic!("sender {i}: accepted: {message}"),
                    Some(Err(status)) => status,
                };
                assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
                assert_eq!(
                    status.message(),
                    format!(
                        "applied config:{deep_line}:39: YAML nested more than 32 levels deep under extra, in a flow collection (the limit for a config), refused before parsing"
                    )
                );
            }
        }
        getter.join().expect("getter")
    });
    for out in &getter {
        let out = out
            .as_ref()
            .expect("weftctl get answered within 30 s while deep configs were being sent");
        ok(out, "weftctl get while deep configs are being sent");
    }
    assert!(node.try_exit().is_none(), "weftd is still running");
}

#[test]
fn configs_over_the_size_limit_are_refused_over_the_api() {
    let cluster = Cluster::new();
    let mut node = cluster.node("a", false);
    node.start(&cluster);
    let base = std::fs::read_to_string(&node.config).expect("node config");
    let limit = MAX_CONFIG_FILE_BYTES as usize;
    // A valid config padded with comment lines to `size` bytes.
    let padded = |size: usize| {
        let mut text = base.clone();
        while text.len() + 81 <= size {
            text.push_str(&format!("#{}\n", "x".repeat(79)));
        }
        text.push('#');
        text.push_str(&"x".repeat(size - text.len()));
        assert_eq!(text.len(), size);
        text
    };
    runtime().block_on(async {
        let mut client = machine_client(&cluster, &node).await;
        let wait = Duration::from_secs(30);
        // Exactly at the limit: valid.
        let at_limit = dry_run(&mut client, &padded(limit), wait).await;
        assert!(
            matches!(&at_limit, Some(Ok(m)) if m.starts_with("Dry run: the config is valid")),
            "{at_limit:?}"
        );
        for size in [limit + 1, 3_900_000] {
            let outcome = dry_run(&mut client, &padded(size), wait).await;
            let Some(Err(status)) = outcome else {
                panic!("{size} bytes: {outcome:?}");
            };
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            assert_eq!(
                status.message(),
                format!(
                    "the config is {size} bytes, over the limit of {limit} bytes for a machine config"
                )
            );
        }
    });
    // Nothing was applied: the node still runs its own config file.
    assert_eq!(
        std::fs::read_to_string(&node.config).expect("node config"),
        base
    );
}

#[test]
fn a_kubespan_identity_readable_by_others_is_made_private_at_start() {
    use std::os::unix::fs::PermissionsExt as _;
    let cluster = Cluster::new();
    let mut node = cluster.node("a", true);
    node.start(&cluster);
    let public_key = cluster.kubespan_public_key(&node);
    assert!(node.stop().success(), "{}", node.log_text());
    let file = node.state_dir.join("kubespan-identity.yaml");
    let mode =
        |f: &std::path::Path| std::fs::metadata(f).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600);
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    node.start(&cluster);
    assert_eq!(mode(&file), 0o600, "tightened");
    let log = node.log_text();
    assert!(
        log.contains("the KubeSpan identity file was readable by others; made it private")
            && log.contains("was=\"644\""),
        "a warning names what happened: {log}"
    );
    // Same key: the file was only tightened.
    assert_eq!(cluster.kubespan_public_key(&node), public_key);
}
