//! The service's life: load the snapshot, serve gRPC, STUN and metrics, collect garbage and write
//! snapshots on their tickers, and on SIGTERM/SIGINT stop cleanly — end the watches, drain the
//! server, write a last snapshot.
//!
//! ```text
//! start ─ raise RLIMIT_NOFILE ─ remove leftover temp files ─ load snapshot ─ bind ─┐
//!                               ┌─────────────────────────────────────────────────┘
//!                               ├─ gRPC server (behind conn::incoming) ┐
//!                               ├─ STUN reflector (UDP)                │
//!                               ├─ metrics server                      │
//!                               ├─ GC every --gc-interval              │ signal: cancel, close
//!                               └─ snapshot every interval             │ watches, drain (≤
//!                                                                      │ SHUTDOWN_GRACE), final
//!                                                                      └ snapshot, exit 0
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use weft_api::proto::discovery::server::cluster_server::ClusterServer;

use crate::args::StunListen;
use crate::conn::{self, ConnLimits, Guarded, Registry};
use crate::limits::{
    MAX_RATE_LIMIT_BUCKETS, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, RATE_LIMITER_GC_INTERVAL,
    STUN_RATE_LIMIT_BURST, STUN_RATE_LIMIT_PER_SECOND,
};
use crate::metrics::{self, Metrics};
use crate::ratelimit::RateLimiter;
use crate::server::{self, ClusterApi};
use crate::snapshot;
use crate::state::{Caps, State};
use crate::stun;

/// How long shutdown waits for open requests and streams before writing the last snapshot.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The server pings idle HTTP/2 connections this often, and drops those that do not answer within
/// [`KEEPALIVE_TIMEOUT`]: a node that vanished (power loss, NAT state lost) would otherwise keep
/// its watch subscribed until TCP gives up, which takes many minutes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// What the service runs with (from the command line).
#[derive(Debug, Clone)]
pub struct Options {
    pub listen: SocketAddr,
    /// `None`: the address and port `listen` got, on UDP.
    pub stun_listen: Option<StunListen>,
    /// Certificate and key PEM files; `None`: plaintext HTTP/2.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// `None`: snapshots disabled.
    pub snapshot_path: Option<PathBuf>,
    pub snapshot_interval: Duration,
    pub gc_interval: Duration,
    pub metrics_listen: SocketAddr,
    pub rate_limit: bool,
    /// Global caps of the state.
    pub caps: Caps,
    /// Connection caps and timeouts (`max_connections` is lowered to what `RLIMIT_NOFILE`
    /// allows).
    pub connections: ConnLimits,
    pub settings: server::Settings,
}

/// Runs the service until SIGTERM/SIGINT.
pub async fn run(options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let nofile = match conn::raise_nofile_limit() {
        Ok((before, after)) => {
            if before != after {
                tracing::info!(
                    before,
                    after,
                    "raised the soft RLIMIT_NOFILE to the hard limit"
                );
            }
            Some(after)
        }
        Err(err) => {
            tracing::warn!(%err, "could not read or raise RLIMIT_NOFILE");
            None
        }
    };
    let mut connections = options.connections;
    if let Some(nofile) = nofile {
        let cap = conn::connection_cap(connections.max_connections, nofile);
        if cap < connections.max_connections {
            tracing::warn!(
                requested = connections.max_connections,
                cap,
                rlimit_nofile = nofile,
                "--max-connections lowered to what RLIMIT_NOFILE allows"
            );
            connections.max_connections = cap;
        }
    }
    let state = match &options.snapshot_path {
        Some(path) => {
            let path = path.clone();
            let caps = options.caps;
            let (state, report) = tokio::task::spawn_blocking(move || {
                match snapshot::remove_leftovers(&path) {
                    Ok(left) if left.files > 0 => tracing::warn!(
                        files = left.files,
                        bytes = left.bytes,
                        "removed temporary files of interrupted snapshot writes"
                    ),
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(%err, "could not remove temporary files of interrupted snapshot writes");
                    }
                }
                snapshot::load(&path, caps, Instant::now(), SystemTime::now())
            })
            .await
            .context("loading the snapshot")??;
            tracing::info!(
                clusters = report.clusters,
                affiliates = report.affiliates,
                skipped = report.skipped,
                took_ms = started.elapsed().as_millis() as u64,
                "snapshot loaded"
            );
            state
        }
        None => State::with_caps(Instant::now(), options.caps),
    };
    let metrics = Arc::new(Metrics::default());
    let registry = Registry::new(connections, metrics.clone());
    let limiter = options.rate_limit.then(|| Arc::new(RateLimiter::default()));
    let stun_limiter = options.rate_limit.then(|| {
        Arc::new(RateLimiter::new(
            f64::from(STUN_RATE_LIMIT_PER_SECOND),
            f64::from(STUN_RATE_LIMIT_BURST),
            MAX_RATE_LIMIT_BUCKETS,
        ))
    });
    if limiter.is_none() {
        tracing::warn!("per-IP rate limiting is off (--rate-limit off)");
    }

    let tls = match &options.tls {
        Some((cert, key)) => {
            let cert_pem = std::fs::read(cert)
                .with_context(|| format!("reading the TLS certificate {}", cert.display()))?;
            let key_pem = std::fs::read(key)
                .with_context(|| format!("reading the TLS key {}", key.display()))?;
            Some(ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem)))
        }
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("listening on {} (--listen)", options.listen))?;
    let listen = listener.local_addr().unwrap_or(options.listen);
    // By default the reflector shares the gRPC port (TCP and UDP ports are separate), taken from
    // the bound listener so that `--listen host:0` gives both the same port.
    let stun_listen = match options.stun_listen {
        None => Some(listen),
        Some(StunListen::At(addr)) => Some(addr),
        Some(StunListen::Off) => None,
    };
    let stun_socket = match stun_listen {
        Some(addr) => Some(stun::bind(addr).await.with_context(|| {
            format!("listening on udp {addr} (--stun-listen; `off` disables the STUN reflector)")
        })?),
        None => None,
    };
    let metrics_listener = metrics::bind(options.metrics_listen)
        .await
        .with_context(|| format!("listening on {} (--metrics-listen)", options.metrics_listen))?;
    let stun_shown = match (&stun_socket, stun_listen) {
        (Some(socket), Some(addr)) => socket.local_addr().unwrap_or(addr).to_string(),
        _ => "off".to_owned(),
    };
    tracing::info!(
        listen = %listen,
        stun = %stun_shown,
        metrics = %metrics_listener.local_addr().unwrap_or(options.metrics_listen),
        tls = tls.is_some(),
        snapshots = options.snapshot_path.is_some(),
        "weft-discovery serving"
    );

    let shutdown = CancellationToken::new();
    let api = ClusterApi::new(
        state.clone(),
        limiter.clone(),
        metrics.clone(),
        options.settings.clone(),
    );
    let service = Guarded::new(
        ClusterServer::new(api)
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_RESPONSE_BYTES),
    );
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).context("TLS settings")?;
    }
    let incoming = conn::incoming(listener, registry);
    let server_task = tokio::spawn(
        builder
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned()),
    );

    let render = {
        let (state, metrics) = (state.clone(), metrics.clone());
        move || metrics.render(state.counts(), state.limit_counts())
    };
    let metrics_task = tokio::spawn(metrics::serve(metrics_listener, render, shutdown.clone()));
    let stun_task = stun_socket.map(|socket| {
        tokio::spawn(stun::serve(
            socket,
            stun_limiter.clone(),
            metrics.clone(),
            shutdown.clone(),
        ))
    });
    let gc_task = tokio::spawn(gc_loop(
        state.clone(),
        limiter.into_iter().chain(stun_limiter).collect(),
        metrics.clone(),
        options.gc_interval,
        shutdown.clone(),
    ));
    let snapshot_task = options.snapshot_path.clone().map(|path| {
        tokio::spawn(snapshot_loop(
            state.clone(),
            path,
            metrics.clone(),
            options.snapshot_interval,
            shutdown.clone(),
        ))
    });

    tokio::pin!(server_task);
    let early = tokio::select! {
        name = wait_for_signal() => {
            tracing::info!(signal = name, "shutting down");
            None
        }
        result = &mut server_task => Some(result),
    };
    shutdown.cancel();
    // Watches never end by themselves and the server waits for open streams: end them now.
    state.close();
    let server_result = match early {
        Some(result) => Some(result),
        None => tokio::time::timeout(SHUTDOWN_GRACE, &mut server_task)
            .await
            .inspect_err(|_| {
                tracing::warn!("requests still open after the grace period; stopping anyway");
            })
            .ok(),
    };
    let _ = metrics_task.await;
    if let Some(task) = stun_task {
        let _ = task.await;
    }
    let _ = gc_task.await;
    if let Some(task) = snapshot_task {
        let _ = task.await;
    }
    if let Some(path) = options.snapshot_path {
        write_snapshot(state, path, &metrics).await?;
    }
    if let Some(result) = server_result {
        result.context("gRPC server task")?.context("gRPC server")?;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Collects expired affiliates every `interval`, and idle rate-limit buckets (gRPC's and STUN's)
/// every [`RATE_LIMITER_GC_INTERVAL`].
async fn gc_loop(
    state: State,
    limiters: Vec<Arc<RateLimiter>>,
    metrics: Arc<Metrics>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut gc = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    gc.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut limiter_gc = tokio::time::interval_at(
        tokio::time::Instant::now() + RATE_LIMITER_GC_INTERVAL,
        RATE_LIMITER_GC_INTERVAL,
    );
    limiter_gc.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = gc.tick() => {
                let start = Instant::now();
                let report = state.gc(start);
                let took = start.elapsed();
                metrics.gc(report, took);
                let counts = state.counts();
                tracing::debug!(
                    removed_clusters = report.clusters,
                    removed_affiliates = report.affiliates,
                    removed_endpoints = report.endpoints,
                    clusters = counts.clusters,
                    affiliates = counts.affiliates,
                    subscriptions = counts.subscribers,
                    took_us = took.as_micros() as u64,
                    "garbage collection"
                );
            }
            _ = limiter_gc.tick() => {
                for limiter in &limiters {
                    let dropped = limiter.gc(tokio::time::Instant::now());
                    tracing::debug!(dropped, tracked = limiter.len(), "rate limiter collection");
                }
            }
        }
    }
}

/// Writes a snapshot every `interval` until shutdown (the last one is written by [`run`] after
/// the server has stopped, so it holds every accepted update).
async fn snapshot_loop(
    state: State,
    path: PathBuf,
    metrics: Arc<Metrics>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {
                // A failed periodic write is logged and counted; the next tick tries again.
                let _ = write_snapshot(state.clone(), path.clone(), &metrics).await;
            }
        }
    }
}

/// Writes one snapshot off the async threads, with metrics and a log line.
async fn write_snapshot(state: State, path: PathBuf, metrics: &Metrics) -> anyhow::Result<()> {
    let start = Instant::now();
    let shown = path.display().to_string();
    let result = tokio::task::spawn_blocking(move || {
        snapshot::write(&state, &path, Instant::now(), SystemTime::now())
    })
    .await
    .context("snapshot task")
    .and_then(|r| r.with_context(|| format!("writing the snapshot {shown}")));
    let took = start.elapsed();
    match &result {
        Ok(size) => {
            metrics.snapshot(Some(*size), took);
            tracing::info!(path = %shown, size, took_ms = took.as_millis() as u64, "snapshot written");
        }
        Err(err) => {
            metrics.snapshot(None, took);
            tracing::error!(error = format!("{err:#}"), "snapshot failed");
        }
    }
    result.map(|_| ())
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers the service can only be killed; run until then.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
