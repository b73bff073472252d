//! Client connections before and around gRPC: the accept loop, the caps, the timeouts, and the
//! budget for large replies. Nothing here knows the discovery API; it keeps anyone from locking
//! the service out or making it hold memory by opening connections and then not talking, or not
//! reading.
//!
//! ```text
//! accept ─┬─ error (EMFILE…) ── sleep 10 ms, doubling to 1 s; one log line per episode
//!         ├─ IP at --max-connections-per-ip ── closed at once
//!         ├─ at --max-connections ── the oldest connection that has not yet made a request is
//!         │                          closed to make room (else the new one is)
//!         └─ admitted ── a watchdog per connection closes it when
//!              · no gRPC request came within --handshake-timeout (silent TCP, a TLS handshake
//!                left half done, no HTTP/2 preface),
//!              · no request has been in flight for --idle-timeout,
//!              · a large reply has waited --send-timeout for its client to take more of it.
//! ```
//!
//! A connection reaches tonic as a [`Conn`]: a `TcpStream` whose reads and writes fail once its
//! watchdog cuts it, so tonic (or its TLS acceptor, which has no timeout of its own) drops it,
//! and with it everything HTTP/2 holds for it. Requests are seen through [`Guarded`], a wrapper
//! around the gRPC service: it marks the connection busy while a request is in flight, and
//! passes large reply frames to HTTP/2 in [`REPLY_CHUNK`] pieces, so that being polled for the
//! next piece shows that the client's flow-control window took the previous one.
//!
//! Large replies (List, the first Watch message) reserve their size first ([`ConnInfo::reserve`])
//! against a global and a per-IP budget, released once the last piece is handed on: a client that
//! never reads can make the service hold at most the budget, for at most the send timeout.
//!
//! A Watch's first message (the cluster's snapshot) is encoded by the handler and handed to
//! [`Guarded`] ([`FirstFrame`]) rather than to tonic's encoder: tonic encodes a stream's messages
//! into one growing buffer that lives as long as the stream, so a watch of a 4 MiB cluster would
//! keep 4 MiB for as long as it stays open; handed on here, the snapshot is freed once sent.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use http_body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::body::Body;
use tonic::codegen::{Bytes, Service, http};
use tonic::server::NamedService;
use tonic::transport::server::{Connected, TlsConnectInfo};

use crate::limits::{
    ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_SEND_TIMEOUT, FD_RESERVE,
    MAX_PENDING_REPLY_BYTES, MAX_PENDING_REPLY_BYTES_PER_IP,
};
use crate::metrics::Metrics;

/// Reply frames larger than this are handed to HTTP/2 in pieces of this size (see the module
/// doc). Small enough that a stalled client pins little beyond its window, large enough that a
/// 4 MiB reply is only 64 pieces.
pub const REPLY_CHUNK: usize = 64 * 1024;
/// At most one log line per this period for refused connections (the metrics count each).
const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(60);

/// The connection caps and timeouts (from the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub send_timeout: Duration,
    pub max_pending_reply_bytes: usize,
    pub max_pending_reply_bytes_per_ip: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            max_pending_reply_bytes: MAX_PENDING_REPLY_BYTES,
            max_pending_reply_bytes_per_ip: MAX_PENDING_REPLY_BYTES_PER_IP,
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the default soft limit, often 1024, is far
/// below what a service with thousands of clients needs). Returns the soft limit before and after.
pub fn raise_nofile_limit() -> nix::Result<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= hard {
        return Ok((soft, soft));
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok((soft, hard))
}

/// The connection cap that `nofile` file descriptors allow: `requested`, lowered to leave
/// [`FD_RESERVE`] descriptors for everything else.
pub fn connection_cap(requested: usize, nofile: u64) -> usize {
    let allowed = usize::try_from(nofile.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
    requested.min(allowed.max(1))
}

/// What the per-IP caps and budgets count by: the address for IPv4 (and IPv4-mapped IPv6), the
/// /64 for IPv6 — one host usually has a whole /64, so counting single addresses would let it
/// open connections without end.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

/// Why a new connection was closed at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its IP already has `max_connections_per_ip` connections.
    PerIp,
    /// The service has `max_connections` and none of them is still waiting for its first request.
    Global,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::PerIp => "per_ip",
            Refusal::Global => "global",
        }
    }
}

/// Why the service closed a connection it had admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutReason {
    /// No gRPC request within the handshake timeout.
    Handshake,
    /// No request in flight for the idle timeout.
    Idle,
    /// A large reply waited for its client longer than the send timeout.
    Send,
    /// Closed to make room for a new connection (it had made no request yet).
    Evicted,
}

impl CutReason {
    pub fn label(self) -> &'static str {
        match self {
            CutReason::Handshake => "handshake_timeout",
            CutReason::Idle => "idle_timeout",
            CutReason::Send => "send_timeout",
            CutReason::Evicted => "evicted",
        }
    }
}

/// What a watchdog decides from a connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Cut(CutReason),
    /// Look again at this time (or when the state changes); `None`: only when it changes.
    Wait(Option<Instant>),
}

/// A connection's state as its watchdog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activity {
    pub accepted: Instant,
    /// It has made a gRPC request.
    pub established: bool,
    /// Requests in flight (a Watch is in flight as long as it is open).
    pub in_flight: usize,
    /// When the last request in flight ended.
    pub idle_since: Instant,
    /// Since when the longest-waiting large reply has waited for its client, if one waits.
    pub stalled_since: Option<Instant>,
}

/// The watchdog's rule (see the module doc):
///
/// ```text
/// accepted ──── handshake timeout ──▶ cut, unless a request came
/// last request ends ── idle timeout ─▶ cut, unless another began
/// reply waits for its client ── send timeout ─▶ cut, unless it moved on
/// ```
///
/// While requests are in flight a stall can begin at any moment without waking the watchdog, so
/// it looks again every quarter of the send timeout: a stalled reply is cut within 1¼ of it.
pub fn verdict(activity: Activity, now: Instant, limits: &ConnLimits) -> Verdict {
    if !activity.established {
        let deadline = activity.accepted + limits.handshake_timeout;
        return if now >= deadline {
            Verdict::Cut(CutReason::Handshake)
        } else {
            Verdict::Wait(Some(deadline))
        };
    }
    if let Some(since) = activity.stalled_since
        && now >= since + limits.send_timeout
    {
        return Verdict::Cut(CutReason::Send);
    }
    if activity.in_flight == 0 {
        let deadline = activity.idle_since + limits.idle_timeout;
        if now >= deadline {
            return Verdict::Cut(CutReason::Idle);
        }
        return Verdict::Wait(Some(deadline));
    }
    Verdict::Wait(Some(now + limits.send_timeout / 4))
}

/// Doubling pause after failed accepts, and whether to log: once when an episode of failures
/// starts, once when accepting works again.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Option<Duration>,
    errors: u64,
}

impl AcceptBackoff {
    /// An accept failed: how long to pause, and whether this is the first failure of an episode.
    pub fn failed(&mut self) -> (Duration, bool) {
        let first = self.delay.is_none();
        let delay = self
            .delay
            .map_or(ACCEPT_BACKOFF_MIN, |d| (d * 2).min(ACCEPT_BACKOFF_MAX));
        self.delay = Some(delay);
        self.errors += 1;
        (delay, first)
    }

    /// An accept worked: the number of failures of the episode it ends, if one was going on.
    pub fn succeeded(&mut self) -> Option<u64> {
        self.delay.take()?;
        Some(std::mem::take(&mut self.errors))
    }
}

/// Every admitted connection: counts per IP, the connections still waiting for their first
/// request (the ones evicted first), and the reply budget.
#[derive(Debug)]
pub struct Registry {
    limits: ConnLimits,
    metrics: Arc<Metrics>,
    epoch: Instant,
    inner: Mutex<Inner>,
    refusals_logged: Mutex<Option<(Instant, u64)>>,
}

#[derive(Debug, Default)]
struct Inner {
    total: usize,
    per_ip: HashMap<IpAddr, PerIp>,
    /// Connections in accept order, for eviction; entries of ones that made a request or are gone
    /// are skipped (and pruned now and then).
    fresh: VecDeque<Weak<ConnState>>,
    pending_bytes: usize,
}

#[derive(Debug, Default)]
struct PerIp {
    connections: usize,
    pending_bytes: usize,
}

impl Inner {
    fn per_ip(&mut self, ip: IpAddr) -> &mut PerIp {
        self.per_ip.entry(ip).or_default()
    }

    fn forget_if_empty(&mut self, ip: IpAddr) {
        if self
            .per_ip
            .get(&ip)
            .is_some_and(|p| p.connections == 0 && p.pending_bytes == 0)
        {
            self.per_ip.remove(&ip);
        }
    }
}

impl Registry {
    pub fn new(limits: ConnLimits, metrics: Arc<Metrics>) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            metrics,
            epoch: Instant::now(),
            inner: Mutex::default(),
            refusals_logged: Mutex::new(None),
        })
    }

    /// The caps and timeouts in force.
    pub fn limits(&self) -> &ConnLimits {
        &self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Admits a connection from `ip`, or says why not. At the global cap the oldest connection
    /// that has not made a request yet is cut to make room: a flood of silent connections then
    /// keeps cycling through the slots while clients that talk get served.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<ConnState>, Refusal> {
        let ip = source_of(ip);
        let mut inner = self.lock();
        if inner.per_ip.get(&ip).map_or(0, |p| p.connections) >= self.limits.max_connections_per_ip
        {
            return Err(Refusal::PerIp);
        }
        if inner.total >= self.limits.max_connections {
            let evicted = loop {
                let Some(candidate) = inner.fresh.pop_front() else {
                    return Err(Refusal::Global);
                };
                if let Some(conn) = candidate.upgrade()
                    && !conn.established.load(Ordering::Acquire)
                    && conn.uncount(&mut inner)
                {
                    break conn;
                }
            };
            evicted.cut(CutReason::Evicted);
            self.metrics.connection_closed(CutReason::Evicted.label());
        }
        let now = Instant::now();
        let state = Arc::new(ConnState {
            registry: self.clone(),
            ip,
            accepted: now,
            counted: AtomicBool::new(true),
            established: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.millis(now)),
            clocks: Mutex::default(),
            cut: CancellationToken::new(),
            cut_reason: OnceLock::new(),
            changed: Notify::new(),
        });
        inner.total += 1;
        inner.per_ip(ip).connections += 1;
        inner.fresh.push_back(Arc::downgrade(&state));
        if inner.fresh.len() > 2 * inner.total + 16 {
            inner.fresh.retain(|w| {
                w.upgrade()
                    .is_some_and(|c| !c.established.load(Ordering::Acquire))
            });
        }
        self.metrics.connections_open(inner.total as u64);
        Ok(state)
    }

    /// Counts a refused connection, and logs it at most once per [`REFUSAL_LOG_PERIOD`].
    pub fn refused(&self, peer: SocketAddr, refusal: Refusal) {
        self.metrics.connection_refused(refusal.label());
        let now = Instant::now();
        let mut logged = self
            .refusals_logged
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &mut *logged {
            Some((since, suppressed)) if now < *since + REFUSAL_LOG_PERIOD => *suppressed += 1,
            _ => {
                let suppressed = logged.map_or(0, |(_, n)| n);
                tracing::warn!(
                    %peer,
                    cap = refusal.label(),
                    max_connections = self.limits.max_connections,
                    max_connections_per_ip = self.limits.max_connections_per_ip,
                    refused_since_last_line = suppressed,
                    "connection refused: over the connection cap (one line per minute; \
                     discovery_server_connections_refused_total counts each)"
                );
                *logged = Some((now, 0));
            }
        }
    }

    fn millis(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_millis() as u64
    }

    fn instant(&self, millis: u64) -> Instant {
        self.epoch + Duration::from_millis(millis)
    }

    /// Reserves `bytes` of the reply budget for a reply to `ip`.
    fn reserve(self: &Arc<Self>, ip: IpAddr, bytes: usize) -> Result<ReplyHold, String> {
        let mut inner = self.lock();
        let global = inner.pending_bytes;
        if global + bytes > self.limits.max_pending_reply_bytes {
            return Err(format!(
                "the service holds {global} bytes of replies its clients have not taken yet, \
                 {} at most; try again later",
                self.limits.max_pending_reply_bytes
            ));
        }
        let per_ip = inner.per_ip(ip);
        if per_ip.pending_bytes + bytes > self.limits.max_pending_reply_bytes_per_ip {
            let held = per_ip.pending_bytes;
            inner.forget_if_empty(ip);
            return Err(format!(
                "this address has {held} bytes of replies it has not taken yet, {} at most; \
                 read them, or try again later",
                self.limits.max_pending_reply_bytes_per_ip
            ));
        }
        per_ip.pending_bytes += bytes;
        inner.pending_bytes += bytes;
        self.metrics.pending_reply_bytes(inner.pending_bytes as u64);
        Ok(ReplyHold {
            registry: self.clone(),
            ip,
            bytes,
        })
    }

    fn release_reply(&self, ip: IpAddr, bytes: usize) {
        let mut inner = self.lock();
        inner.pending_bytes = inner.pending_bytes.saturating_sub(bytes);
        let per_ip = inner.per_ip(ip);
        per_ip.pending_bytes = per_ip.pending_bytes.saturating_sub(bytes);
        inner.forget_if_empty(ip);
        self.metrics.pending_reply_bytes(inner.pending_bytes as u64);
    }

    /// Open connections, and connections and pending reply bytes per IP (for tests).
    pub fn counts(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.total, inner.pending_bytes)
    }
}

/// One admitted connection, shared by its [`Conn`], its watchdog and its requests.
#[derive(Debug)]
pub struct ConnState {
    registry: Arc<Registry>,
    ip: IpAddr,
    accepted: Instant,
    /// Still counted against the caps (cleared once, by eviction or by the close).
    counted: AtomicBool,
    established: AtomicBool,
    in_flight: AtomicUsize,
    /// Milliseconds since the registry's epoch.
    idle_since: AtomicU64,
    /// One per request in flight: since when its reply has waited for the client (registry
    /// milliseconds + 1; 0: not waiting).
    clocks: Mutex<Vec<Weak<AtomicU64>>>,
    cut: CancellationToken,
    cut_reason: OnceLock<CutReason>,
    changed: Notify,
}

impl ConnState {
    /// Stops counting this connection against the caps (once).
    fn uncount(&self, inner: &mut Inner) -> bool {
        if !self.counted.swap(false, Ordering::AcqRel) {
            return false;
        }
        inner.total -= 1;
        inner.per_ip(self.ip).connections -= 1;
        inner.forget_if_empty(self.ip);
        true
    }

    /// Closes the connection: its reads and writes fail from now on.
    fn cut(&self, reason: CutReason) {
        let _ = self.cut_reason.set(reason);
        self.cut.cancel();
    }

    /// The connection's state for [`verdict`].
    fn activity(&self) -> Activity {
        let stalled = {
            let mut clocks = self.clocks.lock().unwrap_or_else(PoisonError::into_inner);
            clocks.retain(|c| c.strong_count() > 0);
            clocks
                .iter()
                .filter_map(Weak::upgrade)
                .map(|c| c.load(Ordering::Acquire))
                .filter(|m| *m != 0)
                .min()
        };
        Activity {
            accepted: self.accepted,
            established: self.established.load(Ordering::Acquire),
            in_flight: self.in_flight.load(Ordering::Acquire),
            idle_since: self
                .registry
                .instant(self.idle_since.load(Ordering::Acquire)),
            stalled_since: stalled.map(|m| self.registry.instant(m - 1)),
        }
    }

    /// A request began on this connection; it is in flight until the guard is dropped.
    fn begin(self: &Arc<Self>) -> InFlight {
        self.established.store(true, Ordering::Release);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let clock = Arc::new(AtomicU64::new(0));
        self.clocks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::downgrade(&clock));
        InFlight {
            conn: self.clone(),
            clock,
        }
    }
}

/// Watches one connection until it closes (see [`verdict`]).
async fn watchdog(conn: Arc<ConnState>) {
    let limits = *conn.registry.limits();
    loop {
        let wait = match verdict(conn.activity(), Instant::now(), &limits) {
            Verdict::Cut(reason) => {
                if !conn.cut.is_cancelled() {
                    tracing::debug!(peer = %conn.ip, reason = reason.label(), "closing connection");
                    conn.registry.metrics.connection_closed(reason.label());
                    conn.cut(reason);
                }
                return;
            }
            Verdict::Wait(at) => at,
        };
        let sleep = async {
            match wait {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = conn.cut.cancelled() => return,
            () = conn.changed.notified() => {}
            () = sleep => {}
        }
    }
}

/// A request in flight; dropping it ends it.
#[derive(Debug)]
struct InFlight {
    conn: Arc<ConnState>,
    clock: Arc<AtomicU64>,
}

impl InFlight {
    /// The reply has data its client has not taken, since `now` (or is all handed on: `None`).
    fn waiting(&self, since: Option<Instant>) {
        let value = since.map_or(0, |t| self.conn.registry.millis(t) + 1);
        self.clock.store(value, Ordering::Release);
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.conn.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            let now = self.conn.registry.millis(Instant::now());
            self.conn.idle_since.store(now, Ordering::Release);
            // The watchdog may be waiting with no deadline: it must start the idle timer.
            self.conn.changed.notify_one();
        }
    }
}

/// A reservation of the reply budget; released when dropped.
#[derive(Debug)]
pub struct ReplyHold {
    registry: Arc<Registry>,
    ip: IpAddr,
    bytes: usize,
}

impl Drop for ReplyHold {
    fn drop(&mut self) {
        self.registry.release_reply(self.ip, self.bytes);
    }
}

/// A [`ReplyHold`] travelling with a reply in its response extensions (which need `Clone`), to
/// [`Guarded`], which keeps it until the reply is handed on.
#[derive(Debug, Clone)]
pub struct HeldReply(Arc<Mutex<Option<ReplyHold>>>);

impl HeldReply {
    pub fn new(hold: ReplyHold) -> HeldReply {
        HeldReply(Arc::new(Mutex::new(Some(hold))))
    }

    fn take(&self) -> Option<ReplyHold> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A gRPC frame (or several) sent before the reply body's own frames: a Watch's snapshot, encoded
/// by the handler (see the module doc). Travels in the response extensions.
#[derive(Debug, Clone)]
pub struct FirstFrame(Arc<Mutex<Option<Bytes>>>);

impl FirstFrame {
    pub fn new(frame: Bytes) -> FirstFrame {
        FirstFrame(Arc::new(Mutex::new(Some(frame))))
    }

    fn take(&self) -> Option<Bytes> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// In a request's extensions when it came through [`Guarded`], which sends [`FirstFrame`]s.
#[derive(Debug, Clone, Copy)]
pub struct SendsFirstFrames;

/// What tonic gives requests about their connection (the `ConnectInfo` of [`Conn`]).
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub remote: SocketAddr,
    state: Arc<ConnState>,
}

impl ConnInfo {
    /// The connection a request came on, from its extensions (plaintext or TLS).
    pub fn of(extensions: &http::Extensions) -> Option<&ConnInfo> {
        extensions.get::<ConnInfo>().or_else(|| {
            extensions
                .get::<TlsConnectInfo<ConnInfo>>()
                .map(TlsConnectInfo::get_ref)
        })
    }

    /// Reserves the reply budget for a reply of `bytes` (see the module doc); the error says why
    /// not, for a ResourceExhausted status.
    pub fn reserve(&self, bytes: usize) -> Result<ReplyHold, String> {
        let registry = &self.state.registry;
        registry.reserve(self.state.ip, bytes).inspect_err(|_| {
            registry.metrics.reply_refused();
        })
    }
}

/// An admitted TCP connection (see the module doc).
#[derive(Debug)]
pub struct Conn {
    io: TcpStream,
    remote: SocketAddr,
    state: Arc<ConnState>,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Conn {
    fn new(io: TcpStream, remote: SocketAddr, state: Arc<ConnState>) -> Conn {
        let cut = Box::pin(state.cut.clone().cancelled_owned());
        Conn {
            io,
            remote,
            state,
            cut,
        }
    }

    /// `Some(error)` once the watchdog cut the connection.
    fn poll_cut(&mut self, cx: &mut Context<'_>) -> Option<io::Error> {
        if self.state.cut.is_cancelled() || self.cut.as_mut().poll(cx).is_ready() {
            let reason = self.state.cut_reason.get().map_or("closed", |r| r.label());
            return Some(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connection closed by weft-discovery ({reason})"),
            ));
        }
        None
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let registry = &self.state.registry;
        let mut inner = registry.lock();
        if self.state.uncount(&mut inner) {
            registry.metrics.connections_open(inner.total as u64);
        }
        drop(inner);
        // Ends the watchdog.
        self.state.cut.cancel();
    }
}

impl Connected for Conn {
    type ConnectInfo = ConnInfo;

    fn connect_info(&self) -> ConnInfo {
        ConnInfo {
            remote: self.remote,
            state: self.state.clone(),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(err) = this.poll_cut(cx) {
            return Poll::Ready(Err(err));
        }
        Pin::new(&mut this.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The accepted connections, as tonic's `serve_with_incoming` takes them: admitted by
/// `registry`, each with its watchdog running. Never yields an error: failed accepts back off
/// here (see [`AcceptBackoff`]), refused connections are closed here.
pub fn incoming(
    listener: TcpListener,
    registry: Arc<Registry>,
) -> impl Stream<Item = Result<Conn, io::Error>> + Send {
    futures::stream::unfold(
        (listener, registry, AcceptBackoff::default()),
        |(listener, registry, mut backoff)| async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    // The peer gave up between SYN and accept: nothing to do.
                    Err(err)
                        if matches!(
                            err.kind(),
                            io::ErrorKind::ConnectionAborted
                                | io::ErrorKind::ConnectionReset
                                | io::ErrorKind::Interrupted
                        ) =>
                    {
                        continue;
                    }
                    Err(err) => {
                        registry.metrics.accept_error();
                        let (delay, first) = backoff.failed();
                        if first {
                            tracing::warn!(
                                %err,
                                "accepting connections failed; retrying with backoff (up to {}ms; \
                                 discovery_server_accept_errors_total counts each failure)",
                                ACCEPT_BACKOFF_MAX.as_millis()
                            );
                        }
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                };
                if let Some(errors) = backoff.succeeded() {
                    tracing::info!(errors, "accepting connections again");
                }
                match registry.admit(peer.ip()) {
                    Ok(state) => {
                        let _ = stream.set_nodelay(true);
                        registry.metrics.connection_accepted();
                        tokio::spawn(watchdog(state.clone()));
                        let conn = Conn::new(stream, peer, state);
                        return Some((Ok(conn), (listener, registry, backoff)));
                    }
                    Err(refusal) => {
                        drop(stream);
                        registry.refused(peer, refusal);
                    }
                }
            }
        },
    )
}

/// The gRPC service seen from the connection: marks the connection busy while a request is in
/// flight, and hands large reply frames on in pieces, keeping the reply's budget reservation
/// until the last piece is handed on (see the module doc).
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
}

impl<S> Guarded<S> {
    pub fn new(inner: S) -> Guarded<S> {
        Guarded { inner }
    }
}

impl<S: NamedService> NamedService for Guarded<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> Service<http::Request<Body>> for Guarded<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let in_flight = ConnInfo::of(request.extensions()).map(|c| c.state.begin());
        request.extensions_mut().insert(SendsFirstFrames);
        let reply = self.inner.call(request);
        Box::pin(async move {
            let mut response = reply.await?;
            let extensions = response.extensions_mut();
            let hold = extensions.remove::<HeldReply>().and_then(|h| h.take());
            let first = extensions.remove::<FirstFrame>().and_then(|f| f.take());
            Ok(response.map(|body| {
                Body::new(GuardedBody {
                    inner: body,
                    in_flight,
                    hold,
                    rest: first.unwrap_or_default(),
                })
            }))
        })
    }
}

/// A reply body that hands frames larger than [`REPLY_CHUNK`] on in pieces, and keeps its
/// request in flight (and its budget reserved) while it lives.
#[derive(Debug)]
struct GuardedBody {
    inner: Body,
    in_flight: Option<InFlight>,
    hold: Option<ReplyHold>,
    /// What is left of a large frame (at first: the [`FirstFrame`], if any).
    rest: Bytes,
}

impl GuardedBody {
    fn piece(&mut self) -> Bytes {
        let piece = self.rest.split_to(self.rest.len().min(REPLY_CHUNK));
        let waiting = (!self.rest.is_empty()).then(Instant::now);
        if let Some(in_flight) = &self.in_flight {
            in_flight.waiting(waiting);
        }
        if waiting.is_none() {
            // The whole large frame is handed on: what is left in flight is at most one piece and
            // the client's window.
            self.hold = None;
        }
        piece
    }
}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        // Being polled again means HTTP/2 took the previous piece (it asks for the next frame
        // only once the stream has send capacity for what it already holds).
        if !this.rest.is_empty() {
            return Poll::Ready(Some(Ok(Frame::data(this.piece()))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) if data.len() > REPLY_CHUNK => {
                    this.rest = data;
                    Poll::Ready(Some(Ok(Frame::data(this.piece()))))
                }
                Ok(data) => {
                    // A small frame: the large one before it (if any) is long gone.
                    this.hold = None;
                    Poll::Ready(Some(Ok(Frame::data(data))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let rest = self.rest.len() as u64;
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ConnLimits {
        ConnLimits {
            max_connections: 3,
            max_connections_per_ip: 2,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            send_timeout: Duration::from_secs(60),
            max_pending_reply_bytes: 1000,
            max_pending_reply_bytes_per_ip: 600,
        }
    }

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn verdicts_follow_the_timeline() {
        let l = limits();
        let t0 = Instant::now();
        let fresh = Activity {
            accepted: t0,
            established: false,
            in_flight: 0,
            idle_since: t0,
            stalled_since: None,
        };
        // Silent since accept: cut at exactly the handshake timeout.
        assert_eq!(verdict(fresh, t0, &l), Verdict::Wait(Some(t0 + s(10))));
        assert_eq!(
            verdict(fresh, t0 + s(10), &l),
            Verdict::Cut(CutReason::Handshake)
        );
        // A request came: no handshake deadline any more; idle from when the last one ended.
        let idle = Activity {
            established: true,
            idle_since: t0 + s(5),
            ..fresh
        };
        assert_eq!(
            verdict(idle, t0 + s(100), &l),
            Verdict::Wait(Some(t0 + s(305)))
        );
        assert_eq!(
            verdict(idle, t0 + s(305), &l),
            Verdict::Cut(CutReason::Idle)
        );
        // A watch open for hours is not idle; it is looked at every quarter send timeout.
        let busy = Activity {
            in_flight: 1,
            ..idle
        };
        assert_eq!(
            verdict(busy, t0 + s(7200), &l),
            Verdict::Wait(Some(t0 + s(7215)))
        );
        // A reply its client does not take: cut at the send timeout, even with nothing else due.
        let stalled = Activity {
            stalled_since: Some(t0 + s(10)),
            ..busy
        };
        assert_eq!(
            verdict(stalled, t0 + s(69), &l),
            Verdict::Wait(Some(t0 + s(84)))
        );
        assert_eq!(
            verdict(stalled, t0 + s(70), &l),
            Verdict::Cut(CutReason::Send)
        );
    }

    #[test]
    fn accept_backoff_doubles_logs_once_and_resets() {
        let mut b = AcceptBackoff::default();
        assert_eq!(b.succeeded(), None, "nothing to report when all is well");
        assert_eq!(b.failed(), (ACCEPT_BACKOFF_MIN, true));
        assert_eq!(b.failed(), (ACCEPT_BACKOFF_MIN * 2, false));
        for _ in 0..20 {
            let (delay, first) = b.failed();
            assert!(!first && delay <= ACCEPT_BACKOFF_MAX);
        }
        assert_eq!(b.failed().0, ACCEPT_BACKOFF_MAX);
        assert_eq!(b.succeeded(), Some(23));
        assert_eq!(b.failed(), (ACCEPT_BACKOFF_MIN, true), "a new episode");
    }

    #[test]
    fn connection_cap_leaves_the_reserve() {
        assert_eq!(connection_cap(16_384, 1024), 1024 - FD_RESERVE as usize);
        assert_eq!(connection_cap(100, 1_048_576), 100);
        assert_eq!(connection_cap(100, 10), 1, "never zero");
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    #[tokio::test]
    async fn caps_per_ip_then_global_evicting_the_oldest_silent_connection() {
        let registry = Registry::new(limits(), Arc::new(Metrics::default()));
        let a1 = registry.admit(ip(1)).expect("first");
        let a2 = registry.admit(ip(1)).expect("second from the same IP");
        assert_eq!(registry.admit(ip(1)).err(), Some(Refusal::PerIp));
        // An IPv4-mapped address is the same IP.
        assert_eq!(
            registry.admit("::ffff:10.0.0.1".parse().expect("ip")).err(),
            Some(Refusal::PerIp)
        );

        let b = registry.admit(ip(2)).expect("another IP");
        assert_eq!(registry.counts().0, 3);
        // At the global cap: the oldest connection that has made no request (a1) makes room.
        let _a1_in_flight = a2.begin();
        let c = registry.admit(ip(3)).expect("room made");
        assert!(a1.cut.is_cancelled(), "a1 was evicted");
        assert_eq!(a1.cut_reason.get(), Some(&CutReason::Evicted));
        assert!(!a2.cut.is_cancelled() && !b.cut.is_cancelled());
        assert_eq!(registry.counts().0, 3);
        // b is the only silent one left; then c; then nobody can be evicted.
        let d = registry.admit(ip(4)).expect("b makes room");
        assert!(b.cut.is_cancelled());
        let _c = c.begin();
        let _d = d.begin();
        assert_eq!(registry.admit(ip(5)).err(), Some(Refusal::Global));
        // ip(1) has one connection left (a2) once a1 is gone for good.
        assert!(registry.admit(ip(1)).is_err(), "global cap still");
    }

    #[tokio::test]
    async fn ipv6_sources_count_by_64() {
        let v6 = |s: &str| s.parse::<IpAddr>().expect("ip");
        assert_eq!(source_of(v6("2001:db8:1:2:aaaa::1")), v6("2001:db8:1:2::"));
        assert_eq!(source_of(v6("::ffff:10.0.0.1")), ip(1));
        let registry = Registry::new(limits(), Arc::new(Metrics::default()));
        let _x1 = registry.admit(v6("2001:db8::1")).expect("v6");
        let _x2 = registry.admit(v6("2001:db8::ffff:1")).expect("same /64");
        assert_eq!(
            registry.admit(v6("2001:db8::2:3")).err(),
            Some(Refusal::PerIp),
            "a third from the same /64"
        );
        let _y = registry.admit(v6("2001:db8:0:1::1")).expect("another /64");
    }

    #[tokio::test]
    async fn reply_budget_global_and_per_ip() {
        let registry = Registry::new(limits(), Arc::new(Metrics::default()));
        let h1 = registry.reserve(ip(1), 500).expect("fits");
        let err = registry.reserve(ip(1), 200).expect_err("per IP: 700 > 600");
        assert!(err.contains("this address"), "{err}");
        let h2 = registry.reserve(ip(2), 500).expect("another IP");
        let err = registry.reserve(ip(3), 1).expect_err("global: 1001 > 1000");
        assert!(err.contains("the service holds 1000 bytes"), "{err}");
        drop(h1);
        assert_eq!(registry.counts().1, 500);
        let _h3 = registry.reserve(ip(1), 500).expect("released");
        drop(h2);
        assert_eq!(registry.counts().1, 500);
        assert_eq!(
            registry.lock().per_ip.len(),
            1,
            "empty entries are forgotten"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn in_flight_requests_drive_established_idle_and_stall() {
        let registry = Registry::new(limits(), Arc::new(Metrics::default()));
        let conn = registry.admit(ip(1)).expect("admit");
        let a = conn.activity();
        assert!(!a.established && a.in_flight == 0 && a.stalled_since.is_none());
        let request = conn.begin();
        tokio::time::advance(s(3)).await;
        let t = Instant::now();
        request.waiting(Some(t));
        let a = conn.activity();
        assert!(a.established);
        assert_eq!(a.in_flight, 1);
        assert_eq!(a.stalled_since, Some(t));
        request.waiting(None);
        assert_eq!(conn.activity().stalled_since, None);
        tokio::time::advance(s(2)).await;
        drop(request);
        let a = conn.activity();
        assert_eq!(a.in_flight, 0);
        assert_eq!(a.idle_since, Instant::now());
    }

    #[tokio::test(start_paused = true)]
    async fn watchdog_cuts_a_silent_connection_at_the_handshake_timeout() {
        let registry = Registry::new(limits(), Arc::new(Metrics::default()));
        let conn = registry.admit(ip(1)).expect("admit");
        let task = tokio::spawn(watchdog(conn.clone()));
        tokio::time::sleep(s(9)).await;
        assert!(!conn.cut.is_cancelled());
        tokio::time::sleep(s(2)).await;
        assert!(conn.cut.is_cancelled());
        assert_eq!(conn.cut_reason.get(), Some(&CutReason::Handshake));
        task.await.expect("watchdog ends");
        // An established connection is cut when idle, counted from its last request's end.
        let conn = registry.admit(ip(2)).expect("admit");
        let task = tokio::spawn(watchdog(conn.clone()));
        let request = conn.begin();
        tokio::time::sleep(s(1000)).await;
        assert!(!conn.cut.is_cancelled(), "busy for 1000 s");
        drop(request);
        tokio::time::sleep(s(299)).await;
        assert!(!conn.cut.is_cancelled());
        tokio::time::sleep(s(2)).await;
        assert_eq!(conn.cut_reason.get(), Some(&CutReason::Idle));
        task.await.expect("watchdog ends");
    }
}
