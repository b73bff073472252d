//! The node API's front door: accepts TCP connections, runs the mutual-TLS handshake under a
//! deadline, and hands tonic only connections whose client certificate chains to the cluster CA.
//!
//! Anyone who can reach the port can open connections before proving anything, so everything a
//! connection costs before its handshake completes is bounded:
//! - [`HANDSHAKE_TIMEOUT`]: a connection that has not completed the handshake by then is closed
//!   (silent TCP connections, half-sent ClientHellos).
//! - [`MAX_CONNECTIONS`] in all (fewer when the open-file limit is low, see
//!   [`connection_cap`]) and [`MAX_CONNECTIONS_PER_SOURCE`] per source address (IPv6: per /64).
//!   When a new connection finds a cap full, the oldest connection of that scope that is still
//!   in its handshake is closed to make room: an unauthenticated connection never keeps an
//!   authenticated client out; only when every connection in scope is authenticated is the new
//!   one refused.
//! - [`IDLE_TIMEOUT`]: a connection that sends nothing for that long is closed. Live clients
//!   always send something: the server pings every [`KEEPALIVE_INTERVAL`] and HTTP/2 answers.
//! - Accept errors (`EMFILE` when the process runs out of file descriptors) back off from
//!   [`ACCEPT_BACKOFF_MIN`] to [`ACCEPT_BACKOFF_MAX`] instead of spinning on the listener, with
//!   one warning per streak (a reminder every [`ACCEPT_WARN_EVERY`]) and one line when accepting
//!   works again ([`AcceptStreak`]).
//!
//! Timeline of an attacker's silent connection:
//! ```text
//! t=0 accept ── counted against both caps ── t=10s HANDSHAKE_TIMEOUT: closed, slot freed
//!        └── a newer connection finds the cap full ── closed at once (oldest in handshake first)
//! ```

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::tls::ServingCert;

/// A connection must complete the TLS handshake within this time.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection that sends nothing for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// The server pings every connection this often (HTTP/2 PING); clients answer, so a live
/// connection is never idle for [`IDLE_TIMEOUT`].
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// A ping not answered within this time closes the connection.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
/// Most connections open at once, in the handshake or served.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most connections open at once from one source address (one IPv6 /64).
pub const MAX_CONNECTIONS_PER_SOURCE: usize = 128;
/// File descriptors kept for everything but API connections (state files, netlink, the discovery
/// client, the WireGuard device) when the open-file limit caps the connections.
pub const FD_RESERVE: u64 = 256;
/// Fewest connections allowed whatever the open-file limit.
const MIN_CONNECTIONS: usize = 16;
/// First pause after a failed `accept`; doubled on every failure in a row.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause between two `accept` attempts that fail.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Handshaken connections waiting for tonic to pick them up.
const HANDOFF_QUEUE: usize = 64;

/// The global connection cap for an open-file limit of `nofile`: [`MAX_CONNECTIONS`], or fewer so
/// that [`FD_RESERVE`] descriptors stay free for the rest of weftd.
pub fn connection_cap(nofile: u64) -> usize {
    let room = usize::try_from(nofile.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
    room.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// What a per-source cap counts by: the address, IPv6 addresses by their /64 (one host usually has
/// a whole /64), IPv4-mapped IPv6 addresses as IPv4.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// Connection caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub total: usize,
    pub per_source: usize,
}

/// A connection's number; higher is younger.
pub type ConnId = u64;

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every connection from this source is authenticated and the per-source cap is full.
    SourceFull,
    /// Every connection is authenticated and the global cap is full.
    Full,
}

#[derive(Debug)]
struct Entry {
    source: IpAddr,
    established: bool,
}

/// Which connections are open, and the admission rule: pure bookkeeping, no I/O.
#[derive(Debug)]
pub struct Tracker {
    caps: Caps,
    next: ConnId,
    conns: BTreeMap<ConnId, Entry>,
    per_source: HashMap<IpAddr, usize>,
}

impl Tracker {
    pub fn new(caps: Caps) -> Tracker {
        Tracker {
            caps,
            next: 0,
            conns: BTreeMap::new(),
            per_source: HashMap::new(),
        }
    }

    /// Admits a connection from `ip`: its id and the connections to close to make room (the
    /// oldest still in their handshake; already forgotten here), or why it is refused.
    pub fn admit(&mut self, ip: IpAddr) -> Result<(ConnId, Vec<ConnId>), Refused> {
        let source = source_key(ip);
        let mut evict = Vec::new();
        if self.per_source.get(&source).copied().unwrap_or(0) >= self.caps.per_source {
            let oldest = self.oldest_in_handshake(Some(source));
            evict.push(oldest.ok_or(Refused::SourceFull)?);
        }
        if self.conns.len() - evict.len() >= self.caps.total {
            let oldest = self
                .conns
                .iter()
                .find(|(id, e)| !e.established && !evict.contains(id))
                .map(|(id, _)| *id);
            evict.push(oldest.ok_or(Refused::Full)?);
        }
        for id in &evict {
            self.release(*id);
        }
        let id = self.next;
        self.next += 1;
        self.conns.insert(
            id,
            Entry {
                source,
                established: false,
            },
        );
        *self.per_source.entry(source).or_default() += 1;
        Ok((id, evict))
    }

    fn oldest_in_handshake(&self, source: Option<IpAddr>) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|(_, e)| !e.established && source.is_none_or(|s| s == e.source))
            .map(|(id, _)| *id)
    }

    /// The connection completed its handshake: it can no longer be evicted.
    pub fn established(&mut self, id: ConnId) {
        if let Some(e) = self.conns.get_mut(&id) {
            e.established = true;
        }
    }

    /// The connection is gone (closed, failed, evicted); unknown ids are ignored.
    pub fn release(&mut self, id: ConnId) {
        if let Some(e) = self.conns.remove(&id)
            && let Some(n) = self.per_source.get_mut(&e.source)
        {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&e.source);
            }
        }
    }

    /// Open connections: (all, still in the handshake).
    pub fn counts(&self) -> (usize, usize) {
        let pending = self.conns.values().filter(|e| !e.established).count();
        (self.conns.len(), pending)
    }
}

/// The tracker and the handles that close connections still in their handshake.
#[derive(Debug)]
struct Shared {
    tracker: Tracker,
    evictors: HashMap<ConnId, CancellationToken>,
}

type SharedRef = Arc<Mutex<Shared>>;

fn lock(shared: &SharedRef) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Releases a connection's slot when it is dropped, whatever ended it.
#[derive(Debug)]
struct Slot {
    id: ConnId,
    shared: SharedRef,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut s = lock(&self.shared);
        s.evictors.remove(&self.id);
        s.tracker.release(self.id);
    }
}

/// A TCP connection that fails its reads once the peer has sent nothing for [`IDLE_TIMEOUT`], and
/// holds its slot while open.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    idle: Duration,
    last_read: Instant,
    timer: Pin<Box<Sleep>>,
    slot: Slot,
}

impl Conn {
    fn new(stream: TcpStream, idle: Duration, slot: Slot) -> Conn {
        let now = Instant::now();
        Conn {
            stream,
            idle,
            last_read: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            slot,
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    // The timer is re-armed lazily, when it fires (no timer update per read).
                    this.last_read = Instant::now();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => loop {
                let deadline = this.last_read + this.idle;
                if this.timer.deadline() != deadline {
                    this.timer.as_mut().reset(deadline);
                }
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if this.last_read + this.idle <= Instant::now() {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("nothing received for {}s", this.idle.as_secs()),
                    )));
                }
            },
            other => other,
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The TCP addresses, so tonic's `Request::peer_certs` finds the client certificate next to them.
impl Connected for Conn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}

/// The rustls server settings: the serving certificate, client certificates required and verified
/// against the cluster CA, HTTP/2 only.
pub fn tls_acceptor(serving: &ServingCert) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(serving.ca_pem.as_bytes()) {
        roots
            .add(ca.context("the cluster CA certificate")?)
            .context("the cluster CA certificate")?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("client certificate verifier")?;
    let chain = CertificateDer::pem_slice_iter(serving.crt_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("the serving certificate")?;
    let key = PrivateKeyDer::from_pem_slice(serving.key_pem.as_bytes())
        .context("the serving certificate's key")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS versions")?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the serving certificate")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// How the front door behaves; [`Limits::default`] is what weftd runs with.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub caps: Caps,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Limits {
    /// The defaults, with the global cap fitted to the open-file limit `nofile`.
    pub fn for_nofile(nofile: u64) -> Limits {
        Limits {
            caps: Caps {
                total: connection_cap(nofile),
                per_source: MAX_CONNECTIONS_PER_SOURCE,
            },
            handshake_timeout: HANDSHAKE_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// Handshaken connections, for `Server::serve_with_incoming_shutdown`.
pub type Incoming = tokio_stream::wrappers::ReceiverStream<io::Result<TlsStream<Conn>>>;

/// Starts accepting on `listener` until `shutdown`; the returned stream yields authenticated
/// connections.
pub fn incoming(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    limits: Limits,
    shutdown: CancellationToken,
) -> Incoming {
    let (tx, rx) = mpsc::channel(HANDOFF_QUEUE);
    let shared = Arc::new(Mutex::new(Shared {
        tracker: Tracker::new(limits.caps),
        evictors: HashMap::new(),
    }));
    tokio::spawn(accept_loop(
        listener, acceptor, limits, shared, tx, shutdown,
    ));
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Accept errors that concern one connection only (it went away before we took it).
fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    )
}

/// While `accept` keeps failing, at most one warning per this interval.
pub const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(60);
/// A streak of failing accepts ends at the first success this long after its last failure (a
/// process out of descriptors alternates: a connection freed, one accepted, failing again).
pub const ACCEPT_QUIET: Duration = Duration::from_secs(5);

/// What to log about failing accepts: one warning when a streak starts (and once per
/// [`ACCEPT_WARN_EVERY`] while it lasts), one line when it ends. Pure: the caller passes the time.
#[derive(Debug, Default)]
pub struct AcceptStreak {
    streak: Option<Streak>,
}

#[derive(Debug)]
struct Streak {
    failures: u64,
    last_failure: std::time::Instant,
    warned_at: std::time::Instant,
}

/// A line to log about failing accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreakLine {
    /// Accepting started failing.
    Started,
    /// Still failing: this many failures so far.
    Still(u64),
    /// Accepting works again after this many failures.
    Ended(u64),
}

impl AcceptStreak {
    /// An accept failed at `now`.
    pub fn failed(&mut self, now: std::time::Instant) -> Option<StreakLine> {
        match &mut self.streak {
            None => {
                self.streak = Some(Streak {
                    failures: 1,
                    last_failure: now,
                    warned_at: now,
                });
                Some(StreakLine::Started)
            }
            Some(s) => {
                s.failures += 1;
                s.last_failure = now;
                (now.duration_since(s.warned_at) >= ACCEPT_WARN_EVERY).then(|| {
                    s.warned_at = now;
                    StreakLine::Still(s.failures)
                })
            }
        }
    }

    /// An accept succeeded at `now`.
    pub fn succeeded(&mut self, now: std::time::Instant) -> Option<StreakLine> {
        let quiet = self
            .streak
            .as_ref()
            .is_some_and(|s| now.duration_since(s.last_failure) >= ACCEPT_QUIET);
        if !quiet {
            return None;
        }
        self.streak.take().map(|s| StreakLine::Ended(s.failures))
    }
}

/// The pause after the `failures`-th failed accept in a row (1-based).
pub fn accept_backoff(failures: u32) -> Duration {
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    ACCEPT_BACKOFF_MIN
        .saturating_mul(factor)
        .min(ACCEPT_BACKOFF_MAX)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    limits: Limits,
    shared: SharedRef,
    tx: mpsc::Sender<io::Result<TlsStream<Conn>>>,
    shutdown: CancellationToken,
) {
    // Failures in a row (the backoff), and the streak they belong to (the log lines).
    let mut failures: u32 = 0;
    let mut streak = AcceptStreak::default();
    let mut refused: u64 = 0;
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(err) if is_per_connection(&err) => continue,
            Err(err) => {
                failures = failures.saturating_add(1);
                let line = streak.failed(std::time::Instant::now());
                if let Some(line) = line {
                    let (open, pending) = lock(&shared).tracker.counts();
                    match line {
                        StreakLine::Still(n) => {
                            tracing::warn!(%err, failed_attempts = n, open, in_handshake = pending, "accepting node API connections still fails; backing off")
                        }
                        _ => {
                            tracing::warn!(%err, open, in_handshake = pending, "accepting node API connections failed; backing off until it works again")
                        }
                    }
                }
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(accept_backoff(failures)) => {}
                }
                continue;
            }
        };
        failures = 0;
        if let Some(StreakLine::Ended(n)) = streak.succeeded(std::time::Instant::now()) {
            tracing::info!(failed_attempts = n, "accepting node API connections again");
        }
        let (slot, evicted) = {
            let mut s = lock(&shared);
            match s.tracker.admit(peer.ip()) {
                Ok((id, evict)) => {
                    let evicted: Vec<CancellationToken> = evict
                        .iter()
                        .filter_map(|old| s.evictors.remove(old))
                        .collect();
                    let token = CancellationToken::new();
                    s.evictors.insert(id, token.clone());
                    (
                        Some((
                            Slot {
                                id,
                                shared: Arc::clone(&shared),
                            },
                            token,
                        )),
                        evicted,
                    )
                }
                Err(why) => {
                    refused += 1;
                    // One line for the first refusal and then one per power of two.
                    if refused.is_power_of_two() {
                        tracing::warn!(peer = %peer, reason = ?why, refused_so_far = refused, "node API connection refused: every connection in its scope is authenticated");
                    }
                    (None, Vec::new())
                }
            }
        };
        for token in evicted {
            token.cancel();
        }
        let Some((slot, token)) = slot else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = Conn::new(stream, limits.idle_timeout, slot);
        tokio::spawn(handshake(
            conn,
            peer,
            acceptor.clone(),
            limits.handshake_timeout,
            token,
            Arc::clone(&shared),
            tx.clone(),
        ));
    }
}

async fn handshake(
    conn: Conn,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    timeout: Duration,
    evicted: CancellationToken,
    shared: SharedRef,
    tx: mpsc::Sender<io::Result<TlsStream<Conn>>>,
) {
    let id = conn.slot.id;
    let outcome = tokio::select! {
        () = evicted.cancelled() => Err("closed to make room for a newer connection".to_owned()),
        r = tokio::time::timeout(timeout, acceptor.accept(conn)) => match r {
            Ok(Ok(tls)) => Ok(tls),
            Ok(Err(err)) => Err(format!("TLS handshake: {err}")),
            Err(_) => Err(format!("no TLS handshake within {}s", timeout.as_secs())),
        },
    };
    match outcome {
        Ok(tls) => {
            {
                let mut s = lock(&shared);
                s.evictors.remove(&id);
                s.tracker.established(id);
            }
            // The server is gone when this fails (shutting down): the connection just closes.
            let _ = tx.send(Ok(tls)).await;
        }
        Err(why) => tracing::debug!(%peer, %why, "node API connection closed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn cap_follows_the_open_file_limit() {
        assert_eq!(connection_cap(1 << 20), MAX_CONNECTIONS);
        assert_eq!(connection_cap(u64::MAX), MAX_CONNECTIONS);
        assert_eq!(connection_cap(1024), 1024 - 256);
        assert_eq!(connection_cap(100), MIN_CONNECTIONS);
    }

    #[test]
    fn sources_are_addresses_and_ipv6_slash_64s() {
        assert_eq!(source_key(ip("10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(source_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            source_key(ip("2001:db8:1:2:ffff::9")),
            source_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(source_key(ip("2001:db8:1:3::1")), ip("2001:db8:1:2::"));
        assert_eq!(source_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let got: Vec<u64> = (1..=9)
            .map(|n| accept_backoff(n).as_millis() as u64)
            .collect();
        assert_eq!(got, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(accept_backoff(u32::MAX), ACCEPT_BACKOFF_MAX);
    }

    #[test]
    fn failing_accepts_log_once_per_streak() {
        let t0 = std::time::Instant::now();
        let at = |s: u64| t0 + Duration::from_millis(s);
        let mut streak = AcceptStreak::default();
        assert_eq!(streak.succeeded(at(0)), None, "nothing to end");
        assert_eq!(streak.failed(at(0)), Some(StreakLine::Started));
        // Flapping (one accepted, failing again) stays one streak, without lines.
        for ms in (10..4000).step_by(10) {
            assert_eq!(streak.succeeded(at(ms)), None);
            assert_eq!(streak.failed(at(ms + 1)), None);
        }
        // A reminder once a minute while it lasts.
        assert_eq!(streak.failed(at(60_000)), Some(StreakLine::Still(401)));
        assert_eq!(streak.failed(at(61_000)), None);
        // The first success after ACCEPT_QUIET without failures ends it, once.
        assert_eq!(streak.succeeded(at(65_000)), None);
        assert_eq!(streak.succeeded(at(66_000)), Some(StreakLine::Ended(402)));
        assert_eq!(streak.succeeded(at(67_000)), None);
        assert_eq!(streak.failed(at(68_000)), Some(StreakLine::Started));
    }

    #[test]
    fn a_full_source_makes_room_by_closing_its_oldest_handshake() {
        let mut t = Tracker::new(Caps {
            total: 10,
            per_source: 3,
        });
        let a = ip("10.0.0.1");
        let ids: Vec<ConnId> = (0..3).map(|_| t.admit(a).expect("admit").0).collect();
        t.established(ids[0]);
        // Full: the oldest still in its handshake (ids[1]) goes, not the authenticated ids[0].
        let (new, evicted) = t.admit(a).expect("admit");
        assert_eq!(evicted, [ids[1]]);
        assert_eq!(t.counts(), (3, 2));
        // Other sources are not affected.
        assert_eq!(t.admit(ip("10.0.0.2")).expect("admit").1, []);
        // Every connection of the source authenticated: refused.
        t.established(ids[2]);
        t.established(new);
        assert_eq!(t.admit(a), Err(Refused::SourceFull));
        // A closed one frees its place.
        t.release(ids[0]);
        assert_eq!(t.admit(a).expect("admit").1, []);
    }

    #[test]
    fn a_full_server_makes_room_by_closing_the_oldest_handshake_anywhere() {
        let mut t = Tracker::new(Caps {
            total: 4,
            per_source: 3,
        });
        let first = t.admit(ip("10.0.0.1")).expect("admit").0;
        t.established(first);
        let attack: Vec<ConnId> = (2..5)
            .map(|i| t.admit(ip(&format!("10.0.1.{i}"))).expect("admit").0)
            .collect();
        // The server is full; a client from a new source gets in by closing attack[0].
        let (client, evicted) = t.admit(ip("10.0.0.9")).expect("admit");
        assert_eq!(evicted, [attack[0]]);
        t.established(client);
        assert_eq!(t.counts(), (4, 2));
        // Everything authenticated: refused, and nothing counted for it.
        let mut t3 = Tracker::new(Caps {
            total: 2,
            per_source: 2,
        });
        for i in 0..2 {
            let id = t3.admit(ip(&format!("10.0.0.{i}"))).expect("admit").0;
            t3.established(id);
        }
        assert_eq!(t3.admit(ip("10.0.0.9")), Err(Refused::Full));
        assert_eq!(t3.counts(), (2, 0));
    }

    #[test]
    fn release_is_idempotent_and_forgets_empty_sources() {
        let mut t = Tracker::new(Caps {
            total: 4,
            per_source: 4,
        });
        let (id, _) = t.admit(ip("10.0.0.1")).expect("admit");
        t.release(id);
        t.release(id);
        t.release(999);
        assert_eq!(t.counts(), (0, 0));
        assert!(t.per_source.is_empty());
    }

    /// The idle timer against a real socket pair, with paused time: a peer that sends keeps the
    /// connection, a silent one gets `TimedOut` after exactly the idle time.
    #[tokio::test(start_paused = true)]
    async fn silence_for_the_idle_time_fails_the_read() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let shared = Arc::new(Mutex::new(Shared {
            tracker: Tracker::new(Caps {
                total: 1,
                per_source: 1,
            }),
            evictors: HashMap::new(),
        }));
        let (id, _) = lock(&shared).tracker.admit(ip("127.0.0.1")).expect("admit");
        let idle = Duration::from_secs(120);
        let mut conn = Conn::new(
            server,
            idle,
            Slot {
                id,
                shared: Arc::clone(&shared),
            },
        );
        let start = Instant::now();
        let mut buf = [0u8; 8];
        // Data 100 s in pushes the deadline to 220 s.
        tokio::time::sleep(Duration::from_secs(100)).await;
        client.write_all(b"hi").await.expect("write");
        assert_eq!(conn.read(&mut buf).await.expect("read"), 2);
        let err = conn.read(&mut buf).await.expect_err("idle");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(220) && waited < Duration::from_secs(221),
            "{waited:?}"
        );
        drop(conn);
        assert_eq!(
            lock(&shared).tracker.counts(),
            (0, 0),
            "the slot is released"
        );
    }
}
