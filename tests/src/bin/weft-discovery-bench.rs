//! weft-discovery-bench — a load benchmark of weft-discovery (a tool that prints figures, not a
//! test). It starts the real `weft-discovery` binary from the same build directory on loopback,
//! with `--rate-limit off` (the per-IP limit would otherwise cap a single load generator at
//! 15 req/s) and snapshots off, and measures:
//!
//! 1. AffiliateUpdate throughput: several connections, many requests in flight, realistic blobs
//!    (330-byte data, two 16-byte endpoints) over 10k affiliates in 100 clusters;
//! 2. watch fan-out latency: 1k watchers of one cluster, time from sending an update to each
//!    watcher receiving it (p50/p99);
//! 3. the server's RSS at 10k and 100k affiliates (`/proc/<pid>/status`).
//!
//! As a reference measured in the same run, the same update load is sent to a trivial tonic
//! service (this binary re-run as `echo-server`: the same gRPC service whose handlers do nothing),
//! the ceiling that gRPC itself sets on this machine. Sidero's Go service cannot be fetched or
//! built here, so it is not measured.
//!
//! Everything is bounded: each phase by a count and a duration, the whole run by
//! [`RUN_DEADLINE`]. It lives with the other benchmarks (weft-e2e), not in the service's crate.
//! Usage: `cargo build --release -p weft-discovery -p weft-e2e &&
//! target/release/weft-discovery-bench` (see `--help`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use weft_api::proto::discovery::server::cluster_client::ClusterClient;
use weft_api::proto::discovery::server::cluster_server::{Cluster, ClusterServer};
use weft_api::proto::discovery::server::{
    AffiliateDeleteRequest, AffiliateDeleteResponse, AffiliateUpdateRequest,
    AffiliateUpdateResponse, HelloRequest, HelloResponse, ListRequest, ListResponse, WatchRequest,
    WatchResponse,
};

/// The whole run stops after this, whatever the flags say.
const RUN_DEADLINE: Duration = Duration::from_secs(600);
/// Size of each affiliate data blob: a Talos affiliate's encrypted protobuf is ~300 bytes.
const DATA_LEN: usize = 330;
/// Clusters the throughput and RSS load is spread over (at most 1024 affiliates each).
const CLUSTERS: usize = 100;
/// How long to wait for the server to accept connections.
const START_DEADLINE: Duration = Duration::from_secs(20);
/// Watch streams per connection in the fan-out phase (below HTTP/2's usual 200-stream limit).
const WATCHERS_PER_CONNECTION: usize = 50;
/// Pause between two fan-out updates, so no watcher falls 32 updates behind.
const FANOUT_PACE: Duration = Duration::from_millis(20);

/// Target figures (the issue's), printed next to the measurements.
const TARGET_UPDATES_PER_SEC: f64 = 20_000.0;
const TARGET_FANOUT_P99: Duration = Duration::from_millis(50);
const TARGET_RSS_100K_MIB: f64 = 300.0;

#[derive(Debug, Parser)]
#[command(
    name = "weft-discovery-bench",
    about = "Load benchmark of weft-discovery"
)]
struct Args {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// The weft-discovery binary [default: next to this one]
    #[arg(long, value_name = "PATH")]
    server: Option<PathBuf>,
    /// Length of each throughput measurement
    #[arg(long, default_value = "5", value_name = "SECS")]
    duration: u64,
    /// Connections the load is sent over
    #[arg(long, default_value = "4")]
    connections: usize,
    /// Requests in flight at once, over all connections
    #[arg(long, default_value = "64")]
    concurrency: usize,
    /// Watchers in the fan-out phase
    #[arg(long, default_value = "1000")]
    watchers: usize,
    /// Updates sent in the fan-out phase
    #[arg(long, default_value = "200")]
    fanout_updates: usize,
    /// Affiliates for the large RSS measurement
    #[arg(long, default_value = "100000")]
    affiliates: usize,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// (internal) the reference: a tonic Cluster service whose handlers do nothing
    #[command(hide = true)]
    EchoServer {
        #[arg(long)]
        listen: SocketAddr,
    },
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("runtime")?;
    if let Some(Cmd::EchoServer { listen }) = args.command {
        return runtime.block_on(echo_server(listen));
    }
    runtime.block_on(async {
        tokio::time::timeout(RUN_DEADLINE, bench(args))
            .await
            .context("the benchmark ran past its deadline")?
    })
}

/// A child process killed when dropped.
#[derive(Debug)]
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("own path")?;
    let dir = exe.parent().context("own directory")?;
    Ok(dir.join(name))
}

async fn wait_listening(port: u16, process: &mut Process) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = process.child.try_wait()? {
            bail!("the server exited with {status}");
        }
        if start.elapsed() > START_DEADLINE {
            bail!("the server did not listen within {START_DEADLINE:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rss_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Deterministic pseudo-random bytes (xorshift): looks like ciphertext, costs nothing.
fn blob(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn update_request(cluster: usize, affiliate: usize, data: Vec<u8>) -> AffiliateUpdateRequest {
    let seed = (cluster * 1_000_003 + affiliate) as u64;
    AffiliateUpdateRequest {
        cluster_id: format!("bench-cluster-{cluster:03}"),
        affiliate_id: format!("bench-affiliate-{affiliate:05}"),
        owner_token: Vec::new(),
        affiliate_data: Some(data),
        affiliate_endpoints: vec![blob(seed ^ 1, 16), blob(seed ^ 2, 16)],
        ttl: Some(prost_types::Duration {
            seconds: 1800,
            nanos: 0,
        }),
    }
}

async fn connect(port: u16) -> anyhow::Result<Channel> {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))?
        .tcp_nodelay(true)
        .connect()
        .await
        .context("connect")
}

async fn channels(port: u16, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(connect(port).await?);
    }
    Ok(out)
}

/// Sends updates with `concurrency` in flight over `channels` until `duration` passes or
/// `limit` updates are done, spreading them over `affiliates` affiliates in [`CLUSTERS`]
/// clusters; returns (updates done, elapsed).
async fn update_load(
    channels: &[Channel],
    concurrency: usize,
    duration: Duration,
    limit: u64,
    affiliates: usize,
) -> anyhow::Result<(u64, Duration)> {
    let next = Arc::new(AtomicU64::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let per_cluster = affiliates.div_ceil(CLUSTERS).max(1);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let mut client = ClusterClient::new(channels[worker % channels.len()].clone());
        let (next, completed) = (next.clone(), completed.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= limit || start.elapsed() >= duration {
                    return Ok::<(), Status>(());
                }
                let n = (i % affiliates as u64) as usize;
                let (cluster, affiliate) = (n / per_cluster, n % per_cluster);
                let data = blob(i, DATA_LEN);
                client
                    .affiliate_update(update_request(cluster, affiliate, data))
                    .await?;
                completed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for task in tasks {
        task.await.context("load task")??;
    }
    Ok((completed.load(Ordering::Relaxed), start.elapsed()))
}

/// Measures update throughput against a server on `port`.
async fn throughput(args: &Args, port: u16) -> anyhow::Result<f64> {
    let chans = channels(port, args.connections).await?;
    // Warm-up: connections, allocations, the first 10k affiliates.
    update_load(
        &chans,
        args.concurrency,
        Duration::from_secs(60),
        10_000,
        10_000,
    )
    .await?;
    let (done, took) = update_load(
        &chans,
        args.concurrency,
        Duration::from_secs(args.duration),
        u64::MAX,
        10_000,
    )
    .await?;
    Ok(done as f64 / took.as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Fan-out: `watchers` watch one cluster; updates carry their send time; each watcher records
/// how long each update took to reach it. Returns (sorted latencies, watchers dropped).
async fn fanout(args: &Args, port: u16) -> anyhow::Result<(Vec<Duration>, u64)> {
    let cluster = "bench-fanout";
    let conns = channels(port, args.watchers.div_ceil(WATCHERS_PER_CONNECTION).max(1)).await?;
    let epoch = Instant::now();
    let samples = Arc::new(std::sync::Mutex::new(Vec::with_capacity(
        args.watchers * args.fanout_updates,
    )));
    let lost = Arc::new(AtomicU64::new(0));
    let ready = Arc::new(tokio::sync::Barrier::new(args.watchers + 1));
    let mut tasks = Vec::with_capacity(args.watchers);
    for w in 0..args.watchers {
        let mut client = ClusterClient::new(conns[w / WATCHERS_PER_CONNECTION].clone());
        let (samples, lost, ready) = (samples.clone(), lost.clone(), ready.clone());
        let expected = args.fanout_updates;
        tasks.push(tokio::spawn(async move {
            let mut stream = client
                .watch(WatchRequest {
                    cluster_id: cluster.to_owned(),
                })
                .await?
                .into_inner();
            stream.message().await?; // the snapshot
            ready.wait().await;
            let mut mine = Vec::with_capacity(expected);
            while mine.len() < expected {
                match stream.message().await {
                    Ok(Some(msg)) => {
                        let now = epoch.elapsed();
                        if let Some(sent) = msg
                            .affiliates
                            .first()
                            .and_then(|a| a.data.get(..8))
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_le_bytes)
                        {
                            mine.push(now.saturating_sub(Duration::from_nanos(sent)));
                        }
                    }
                    Ok(None) | Err(_) => {
                        lost.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            samples
                .lock()
                .map_err(|_| Status::internal("poisoned"))?
                .extend(mine);
            Ok::<(), Status>(())
        }));
    }
    ready.wait().await;
    let mut client = ClusterClient::new(conns[0].clone());
    for i in 0..args.fanout_updates {
        let mut data = blob(i as u64, DATA_LEN);
        data[..8].copy_from_slice(&(epoch.elapsed().as_nanos() as u64).to_le_bytes());
        let mut req = update_request(0, 0, data);
        req.cluster_id = cluster.to_owned();
        client.affiliate_update(req).await?;
        tokio::time::sleep(FANOUT_PACE).await;
    }
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), task).await;
    }
    let mut samples = std::mem::take(
        &mut *samples
            .lock()
            .map_err(|_| anyhow::anyhow!("samples lock poisoned"))?,
    );
    samples.sort();
    Ok((samples, lost.load(Ordering::Relaxed)))
}

async fn start_discovery(args: &Args) -> anyhow::Result<(Process, u16)> {
    let bin = match &args.server {
        Some(p) => p.clone(),
        None => sibling("weft-discovery")?,
    };
    let (port, metrics) = (free_port()?, free_port()?);
    let child = Command::new(&bin)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics}"),
            "--rate-limit",
            "off",
            "--no-snapshots",
            "--gc-interval",
            "1h",
            // The RSS phase stores --affiliates affiliates on top of the others.
            "--max-affiliates",
            &(args.affiliates + 100_000).to_string(),
        ])
        .env("WEFT_DISCOVERY_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut process = Process { child };
    wait_listening(port, &mut process).await?;
    Ok((process, port))
}

async fn start_echo() -> anyhow::Result<(Process, u16)> {
    let port = free_port()?;
    let child = Command::new(std::env::current_exe()?)
        .args(["echo-server", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .spawn()
        .context("starting the echo server")?;
    let mut process = Process { child };
    wait_listening(port, &mut process).await?;
    Ok((process, port))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "meets" } else { "misses" }
}

async fn bench(args: Args) -> anyhow::Result<()> {
    println!(
        "weft-discovery-bench: {} cores; load {} connections x {} in flight, {} s per measurement",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.connections,
        args.concurrency,
        args.duration
    );

    let (echo, echo_port) = start_echo().await?;
    let reference = throughput(&args, echo_port).await?;
    drop(echo);
    println!("reference: no-op tonic Cluster service      {reference:>10.0} updates/s");

    let (server, port) = start_discovery(&args).await?;
    let pid = server.child.id();
    let rate = throughput(&args, port).await?;
    println!(
        "weft-discovery AffiliateUpdate throughput   {rate:>10.0} updates/s  ({:.0}% of the no-op service; target >= {TARGET_UPDATES_PER_SEC:.0}: {})",
        100.0 * rate / reference,
        verdict(rate >= TARGET_UPDATES_PER_SEC)
    );
    let rss_10k = rss_mib(pid, "VmRSS:").unwrap_or(f64::NAN);
    println!("weft-discovery RSS at 10k affiliates        {rss_10k:>10.1} MiB");

    let (samples, lost) = fanout(&args, port).await?;
    let p50 = percentile(&samples, 0.50);
    let p99 = percentile(&samples, 0.99);
    println!(
        "watch fan-out, {} watchers x {} updates    p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} samples, {} watchers dropped; target p99 <= {} ms: {})",
        args.watchers,
        args.fanout_updates,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        samples.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        samples.len(),
        lost,
        TARGET_FANOUT_P99.as_millis(),
        verdict(p99 <= TARGET_FANOUT_P99 && lost == 0)
    );

    let chans = channels(port, args.connections).await?;
    let fill = Instant::now();
    update_load(
        &chans,
        args.concurrency,
        Duration::from_secs(300),
        args.affiliates as u64,
        args.affiliates,
    )
    .await?;
    let took = fill.elapsed();
    let rss_big = rss_mib(pid, "VmRSS:").unwrap_or(f64::NAN);
    let hwm = rss_mib(pid, "VmHWM:").unwrap_or(f64::NAN);
    println!(
        "weft-discovery RSS at {}k affiliates       {rss_big:>10.1} MiB  (peak {hwm:.1} MiB; filled in {:.1} s; target <= {TARGET_RSS_100K_MIB:.0} MiB: {})",
        args.affiliates / 1000,
        took.as_secs_f64(),
        verdict(rss_big <= TARGET_RSS_100K_MIB)
    );
    println!(
        "Sidero's Go discovery-service: not measured (it cannot be fetched or built on this machine)"
    );
    drop(server);
    Ok(())
}

/// The reference service: every handler answers at once with an empty response.
#[derive(Debug, Clone, Copy)]
struct Echo;

#[tonic::async_trait]
impl Cluster for Echo {
    async fn hello(&self, _: Request<HelloRequest>) -> Result<Response<HelloResponse>, Status> {
        Ok(Response::new(HelloResponse::default()))
    }

    async fn affiliate_update(
        &self,
        _: Request<AffiliateUpdateRequest>,
    ) -> Result<Response<AffiliateUpdateResponse>, Status> {
        Ok(Response::new(AffiliateUpdateResponse {}))
    }

    async fn affiliate_delete(
        &self,
        _: Request<AffiliateDeleteRequest>,
    ) -> Result<Response<AffiliateDeleteResponse>, Status> {
        Ok(Response::new(AffiliateDeleteResponse {}))
    }

    async fn list(&self, _: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        Ok(Response::new(ListResponse::default()))
    }

    type WatchStream = futures::stream::Empty<Result<WatchResponse, Status>>;

    async fn watch(&self, _: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        Ok(Response::new(futures::stream::empty()))
    }
}

async fn echo_server(listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(ClusterServer::new(Echo))
        .serve_with_incoming(incoming)
        .await
        .context("echo server")
}
