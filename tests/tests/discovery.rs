//! weft-discovery end to end: the real binary on loopback, driven by a real tonic client of
//! `sidero.discovery.server.Cluster` — Hello and the client IP, updates, lists, watches and
//! deletes, every limit with its status code while other clients keep being served, snapshots
//! across a SIGTERM and restart (and that they hold no plaintext), corrupt snapshots, TLS, and the
//! metrics endpoint.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use aes_gcm::aead::Aead as _;
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::{BlockCipherEncrypt as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use tonic::transport::Channel;
use tonic::{Code, Request};
use weft_api::proto::discovery::server::cluster_client::ClusterClient;
use weft_api::proto::discovery::server::{
    Affiliate, AffiliateDeleteRequest, AffiliateUpdateRequest, HelloRequest, ListRequest,
    WatchRequest, WatchResponse,
};
use weft_e2e::DiscoveryService;

/// How long a test waits for one watch message.
const WATCH_WAIT: Duration = Duration::from_secs(10);
/// The TTL Talos sends.
const TTL_SECS: i64 = 1800;

async fn client(service: &DiscoveryService) -> ClusterClient<Channel> {
    ClusterClient::connect(service.url())
        .await
        .expect("connect to weft-discovery")
}

/// An AffiliateUpdate. The TTL's type (`prost_types::Duration`) is filled through the field so
/// this crate needs no direct prost dependency.
fn update(
    cluster: &str,
    id: &str,
    data: &[u8],
    endpoints: &[Vec<u8>],
    ttl_secs: i64,
) -> AffiliateUpdateRequest {
    let mut req = AffiliateUpdateRequest {
        cluster_id: cluster.to_owned(),
        affiliate_id: id.to_owned(),
        owner_token: Vec::new(),
        affiliate_data: (!data.is_empty()).then(|| data.to_vec()),
        affiliate_endpoints: endpoints.to_vec(),
        ttl: Some(Default::default()),
    };
    if let Some(ttl) = req.ttl.as_mut() {
        ttl.seconds = ttl_secs;
    }
    req
}

/// Flags that make the service believe `x-real-ip` from loopback (a proxy on the same host), so
/// that [`from_ip`] works. Off by default: the headers are believed only from configured proxies.
const TRUST_LOOPBACK: [&str; 3] = ["--trust-x-real-ip", "--trusted-proxy", "127.0.0.0/8"];

/// A request that claims to come from `ip` (x-real-ip, believed with [`TRUST_LOOPBACK`]), so
/// tests can act as many clients — each with its own rate-limit bucket — from one loopback
/// address.
fn from_ip<T>(ip: &str, message: T) -> Request<T> {
    let mut req = Request::new(message);
    req.metadata_mut()
        .insert("x-real-ip", ip.parse().expect("metadata value"));
    req
}

fn sorted(mut affiliates: Vec<Affiliate>) -> Vec<Affiliate> {
    affiliates.sort_by(|a, b| a.id.cmp(&b.id));
    affiliates
}

async fn list(client: &mut ClusterClient<Channel>, cluster: &str) -> Vec<Affiliate> {
    let resp = client
        .list(ListRequest {
            cluster_id: cluster.to_owned(),
        })
        .await
        .expect("list");
    sorted(resp.into_inner().affiliates)
}

async fn next(stream: &mut tonic::Streaming<WatchResponse>) -> WatchResponse {
    tokio::time::timeout(WATCH_WAIT, stream.message())
        .await
        .expect("a watch message in time")
        .expect("watch stream healthy")
        .expect("watch stream open")
}

/// SIGTERM and wait for the exit from a blocking thread, so this runtime keeps driving the
/// test's client connections: the server's graceful HTTP/2 shutdown waits for each connection to
/// acknowledge it (up to its grace period).
async fn stop(mut service: DiscoveryService) -> (std::process::ExitStatus, DiscoveryService) {
    tokio::task::spawn_blocking(move || {
        let status = service.stop();
        (status, service)
    })
    .await
    .expect("stop")
}

fn hello(cluster: &str) -> HelloRequest {
    HelloRequest {
        cluster_id: cluster.to_owned(),
        client_version: "v1.9.0-e2e".to_owned(),
    }
}

#[tokio::test]
async fn hello_reports_the_client_ip_as_seen_by_the_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(
        dir.path(),
        "trusting",
        &[
            "--no-snapshots",
            "--trust-x-real-ip",
            "--trust-x-forwarded-for",
            "--trusted-proxy",
            "127.0.0.1",
        ],
    );
    service.start();
    let mut c = client(&service).await;
    let resp = c.hello(hello("cluster")).await.expect("hello").into_inner();
    assert_eq!(resp.client_ip, vec![127, 0, 0, 1]);
    assert!(resp.redirect.is_none());
    let resp = c
        .hello(from_ip("203.0.113.5", hello("cluster")))
        .await
        .expect("hello")
        .into_inner();
    assert_eq!(resp.client_ip, vec![203, 0, 113, 5]);
    // x-forwarded-for: the last entry that is not a trusted proxy.
    let mut req = Request::new(hello("cluster"));
    req.metadata_mut().insert(
        "x-forwarded-for",
        "2001:db8::7, 127.0.0.1".parse().expect("value"),
    );
    let resp = c.hello(req).await.expect("hello").into_inner();
    let mut want = vec![0x20, 0x01, 0x0d, 0xb8];
    want.extend_from_slice(&[0; 11]);
    want.push(7);
    assert_eq!(resp.client_ip, want, "16 bytes for IPv6");

    // Headers not trusted (the default): the TCP peer; the redirect is returned to everyone.
    let mut strict = DiscoveryService::new(
        dir.path(),
        "strict",
        &[
            "--no-snapshots",
            "--redirect-endpoint",
            "discovery.example.org:443",
        ],
    );
    strict.start();
    let mut c = client(&strict).await;
    let resp = c
        .hello(from_ip("203.0.113.5", hello("cluster")))
        .await
        .expect("hello")
        .into_inner();
    assert_eq!(resp.client_ip, vec![127, 0, 0, 1]);
    assert_eq!(
        resp.redirect.map(|r| r.endpoint).as_deref(),
        Some("discovery.example.org:443")
    );
}

#[tokio::test]
async fn update_list_watch_and_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "svc", &["--no-snapshots"]);
    service.start();
    let mut c = client(&service).await;
    let mut watch = c
        .watch(WatchRequest {
            cluster_id: "c1".to_owned(),
        })
        .await
        .expect("watch")
        .into_inner();
    let first = next(&mut watch).await;
    assert!(
        first.affiliates.is_empty() && !first.deleted,
        "empty snapshot first"
    );

    let e1 = vec![1u8; 16];
    let e2 = vec![2u8; 32];
    c.affiliate_update(update(
        "c1",
        "node-a",
        b"data-a1",
        std::slice::from_ref(&e1),
        TTL_SECS,
    ))
    .await
    .expect("update");
    let msg = next(&mut watch).await;
    assert!(!msg.deleted);
    assert_eq!(
        msg.affiliates,
        vec![Affiliate {
            id: "node-a".to_owned(),
            data: b"data-a1".to_vec(),
            endpoints: vec![e1.clone()],
        }]
    );
    // Endpoint-only update: data kept, endpoints merged.
    c.affiliate_update(update(
        "c1",
        "node-a",
        b"",
        &[e2.clone(), e1.clone()],
        TTL_SECS,
    ))
    .await
    .expect("update");
    let msg = next(&mut watch).await;
    assert_eq!(msg.affiliates[0].data, b"data-a1");
    assert_eq!(msg.affiliates[0].endpoints, vec![e1.clone(), e2.clone()]);
    c.affiliate_update(update("c1", "node-b", b"data-b", &[], TTL_SECS))
        .await
        .expect("update");
    assert_eq!(next(&mut watch).await.affiliates[0].id, "node-b");
    // Another cluster's updates are not seen by this watch.
    c.affiliate_update(update("c2", "node-z", b"z", &[], TTL_SECS))
        .await
        .expect("update");

    let listed = list(&mut c, "c1").await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, "node-a");
    assert_eq!(listed[0].endpoints, vec![e1, e2]);
    assert_eq!(list(&mut c, "c2").await.len(), 1);

    // A second watcher gets the current state as its snapshot.
    let mut late = c
        .watch(WatchRequest {
            cluster_id: "c1".to_owned(),
        })
        .await
        .expect("watch")
        .into_inner();
    assert_eq!(sorted(next(&mut late).await.affiliates), listed);

    c.affiliate_delete(AffiliateDeleteRequest {
        cluster_id: "c1".to_owned(),
        affiliate_id: "node-a".to_owned(),
        owner_token: Vec::new(),
    })
    .await
    .expect("delete");
    for stream in [&mut watch, &mut late] {
        let msg = next(stream).await;
        assert!(msg.deleted);
        assert_eq!(msg.affiliates.len(), 1);
        assert_eq!(msg.affiliates[0].id, "node-a");
    }
    assert_eq!(list(&mut c, "c1").await.len(), 1);
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, tonic::Status>, code: Code, what: &str) {
    match result {
        Err(status) => assert_eq!(status.code(), code, "{what}: {status:?}"),
        Ok(v) => panic!("{what}: expected {code:?}, got {v:?}"),
    }
}

#[tokio::test]
async fn every_limit_returns_its_code_and_other_clients_are_still_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut args = vec!["--no-snapshots"];
    args.extend(TRUST_LOOPBACK);
    let mut service = DiscoveryService::new(dir.path(), "svc", &args);
    service.start();
    let mut c = client(&service).await;
    let long = "x".repeat(257);
    let ok_id = "x".repeat(256);

    // InvalidArgument: malformed requests.
    assert_code(
        c.hello(hello("")).await,
        Code::InvalidArgument,
        "empty cluster id",
    );
    assert_code(
        c.hello(hello(&long)).await,
        Code::InvalidArgument,
        "long cluster id",
    );
    c.hello(hello(&ok_id)).await.expect("256-byte cluster id");
    let invalid = [
        ("empty affiliate id", update("c", "", b"d", &[], 60)),
        ("long affiliate id", update("c", &long, b"d", &[], 60)),
        ("long cluster id", update(&long, "a", b"d", &[], 60)),
        ("data over 2048", update("c", "a", &[7; 2049], &[], 60)),
        (
            "endpoint over 32",
            update("c", "a", b"d", &[vec![1; 33]], 60),
        ),
        ("ttl over 30 min", update("c", "a", b"d", &[], 1801)),
        ("negative ttl", update("c", "a", b"d", &[], -1)),
    ];
    for (what, req) in invalid {
        assert_code(c.affiliate_update(req).await, Code::InvalidArgument, what);
    }
    c.affiliate_update(update("c", &ok_id, &[7; 2048], &[vec![1; 32]], 1800))
        .await
        .expect("every value at its limit");
    assert_code(
        c.list(ListRequest {
            cluster_id: String::new(),
        })
        .await,
        Code::InvalidArgument,
        "list without cluster id",
    );
    assert_code(
        c.watch(WatchRequest {
            cluster_id: long.clone(),
        })
        .await,
        Code::InvalidArgument,
        "watch with a long cluster id",
    );
    assert_code(
        c.affiliate_delete(AffiliateDeleteRequest {
            cluster_id: "c".to_owned(),
            affiliate_id: long.clone(),
            owner_token: Vec::new(),
        })
        .await,
        Code::InvalidArgument,
        "delete with a long affiliate id",
    );

    // ResourceExhausted: 1024 affiliates per cluster (each request from its own IP, so the rate
    // limit stays out of the way).
    for i in 0..1024u32 {
        let ip = format!("10.1.{}.{}", i / 256, i % 256);
        c.affiliate_update(from_ip(
            &ip,
            update("full", &format!("a{i}"), b"d", &[], 600),
        ))
        .await
        .expect("within the affiliate limit");
    }
    assert_code(
        c.affiliate_update(from_ip(
            "10.2.0.1",
            update("full", "one-more", b"d", &[], 600),
        ))
        .await,
        Code::ResourceExhausted,
        "1025th affiliate",
    );
    // 64 endpoints per affiliate: a 65th is dropped, as Sidero drops what does not fit, and the
    // rest of the update goes in (the whole update used to be refused, leaving a node stuck).
    let endpoints: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 16]).collect();
    c.affiliate_update(from_ip("10.2.0.2", update("e", "a", b"d", &endpoints, 600)))
        .await
        .expect("64 endpoints");
    c.affiliate_update(from_ip(
        "10.2.0.3",
        update("e", "a", b"d2", &[vec![99; 16]], 600),
    ))
    .await
    .expect("a 65th endpoint is dropped, not the update");
    let e = list(&mut c, "e").await;
    assert_eq!(e[0].data, b"d2");
    assert_eq!(e[0].endpoints, endpoints, "the first 64, in order");
    // The full cluster and affiliate still serve reads and refreshes.
    assert_eq!(list(&mut c, "full").await.len(), 1024);
    c.affiliate_update(from_ip(
        "10.2.0.4",
        update("e", "a", b"new", &endpoints[..2], 600),
    ))
    .await
    .expect("refresh within the limits");

    // Rate limit: 60 at once, then 15/s; a request whose deadline comes before its token fails
    // at once with ResourceExhausted.
    // On a loaded machine a call may outlive its 20 ms before its token is even looked at
    // (Cancelled, by the server's timeout): it is counted apart, and may have used a token.
    let limited = "198.51.100.1";
    let (mut served, mut timed_out) = (0, 0);
    let status = loop {
        let mut req = from_ip(limited, hello("c"));
        req.set_timeout(Duration::from_millis(20));
        match c.hello(req).await {
            Ok(_) => served += 1,
            Err(status) if status.code() == Code::Cancelled => timed_out += 1,
            Err(status) => break status,
        }
        assert!(served + timed_out < 1000, "the rate limit never applied");
    };
    assert!(
        served + timed_out >= 60,
        "the burst is 60, served {served} (+{timed_out} timed out)"
    );
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(status.message(), "rate limit exceeds request timeout");
    // Another client is not refused with the same 20 ms (its bucket is its own), and the limited
    // one is served when it can wait.
    let other = (0..5)
        .map(|_| {
            let mut req = from_ip("198.51.100.2", hello("c"));
            req.set_timeout(Duration::from_millis(20));
            req
        })
        .collect::<Vec<_>>();
    let mut other_served = false;
    for req in other {
        match c.hello(req).await {
            Ok(_) => {
                other_served = true;
                break;
            }
            Err(status) if status.code() == Code::Cancelled => {}
            Err(status) => panic!("another client was refused: {status:?}"),
        }
    }
    assert!(other_served, "another client was never served");
    let mut patient = from_ip(limited, hello("c"));
    patient.set_timeout(Duration::from_secs(5));
    c.hello(patient).await.expect("waits for its token");

    let metrics = metrics_text(&service);
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("discovery_server_rate_limited_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
}

/// `GET /metrics` over a plain TCP connection.
fn metrics_text(service: &DiscoveryService) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", service.metrics_port)).expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    out
}

#[tokio::test]
async fn metrics_endpoint_exports_the_families() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "svc", &["--gc-interval", "1s"]);
    service.start();
    let mut c = client(&service).await;
    c.hello(hello("m")).await.expect("hello");
    c.affiliate_update(update("m", "a", b"d", &[vec![1; 16], vec![2; 16]], 600))
        .await
        .expect("update");
    let _watch = c
        .watch(WatchRequest {
            cluster_id: "m".to_owned(),
        })
        .await
        .expect("watch");
    // A second update reaches the watcher: one watch message.
    c.affiliate_update(update("m", "a", b"e", &[], 600))
        .await
        .expect("update");
    let text = weft_e2e::wait_until("a GC run and the watch message in the metrics", || {
        let text = metrics_text(&service);
        (!text.contains("\ndiscovery_state_gc_runs_total 0\n")
            && text.contains("\ndiscovery_server_watch_messages_total 1\n"))
        .then_some(text)
    });
    for line in [
        "discovery_state_clusters 1",
        "discovery_state_affiliates 1",
        "discovery_state_endpoints 2",
        "discovery_state_subscriptions 1",
        "discovery_server_hello_requests_total{client_version=\"v1.9.0-e2e\"} 1",
        "discovery_server_affiliate_updates_total 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
    for family in [
        "discovery_state_gc_clusters_total",
        "discovery_state_gc_affiliates_total",
        "discovery_state_gc_endpoints_total",
        "discovery_state_gc_duration_seconds",
        "discovery_storage_snapshot_writes_total",
        "discovery_storage_snapshot_write_failures_total",
        "discovery_storage_snapshot_write_duration_seconds",
        "discovery_storage_snapshot_size_bytes",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "missing {family} in\n{text}"
        );
    }
}

#[tokio::test]
async fn sigterm_writes_a_snapshot_that_a_restart_restores() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "svc", &[]);
    service.start();
    let mut c = client(&service).await;
    for (cluster, id, endpoints) in [
        ("c1", "a", vec![vec![1u8; 16]]),
        ("c1", "b", vec![vec![2u8; 16], vec![3u8; 32]]),
        ("c2", "z", vec![]),
    ] {
        c.affiliate_update(update(
            cluster,
            id,
            format!("{cluster}/{id}").as_bytes(),
            &endpoints,
            600,
        ))
        .await
        .expect("update");
    }
    let before = (list(&mut c, "c1").await, list(&mut c, "c2").await);
    // An open watch must not hold up the shutdown.
    let mut watch = c
        .watch(WatchRequest {
            cluster_id: "c1".to_owned(),
        })
        .await
        .expect("watch")
        .into_inner();
    next(&mut watch).await;
    drop(c);
    let (status, mut service) = stop(service).await;
    // Held up, the service would wait out its grace period and say so.
    assert!(
        !service
            .log_text()
            .contains("still open after the grace period"),
        "an open watch held up the shutdown: {}",
        service.log_text()
    );
    assert!(
        status.success(),
        "clean exit: {status}: {}",
        service.log_text()
    );
    assert!(
        tokio::time::timeout(WATCH_WAIT, watch.message())
            .await
            .expect("the watch ends")
            .map_or(true, |m| m.is_none()),
        "the watch ends cleanly or with the connection"
    );
    assert!(service.snapshot.exists(), "{}", service.log_text());

    service.start();
    let mut c = client(&service).await;
    let after = (list(&mut c, "c1").await, list(&mut c, "c2").await);
    assert_eq!(after, before);
    assert!(service.log_text().contains("snapshot loaded"));
}

#[tokio::test]
async fn corrupt_snapshot_is_set_aside_and_the_service_starts_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "svc", &[]);
    std::fs::write(&service.snapshot, b"\x0a\x7fnot a snapshot").expect("write garbage");
    service.start();
    let mut c = client(&service).await;
    assert!(list(&mut c, "c1").await.is_empty());
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("svc.binpb.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(dir.path().join(&aside[0])).expect("kept"),
        b"\x0a\x7fnot a snapshot"
    );
    assert!(
        service.log_text().contains("corrupt"),
        "{}",
        service.log_text()
    );
}

/// Protobuf field `field` with length-delimited `bytes` (enough to build `client.Affiliate`
/// plaintexts without a protobuf library).
fn pb_field(field: u8, bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.len() < 128);
    let mut out = vec![(field << 3) | 2, bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

#[tokio::test]
async fn snapshot_holds_no_plaintext() {
    const HOSTNAME: &str = "secret-worker-7.internal.example";
    const PUBLIC_KEY: &str = "Lq6Qb9kYf1k2oV3Z8mWcQeVqz0Hn4xJt5sPa7uRgE1c=";
    let key = [0x42u8; 32];
    let gcm = Aes256Gcm::new(&key.into());
    let aes = Aes256::new(&key.into());

    // client.Affiliate{node_id=1, hostname=3, kubespan=7{public_key=1}} sealed as Talos does:
    // nonce(12) || AES-256-GCM(plaintext). The nonce is a counter here: unique under the key.
    let mut plaintext = pb_field(1, b"node-id-1");
    plaintext.extend(pb_field(3, HOSTNAME.as_bytes()));
    plaintext.extend(pb_field(7, &pb_field(1, PUBLIC_KEY.as_bytes())));
    let mut nonce = [0u8; 12];
    nonce[11] = 1;
    let mut data = nonce.to_vec();
    data.extend(
        gcm.encrypt(&Nonce::from(nonce), plaintext.as_slice())
            .expect("seal"),
    );
    // An endpoint (client.Endpoint{ip=1: 192.0.2.10, port=2: 51820}) sealed blockwise as Talos
    // does: [len] || protobuf, zero-padded to 16, raw AES per block.
    let endpoint_pb = [0x0a, 4, 192, 0, 2, 10, 0x10, 0xec, 0x94, 0x03];
    let mut block = [0u8; 16];
    block[0] = endpoint_pb.len() as u8;
    block[1..=endpoint_pb.len()].copy_from_slice(&endpoint_pb);
    let plain_block = block;
    let mut sealed_block = block.into();
    aes.encrypt_block(&mut sealed_block);
    let endpoint: Vec<u8> = sealed_block.to_vec();

    let dir = tempfile::tempdir().expect("tempdir");
    let mut service = DiscoveryService::new(dir.path(), "svc", &[]);
    service.start();
    let mut c = client(&service).await;
    c.affiliate_update(update(
        "cluster",
        "node-id-1",
        &data,
        std::slice::from_ref(&endpoint),
        600,
    ))
    .await
    .expect("update");
    let (status, service) = stop(service).await;
    assert!(status.success(), "{}", service.log_text());
    let file = std::fs::read(&service.snapshot).expect("snapshot");
    let contains = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&data), "the ciphertext is stored as sent");
    assert!(contains(&endpoint));
    assert!(!contains(HOSTNAME.as_bytes()), "hostname in the snapshot");
    assert!(
        !contains(PUBLIC_KEY.as_bytes()),
        "public key in the snapshot"
    );
    assert!(!contains(&plaintext), "affiliate plaintext in the snapshot");
    assert!(
        !contains(&plain_block),
        "endpoint plaintext in the snapshot"
    );
    assert!(!service.log_text().contains(HOSTNAME));
}

#[tokio::test]
async fn serves_tls_when_given_a_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issued =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert_pem = issued.cert.pem();
    let cert = dir.path().join("tls.crt");
    let key = dir.path().join("tls.key");
    std::fs::write(&cert, &cert_pem).expect("write cert");
    std::fs::write(&key, issued.signing_key.serialize_pem()).expect("write key");
    let mut service = DiscoveryService::new(
        dir.path(),
        "svc",
        &[
            "--no-snapshots",
            "--tls-cert",
            cert.to_str().expect("utf8"),
            "--tls-key",
            key.to_str().expect("utf8"),
        ],
    );
    service.start();
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel =
        tonic::transport::Endpoint::from_shared(format!("https://127.0.0.1:{}", service.port))
            .expect("uri")
            .tls_config(tls)
            .expect("tls")
            .connect()
            .await
            .expect("TLS connect");
    let resp = ClusterClient::new(channel)
        .hello(hello("cluster"))
        .await
        .expect("hello over TLS")
        .into_inner();
    assert_eq!(resp.client_ip, vec![127, 0, 0, 1]);
    // A plaintext client is refused.
    let plain = tonic::transport::Endpoint::from_shared(service.url())
        .expect("uri")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect()
        .await;
    if let Ok(channel) = plain {
        assert!(
            ClusterClient::new(channel)
                .hello(hello("cluster"))
                .await
                .is_err()
        );
    }
}

/// The harness itself: a port taken between choosing and binding it (the race that left a whole
/// lab without its service) makes `start` choose new ports instead of failing or going on without
/// a service.
#[test]
fn a_taken_port_makes_the_harness_choose_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The port of an outgoing connection, as the race has it: taken, but nobody listens on it.
    let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let outgoing =
        std::net::TcpStream::connect(server.local_addr().expect("addr")).expect("connect");
    let taken_port = outgoing.local_addr().expect("addr").port();
    let mut service =
        DiscoveryService::new(dir.path(), "taken", &["--stun-listen", "off"]).on("0.0.0.0");
    service.port = taken_port;
    service.start();
    assert_ne!(service.port, taken_port, "a new port was chosen");
    assert!(
        service.log_text().contains("Address already in use"),
        "the first start met the taken port: {}",
        service.log_text()
    );
    std::net::TcpStream::connect(("127.0.0.1", service.port)).expect("the service listens");
}
