//! One discovery service client: a task that keeps a watch on the cluster open, keeps this node's
//! affiliate published, and reports what it learns.
//!
//! ```text
//!        ┌──────────────── wait backoff (0.5 s ×1.5 ±50 %, ≤ 60 s) ◄──────────────┐
//!        ▼                                                                        │ error
//!  dial ─► Hello (10 s; store client IP; redirect ⇒ dial there, ≤ 5 times) ─► Watch ─► push
//!                                                                                    │
//!   ┌────────────────────────────────────────────────────────────────────────────────┘
//!   ▼
//!  wait for: watch message │ announcement change │ refresh due (15 min after the last push) │ stop
//!            apply it        push if it differs     push again
//! ```
//!
//! Which calls are due and what their outcomes mean is a pure value,
//! [`super::publications::Publications`] (table-tested there without I/O); this task performs
//! the calls through [`rpc`] (a timeout, the gRPC code kept in a [`CallError`]) and reacts to the
//! watch.
//!
//! Besides its own, the client keeps the affiliates this node publishes on behalf of others
//! published — external peers ([`ClientHandle::publish_extras`], by affiliate id): each pushed on
//! every (re)connect, when it changes and when its own refresh is due, and deleted
//! (AffiliateDelete) once it is no longer asked for, also after a reconnect if the service may
//! still hold it. A leave does not touch them (it withdraws this node only); a retiring client
//! deletes them with its own.
//!
//! With `harvestExtraEndpoints` it also publishes endpoints peers were seen at
//! ([`ClientHandle::publish_endpoints`], by the peer's affiliate id): endpoint-only updates (no
//! data), which the service merges into that peer's affiliate, as Talos's client does. They are
//! pushed when they change and when their refresh is due, never deleted (a delete would remove
//! the peer's whole affiliate): one no longer seen expires with its TTL.
//!
//! - The first watch message is a snapshot and replaces what was known; this node's own id is
//!   skipped; `deleted` removes; an affiliate without data is not known yet; one that does not
//!   decrypt or decode is logged and skipped — it never stops the others.
//! - A push (TTL 30 min) happens after every (re)connect, when the announcement changes and when
//!   the refresh is due — never merely because a watch message arrived, so the client's own update
//!   coming back through its watch cannot loop.
//! - What was discovered is kept across reconnects (peers keep working while the service is down)
//!   and replaced by the next snapshot.
//! - Stopping ([`ClientHandle`] dropped, e.g. weftd shutting down) leaves the affiliate to expire
//!   with its TTL: the node is expected back. Retiring (the service was removed from the config)
//!   and withdrawing (`weftctl leave`) delete it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weft_api::discovery::affiliate::ip_from_bytes;
use weft_api::discovery::affiliate::{AffiliateError, SealedAffiliate};
use weft_api::discovery::{Cipher, open_affiliate, seal_affiliate, seal_leaving};
use weft_api::proto::discovery::server::{
    Affiliate, AffiliateDeleteRequest, AffiliateUpdateRequest, HelloRequest, HelloResponse,
    WatchRequest, WatchResponse,
};
use weft_api::resources::cluster::AffiliateSpec;

use super::backoff::Backoff;
use super::endpoint::{EndpointError, Target};
use super::publications::{Call, Outcome, Publications, Recorded, Wanted, Whose};
use super::throttle::Throttle;
use super::transport::{Connection, Dialer, WatchStream};

/// Lifetime the service gives the affiliate (Sidero's maximum).
pub const TTL: Duration = Duration::from_secs(30 * 60);
/// Re-push interval: half the TTL, so one lost refresh does not expire the node.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// Timeout of Hello and of opening the watch.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of AffiliateUpdate and AffiliateDelete.
pub const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a retiring client tries to delete its affiliate before giving up (it then expires).
pub const GOODBYE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most redirects followed in one connection attempt (a loop between two services ends here).
pub const MAX_REDIRECTS: usize = 5;
/// Most affiliates kept from one service: Sidero's per-cluster limit. A service that sends more
/// is not trusted with more memory.
pub const MAX_DISCOVERED_AFFILIATES: usize = 1024;
/// Longest error text kept in a report: a service's messages are untrusted text.
pub const MAX_ERROR_LEN: usize = 512;
/// What this client calls itself in Hello (`client_version`, a metrics label on the service).
pub const CLIENT_VERSION: &str = concat!("weftd v", env!("CARGO_PKG_VERSION"));

/// Affiliates this node publishes on behalf of others (external peers), by affiliate id.
pub type Extras = BTreeMap<String, AffiliateSpec>;

/// Endpoints this node saw peers at (harvested), by the peer's affiliate id.
pub type Harvested = BTreeMap<String, BTreeSet<SocketAddr>>;

/// How long an affiliate that disappeared from the service — deleted, or missing from a new
/// snapshot — is still kept, counted from when it was last stored or updated: the longest TTL a
/// node gives its affiliate (Sidero's maximum, 30 min). Anyone who knows the cluster id can delete
/// affiliates at a service that does not check owners (Sidero's), so a delete alone must not make
/// the node drop a peer — that would remove its WireGuard peer and its traffic capture, and with
/// them send its traffic in clear. A peer that really went away expires at the service at the
/// same moment its grace ends; one that leaves with `weftctl leave` says so first
/// ([`weft_api::discovery::seal_leaving`]) and is dropped at once.
pub const GRACE: Duration = TTL;
/// A session must have lasted this long for its failure to reset the reconnect backoff: a
/// service that takes pushes but breaks every watch (too large to decode, say) must not be
/// reconnected to — and its whole snapshot pulled again — every half second.
pub const HEALTHY_SESSION: Duration = Duration::from_secs(30);

/// When harvested endpoints the service refused are offered again.
pub const HARVEST_RETRY: Duration = Duration::from_secs(60);
/// Most peers whose harvested endpoints one client publishes (as many as it keeps affiliates).
pub const MAX_HARVESTED_PEERS: usize = MAX_DISCOVERED_AFFILIATES;

/// What the client should do about this node's own affiliate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Announcement {
    /// Nothing yet (no local affiliate): watch only.
    #[default]
    Nothing,
    /// Keep this affiliate published (boxed: the other variants are empty).
    Announce(Box<AffiliateSpec>),
    /// Delete this node's affiliate and publish nothing (`weftctl leave`).
    Withdraw,
}

/// What one client knows; read by the discovery controller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientReport {
    /// Other nodes, by node id.
    pub affiliates: BTreeMap<String, AffiliateSpec>,
    /// This node's address as the service saw it in the last Hello.
    pub public_ip: Option<IpAddr>,
    /// A watch is open.
    pub connected: bool,
    /// This node's affiliate was stored by the service (as far as the client knows).
    pub announced: bool,
    /// The service confirmed the affiliate's deletion after a withdrawal.
    pub left: bool,
    /// The last failure, cleared by the next successful watch.
    pub last_error: Option<String>,
    /// Counts since weftd started, for metrics.
    pub counters: ClientCounters,
}

/// What a client has done since weftd started. A change of these alone tells the controller at
/// most once per [`COUNTERS_NEWS_INTERVAL`]: every watch message bumps them, and a service that
/// pushes messages changing nothing else must not cost a reconcile and a status write each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCounters {
    /// Sessions opened (a watch established).
    pub sessions: u64,
    /// Publishing calls the service accepted (affiliate updates and deletes, endpoint updates).
    pub updates: u64,
    /// Watch messages applied (snapshots and pushes).
    pub watch_messages: u64,
}

/// How stale the counters in a client's report may get before a change of them alone is news.
pub const COUNTERS_NEWS_INTERVAL: Duration = Duration::from_secs(10);

/// Who the client is and where it goes.
#[derive(Debug, Clone)]
pub struct ClientParams {
    pub target: Target,
    /// Sent raw, as configured.
    pub cluster_id: String,
    /// This node's id, the affiliate id (sent raw).
    pub node_id: String,
    pub cipher: Cipher,
}

/// Locks shrugging off poisoning: reports are plain data, always consistent between statements.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The report and the "something changed" signal shared with the controller.
#[derive(Debug, Clone)]
struct Reporter {
    report: Arc<Mutex<ClientReport>>,
    news: Arc<watch::Sender<()>>,
    /// When news was last raised (counters are news again [`COUNTERS_NEWS_INTERVAL`] after it).
    last_news: Arc<Mutex<Option<Instant>>>,
}

impl Reporter {
    fn update(&self, f: impl FnOnce(&mut ClientReport)) {
        let changed = {
            let mut report = lock(&self.report);
            let mut before = report.clone();
            f(&mut report);
            let counted = report.counters != before.counters;
            before.counters = report.counters;
            let mut last = lock(&self.last_news);
            let news = *report != before
                || (counted && last.is_none_or(|at| at.elapsed() >= COUNTERS_NEWS_INTERVAL));
            if news {
                *last = Some(Instant::now());
            }
            news
        };
        if changed {
            self.news.send_replace(());
        }
    }
}

/// A running client. Dropping it stops the task without deleting the affiliate.
#[derive(Debug)]
pub struct ClientHandle {
    report: Arc<Mutex<ClientReport>>,
    announce: watch::Sender<Announcement>,
    extras: watch::Sender<Extras>,
    harvested: watch::Sender<Harvested>,
    stop: CancellationToken,
    retire: CancellationToken,
    retired: bool,
}

impl ClientHandle {
    /// Starts a client; it signals `news` whenever its report changes.
    pub fn spawn<D: Dialer>(
        dialer: Arc<D>,
        params: ClientParams,
        announcement: Announcement,
        news: Arc<watch::Sender<()>>,
    ) -> ClientHandle {
        let report = Arc::new(Mutex::new(ClientReport::default()));
        let (announce, announce_rx) = watch::channel(announcement);
        let (extras, extras_rx) = watch::channel(Extras::new());
        let (harvested, harvested_rx) = watch::channel(Harvested::new());
        let stop = CancellationToken::new();
        let retire = CancellationToken::new();
        let client = Client {
            dialer,
            publications: Publications::new(&params.node_id),
            params,
            announce: announce_rx,
            extras: extras_rx,
            harvested: harvested_rx,
            reporter: Reporter {
                report: report.clone(),
                news,
                last_news: Arc::default(),
            },
            stop: stop.clone(),
            retire: retire.clone(),
            seen: BTreeMap::new(),
            grace: BTreeMap::new(),
            undecodable: Throttle::default(),
            overflow: Throttle::default(),
        };
        tokio::spawn(client.run());
        ClientHandle {
            report,
            announce,
            extras,
            harvested,
            stop,
            retire,
            retired: false,
        }
    }

    /// Changes what the client announces (no-op when unchanged).
    pub fn announce(&self, announcement: &Announcement) {
        self.announce.send_if_modified(|current| {
            if current == announcement {
                false
            } else {
                current.clone_from(announcement);
                true
            }
        });
    }

    /// Changes the affiliates published on behalf of others (no-op when unchanged). Their ids
    /// must differ from this node's.
    pub fn publish_extras(&self, extras: &Extras) {
        self.extras.send_if_modified(|current| {
            if current == extras {
                false
            } else {
                current.clone_from(extras);
                true
            }
        });
    }

    /// Changes the endpoints published for peers (no-op when unchanged). An id equal to this
    /// node's is ignored; past [`MAX_HARVESTED_PEERS`] peers the rest are.
    pub fn publish_endpoints(&self, harvested: &Harvested) {
        self.harvested.send_if_modified(|current| {
            if current == harvested {
                false
            } else {
                current.clone_from(harvested);
                true
            }
        });
    }

    /// What the client knows now.
    pub fn report(&self) -> ClientReport {
        lock(&self.report).clone()
    }

    /// Stops the client after it deletes this node's affiliate from the service (bounded by
    /// [`GOODBYE_TIMEOUT`]), because the service is no longer configured.
    pub fn retire(mut self) {
        self.retired = true;
        self.retire.cancel();
    }
}

impl Drop for ClientHandle {
    fn drop(&mut self) {
        if !self.retired {
            self.stop.cancel();
        }
    }
}

/// What one watch message says about one affiliate.
enum Change {
    /// Store or update it.
    Store(Box<AffiliateSpec>),
    /// The service deleted it: held for its grace period.
    Deleted,
    /// The node said it is leaving: drop it now.
    Leaving,
}

/// Why a session ended.
enum Ended<C> {
    /// Stopped by the handle: end quietly.
    Stopped,
    /// Retired: say goodbye on this connection (if any), then end.
    Retired(Option<C>),
    /// Failed: report, back off, reconnect. `refreshed`: the session pushed successfully, which
    /// resets the backoff if the session also lasted [`HEALTHY_SESSION`].
    Failed { error: CallError, refreshed: bool },
}

struct Client<D: Dialer> {
    dialer: Arc<D>,
    params: ClientParams,
    announce: watch::Receiver<Announcement>,
    extras: watch::Receiver<Extras>,
    harvested: watch::Receiver<Harvested>,
    /// What is published, and what is due (see [`Publications`]).
    publications: Publications,
    reporter: Reporter,
    stop: CancellationToken,
    retire: CancellationToken,
    /// When each discovered affiliate was last stored or updated by a watch message.
    seen: BTreeMap<String, Instant>,
    /// Affiliates that left the service without a verified leave, kept until then (fail
    /// closed: see [`GRACE`]).
    grace: BTreeMap<String, Instant>,
    /// Warnings untrusted input can repeat, one line a minute each.
    undecodable: Throttle,
    overflow: Throttle,
}

/// Error text fit for logs and resources: control characters replaced, length bounded.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_ERROR_LEN)
        .collect();
    if text.chars().count() > MAX_ERROR_LEN {
        out.push('…');
    }
    out
}

/// An error and its causes on one line, each cause once (transport errors repeat their source in
/// their own message), sanitized.
fn error_text(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if parts.iter().any(|p| p.contains(&part)) {
            continue;
        }
        match parts.last_mut() {
            // "tcp connect error" then "tcp connect error: refused": keep the longer.
            Some(last) if part.starts_with(last.as_str()) => *last = part,
            _ => parts.push(part),
        }
    }
    sanitize(&parts.join(": "))
}

/// [`TTL`] as the protocol sends it.
fn ttl_proto() -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(TTL.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    }
}

/// A peer-supplied id, safe to log.
fn show_id(id: &str) -> String {
    format!("{:?}", id.chars().take(64).collect::<String>())
}

impl<D: Dialer> Client<D> {
    async fn run(mut self) {
        let mut backoff = Backoff::new();
        let mut first = true;
        loop {
            if !first {
                let delay = backoff.next_delay();
                tracing::debug!(service = %self.params.target, ?delay, "reconnecting after backoff");
                tokio::select! {
                    biased;
                    () = self.stop.cancelled() => return,
                    () = self.retire.cancelled() => {
                        self.goodbye(None).await;
                        return;
                    }
                    () = tokio::time::sleep(delay) => {}
                }
            }
            first = false;
            let started = Instant::now();
            match self.session().await {
                Ended::Stopped => return,
                Ended::Retired(conn) => {
                    self.goodbye(conn).await;
                    return;
                }
                Ended::Failed { error, refreshed } => {
                    let error = sanitize(&error.to_string());
                    tracing::warn!(service = %self.params.target, error = %error, "discovery service connection failed");
                    self.reporter.update(|r| {
                        r.connected = false;
                        r.last_error = Some(error);
                    });
                    if refreshed && started.elapsed() >= HEALTHY_SESSION {
                        backoff.reset();
                    }
                }
            }
        }
    }

    /// Dials and says Hello, following redirects.
    async fn connect(&self) -> Result<(D::Conn, HelloResponse), CallError> {
        let mut target = self.params.target.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut conn = match tokio::time::timeout(
                super::transport::CONNECT_TIMEOUT,
                self.dialer.dial(&target),
            )
            .await
            {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(CallError::Dial(error_text(&e))),
                Err(_) => return Err(CallError::DialTimedOut(target)),
            };
            let hello = HelloRequest {
                cluster_id: self.params.cluster_id.clone(),
                client_version: CLIENT_VERSION.to_owned(),
            };
            let reply = rpc("hello", RPC_TIMEOUT, conn.hello(hello)).await?;
            match &reply.redirect {
                Some(redirect) => {
                    target = target
                        .redirect(&redirect.endpoint)
                        .map_err(CallError::BadRedirect)?;
                    tracing::info!(service = %self.params.target, to = %target, "discovery service redirects");
                }
                None => return Ok((conn, reply)),
            }
        }
        Err(CallError::TooManyRedirects)
    }

    /// Connects, stores the client IP the service saw, and opens the watch.
    async fn open(&self) -> Result<(D::Conn, WatchStream), CallError> {
        let (mut conn, hello) = self.connect().await?;
        let public_ip = match ip_from_bytes("client_ip", &hello.client_ip) {
            // A dual-stack service reports IPv4 clients as mapped IPv6 addresses.
            Ok(ip) => Some(ip.to_canonical()),
            Err(_) if hello.client_ip.is_empty() => None,
            Err(e) => {
                tracing::warn!(service = %self.params.target, error = %e, "ignoring the client IP in the Hello reply");
                None
            }
        };
        self.reporter.update(|r| r.public_ip = public_ip);
        let request = WatchRequest {
            cluster_id: self.params.cluster_id.clone(),
        };
        let stream = rpc("watch", RPC_TIMEOUT, conn.watch(request)).await?;
        Ok((conn, stream))
    }

    /// One connection's life: connect, watch, push what is due, react.
    async fn session(&mut self) -> Ended<D::Conn> {
        let opened = tokio::select! {
            biased;
            () = self.stop.cancelled() => return Ended::Stopped,
            () = self.retire.cancelled() => return Ended::Retired(None),
            opened = self.open() => opened,
        };
        let (mut conn, mut stream) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                return Ended::Failed {
                    error,
                    refreshed: false,
                };
            }
        };
        self.reporter.update(|r| {
            r.connected = true;
            r.last_error = None;
            r.counters.sessions += 1;
        });
        tracing::info!(service = %self.params.target, "watching the discovery service");
        self.publications.new_session();
        let mut snapshot = true;
        loop {
            if let Err(error) = self.publish(&mut conn).await {
                let refreshed = self.publications.refreshed();
                return Ended::Failed { error, refreshed };
            }
            let next_grace = self.grace.values().min().copied();
            let next_refresh = self.publications.next_due();
            let failed = |error| Ended::Failed {
                error,
                refreshed: self.publications.refreshed(),
            };
            tokio::select! {
                biased;
                () = self.stop.cancelled() => return Ended::Stopped,
                () = self.retire.cancelled() => return Ended::Retired(Some(conn)),
                changed = self.announce.changed() => {
                    if changed.is_err() {
                        return Ended::Stopped;
                    }
                }
                changed = self.extras.changed() => {
                    if changed.is_err() {
                        return Ended::Stopped;
                    }
                }
                changed = self.harvested.changed() => {
                    if changed.is_err() {
                        return Ended::Stopped;
                    }
                }
                () = tokio::time::sleep_until(next_refresh.unwrap_or_else(Instant::now)), if next_refresh.is_some() => {}
                () = tokio::time::sleep_until(next_grace.unwrap_or_else(Instant::now)), if next_grace.is_some() => {
                    self.expire_grace(Instant::now());
                }
                message = stream.next() => match message {
                    Some(Ok(response)) => {
                        let own_gone = self.apply(response, snapshot);
                        snapshot = false;
                        // Deleted at the service (or missing from a new snapshot) while this node
                        // still announces itself: publish again at once, not at the next refresh.
                        if own_gone && self.publications.own_gone(&self.announce.borrow()) {
                            tracing::warn!(service = %self.params.target, "this node's affiliate is gone from the service; publishing it again");
                        }
                    }
                    Some(Err(status)) => return failed(CallError::status("watch", &status)),
                    None => return failed(CallError::StreamEnded),
                },
            }
        }
    }

    /// Makes the calls due for what is asked now, in order; an error is a failed call: reconnect.
    async fn publish(&mut self, conn: &mut D::Conn) -> Result<(), CallError> {
        let announcement = self.announce.borrow_and_update().clone();
        let extras = self.extras.borrow_and_update().clone();
        let harvested = self.harvested.borrow_and_update().clone();
        let wanted = Wanted {
            announcement: &announcement,
            extras: &extras,
            harvested: &harvested,
        };
        for call in self.publications.next(Instant::now(), wanted) {
            let result = self.perform(conn, &call).await;
            let recorded = self
                .publications
                .record(&call, outcome(&result), Instant::now());
            match result {
                Err(error) if recorded == Recorded::Fatal => return Err(error),
                result => self.tell(&call, recorded, result.err()),
            }
        }
        Ok(())
    }

    /// Makes one call.
    async fn perform(&self, conn: &mut D::Conn, call: &Call) -> Result<(), CallError> {
        let cipher = &self.params.cipher;
        let update = |id: &str, owner_token, sealed: Option<SealedAffiliate>, endpoints| {
            AffiliateUpdateRequest {
                cluster_id: self.params.cluster_id.clone(),
                affiliate_id: id.to_owned(),
                owner_token,
                affiliate_data: sealed.map(|s| s.data),
                affiliate_endpoints: endpoints,
                ttl: Some(ttl_proto()),
            }
        };
        let (what, request) = match call {
            Call::Publish(whose, spec) => {
                let id = self.id(whose);
                let sealed = seal_affiliate(cipher, spec)?;
                let endpoints = sealed.endpoints.clone();
                let request = update(id, self.owner_token(id), Some(sealed), endpoints);
                ("affiliate update", request)
            }
            Call::SayLeaving(whose, spec) => {
                let id = self.id(whose);
                let sealed = seal_leaving(cipher, spec)?;
                let request = update(id, self.owner_token(id), Some(sealed), Vec::new());
                ("affiliate update (leaving)", request)
            }
            Call::Endpoints(id, endpoints) => {
                // Endpoint-only, for another node's affiliate: no proof to give (the service
                // merges endpoints without one, as Sidero's does).
                let sealed = endpoints.iter().map(|ep| cipher.seal_endpoint(*ep));
                (
                    "affiliate update",
                    update(id, Vec::new(), None, sealed.collect()),
                )
            }
            Call::Delete(whose) => return self.delete(conn, self.id(whose)).await,
        };
        rpc(what, PUSH_TIMEOUT, conn.affiliate_update(request)).await
    }

    async fn delete(&self, conn: &mut D::Conn, affiliate_id: &str) -> Result<(), CallError> {
        let request = AffiliateDeleteRequest {
            cluster_id: self.params.cluster_id.clone(),
            affiliate_id: affiliate_id.to_owned(),
            owner_token: self.owner_token(affiliate_id),
        };
        rpc(
            "affiliate delete",
            PUSH_TIMEOUT,
            conn.affiliate_delete(request),
        )
        .await
    }

    /// The affiliate id a call is about.
    fn id<'a>(&'a self, whose: &'a Whose) -> &'a str {
        match whose {
            Whose::Own => &self.params.node_id,
            Whose::Extra(id) => id,
        }
    }

    /// Reports and logs what a call that did not end the session did.
    fn tell(&self, call: &Call, recorded: Recorded, error: Option<CallError>) {
        let service = &self.params.target;
        let error = error.map(|e| sanitize(&e.to_string())).unwrap_or_default();
        if recorded == Recorded::Done {
            self.reporter.update(|r| r.counters.updates += 1);
        }
        match (call, recorded) {
            (Call::Publish(whose, _), Recorded::Done) => {
                tracing::debug!(%service, affiliate = %show_id(self.id(whose)), "published an affiliate");
                if *whose == Whose::Own {
                    self.reporter.update(|r| {
                        r.announced = true;
                        r.left = false;
                    });
                }
            }
            (Call::Publish(Whose::Own, _), Recorded::Skipped) => {
                tracing::error!(%service, error = %error, "not publishing this node's affiliate");
                self.reporter.update(|r| r.last_error = Some(error));
            }
            (Call::Publish(Whose::Extra(id), _), Recorded::Skipped) => {
                tracing::error!(%service, affiliate = %show_id(id), error = %error, "not publishing an external peer's affiliate");
            }
            (Call::Delete(Whose::Own), Recorded::Done) => {
                tracing::info!(%service, "deleted this node's affiliate: left the cluster");
                self.reporter.update(|r| {
                    r.announced = false;
                    r.left = true;
                });
            }
            (Call::Delete(Whose::Extra(id)), Recorded::Done) => {
                tracing::info!(%service, affiliate = %show_id(id), "deleted an external peer's affiliate");
            }
            (Call::Endpoints(id, endpoints), Recorded::Done) => {
                tracing::debug!(%service, affiliate = %show_id(id), count = endpoints.len(), "published endpoints a peer was seen at");
            }
            (Call::Endpoints(id, _), Recorded::Deferred) => {
                tracing::warn!(%service, affiliate = %show_id(id), error = %error, "the service refused endpoints a peer was seen at");
            }
            _ => {}
        }
    }

    /// Applies one watch message to the report; returns whether it says this node's own affiliate
    /// was deleted.
    ///
    /// Fail closed: an affiliate that is deleted, or missing from a snapshot, stays in the report
    /// for its [`GRACE`] — unless it said it was leaving, which only a cluster member can say.
    fn apply(&mut self, response: WatchResponse, snapshot: bool) -> bool {
        let WatchResponse {
            affiliates,
            deleted,
        } = response;
        let own_id = self.params.node_id.clone();
        let own_listed = affiliates.iter().any(|a| a.id == own_id);
        // Only a delete says so: a session's snapshot is taken before its first push.
        let own_gone = deleted && own_listed;
        let now = Instant::now();
        let listed: BTreeSet<String> = affiliates
            .iter()
            .filter(|a| a.id != own_id)
            .map(|a| a.id.clone())
            .collect();
        let decoded: Vec<(String, Change)> = affiliates
            .into_iter()
            .filter(|a| a.id != own_id)
            .filter_map(|a| self.decode(a, deleted, now))
            .collect();
        let mut seen = std::mem::take(&mut self.seen);
        let mut grace = std::mem::take(&mut self.grace);
        let mut overflowed = false;
        let grace_until =
            |seen: &BTreeMap<String, Instant>, id: &str| seen.get(id).map_or(now, |t| *t + GRACE);
        self.reporter.update(|r| {
            r.counters.watch_messages += 1;
            if snapshot {
                // What the new snapshot lacks is held, not dropped.
                for id in r.affiliates.keys() {
                    if !listed.contains(id) && !grace.contains_key(id) {
                        grace.insert(id.clone(), grace_until(&seen, id));
                    }
                }
            }
            for (id, change) in decoded {
                match change {
                    Change::Deleted => {
                        if r.affiliates.contains_key(&id) && !grace.contains_key(&id) {
                            grace.insert(id.clone(), grace_until(&seen, &id));
                        }
                    }
                    Change::Leaving => {
                        r.affiliates.remove(&id);
                        grace.remove(&id);
                        seen.remove(&id);
                    }
                    Change::Store(spec) => {
                        let full = r.affiliates.len() >= MAX_DISCOVERED_AFFILIATES;
                        if full && !r.affiliates.contains_key(&id) {
                            overflowed = true;
                            continue;
                        }
                        grace.remove(&id);
                        seen.insert(id.clone(), now);
                        r.affiliates.insert(id, *spec);
                    }
                }
            }
            // Holds already over (a hold is never longer than the affiliate's own TTL).
            grace.retain(|id, until| {
                let keep = *until > now;
                if !keep {
                    r.affiliates.remove(id);
                    seen.remove(id);
                }
                keep
            });
        });
        self.seen = seen;
        self.grace = grace;
        if overflowed && let Some(more) = self.overflow.admit(now) {
            tracing::warn!(service = %self.params.target, limit = MAX_DISCOVERED_AFFILIATES, suppressed = more, "too many affiliates; ignoring the rest");
        }
        own_gone
    }

    /// Drops the held affiliates whose grace is over.
    fn expire_grace(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .grace
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        if expired.is_empty() {
            return;
        }
        for id in &expired {
            self.grace.remove(id);
            self.seen.remove(id);
            tracing::info!(service = %self.params.target, affiliate = %show_id(id), "an affiliate gone from the service is dropped after its grace period");
        }
        self.reporter.update(|r| {
            for id in &expired {
                r.affiliates.remove(id);
            }
        });
    }

    /// One affiliate of a watch message, or `None` to leave things as they are (no data yet, or
    /// data that does not open: logged, at most once a minute).
    fn decode(
        &mut self,
        affiliate: Affiliate,
        deleted: bool,
        now: Instant,
    ) -> Option<(String, Change)> {
        if deleted {
            return Some((affiliate.id, Change::Deleted));
        }
        match open_affiliate(&self.params.cipher, &affiliate) {
            Ok(None) => None,
            Ok(Some(opened)) => {
                if opened.skipped_endpoints > 0 {
                    tracing::debug!(service = %self.params.target, affiliate = %opened.spec.node_id, skipped = opened.skipped_endpoints, "skipped endpoints that do not decrypt");
                }
                if opened.leaving {
                    tracing::info!(service = %self.params.target, affiliate = %show_id(&affiliate.id), "a node left the cluster");
                    return Some((affiliate.id, Change::Leaving));
                }
                Some((affiliate.id, Change::Store(Box::new(opened.spec))))
            }
            Err(e) => {
                if let Some(more) = self.undecodable.admit(now) {
                    tracing::warn!(service = %self.params.target, affiliate = %show_id(&affiliate.id), error = %e, suppressed = more, "skipping an affiliate that does not decode");
                }
                None
            }
        }
    }

    /// The proof that this node owns `affiliate_id` (its own, or an external peer's it publishes):
    /// weft-discovery then lets nobody without the cluster secret overwrite or delete it
    /// (`weft_api::discovery::owner`). Services that do not know the field ignore it.
    fn owner_token(&self, affiliate_id: &str) -> Vec<u8> {
        self.params
            .cipher
            .owner_token(&self.params.cluster_id, affiliate_id)
            .to_vec()
    }

    /// Deletes the affiliate, and the extras, before the client ends, on `conn` or a new
    /// connection, if the service may hold them; gives up after [`GOODBYE_TIMEOUT`] (they then
    /// expire with their TTL).
    async fn goodbye(&self, conn: Option<D::Conn>) {
        let calls = self
            .publications
            .goodbye(lock(&self.reporter.report).announced);
        if calls.is_empty() {
            return;
        }
        let attempt = async {
            let mut conn = match conn {
                Some(c) => c,
                None => self
                    .dialer
                    .dial(&self.params.target)
                    .await
                    .map_err(|e| CallError::Dial(error_text(&e)))?,
            };
            for call in &calls {
                self.perform(&mut conn, call).await?;
            }
            Ok::<(), CallError>(())
        };
        match tokio::time::timeout(GOODBYE_TIMEOUT, attempt).await {
            Ok(Ok(())) => {
                tracing::info!(service = %self.params.target, "deleted this node's affiliate from a service no longer configured");
            }
            Ok(Err(error)) => {
                tracing::warn!(service = %self.params.target, error = %sanitize(&error.to_string()), "could not delete this node's affiliate; it expires with its TTL");
            }
            Err(_) => {
                tracing::warn!(service = %self.params.target, "timed out deleting this node's affiliate; it expires with its TTL");
            }
        }
    }
}

/// Why a call to the service, and with it the session, failed. Texts from the service are
/// sanitized ([`sanitize`]) as they are stored.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Dialing failed: the error and its causes on one line ([`error_text`]).
    #[error("{0}")]
    Dial(String),
    #[error("connecting to {0}: timed out")]
    DialTimedOut(Target),
    /// The service answered with a status; its code decides what the client does next.
    #[error("{call}: {code:?}: {message}")]
    Status {
        call: &'static str,
        code: tonic::Code,
        message: String,
    },
    #[error("{0}: timed out")]
    TimedOut(&'static str),
    #[error("hello: bad redirect: {0}")]
    BadRedirect(EndpointError),
    #[error("hello: more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    #[error("watch: the service ended the stream")]
    StreamEnded,
    /// The affiliate cannot be sealed (too large, invalid): not a connection problem.
    #[error(transparent)]
    Seal(#[from] AffiliateError),
}

impl CallError {
    fn status(call: &'static str, status: &tonic::Status) -> CallError {
        CallError::Status {
            call,
            code: status.code(),
            message: sanitize(status.message()),
        }
    }
}

/// One call with its timeout, keeping the gRPC code of a refusal.
async fn rpc<T>(
    call: &'static str,
    limit: Duration,
    future: impl Future<Output = Result<T, tonic::Status>>,
) -> Result<T, CallError> {
    match tokio::time::timeout(limit, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(status)) => Err(CallError::status(call, &status)),
        Err(_) => Err(CallError::TimedOut(call)),
    }
}

/// What a call's result means to [`Publications::record`].
fn outcome(result: &Result<(), CallError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(CallError::Seal(_)) => Outcome::Unsealable,
        Err(CallError::Status {
            code: tonic::Code::InvalidArgument | tonic::Code::ResourceExhausted,
            ..
        }) => Outcome::Refused,
        Err(_) => Outcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{FakeDialer, FakeService};
    use super::*;
    use weft_api::resources::cluster::{KubeSpanAffiliateSpec, MachineType};

    /// Counters alone raise the controller's signal at most once per interval; any other change
    /// at once; the counters themselves are always current in the report.
    #[tokio::test(start_paused = true)]
    async fn counters_alone_are_news_at_most_once_per_interval() {
        let news = Arc::new(watch::Sender::new(()));
        let mut rx = news.subscribe();
        let reporter = Reporter {
            report: Arc::default(),
            news,
            last_news: Arc::default(),
        };
        reporter.update(|r| r.counters.watch_messages += 1);
        assert!(rx.has_changed().expect("open"), "the first count is news");
        rx.mark_unchanged();
        reporter.update(|r| r.counters.watch_messages += 1);
        assert!(
            !rx.has_changed().expect("open"),
            "counters alone, within the interval"
        );
        reporter.update(|r| r.connected = true);
        assert!(
            rx.has_changed().expect("open"),
            "a real change is news at once"
        );
        rx.mark_unchanged();
        tokio::time::advance(COUNTERS_NEWS_INTERVAL).await;
        reporter.update(|r| r.counters.updates += 1);
        assert!(
            rx.has_changed().expect("open"),
            "counters again after the interval"
        );
        assert_eq!(
            lock(&reporter.report).counters,
            ClientCounters {
                sessions: 0,
                updates: 1,
                watch_messages: 2
            }
        );
    }

    const CLUSTER: &str = "cluster-1";

    fn cipher() -> Cipher {
        Cipher::from_key(&[5u8; 32])
    }

    fn target(host: &str) -> Target {
        Target {
            host: host.to_owned(),
            port: 3000,
            tls: false,
        }
    }

    fn params(node: &str, host: &str) -> ClientParams {
        ClientParams {
            target: target(host),
            cluster_id: CLUSTER.to_owned(),
            node_id: node.to_owned(),
            cipher: cipher(),
        }
    }

    fn affiliate(node: &str, n: u8) -> AffiliateSpec {
        use base64::Engine as _;
        AffiliateSpec {
            node_id: node.to_owned(),
            hostname: node.to_owned(),
            nodename: node.to_owned(),
            machine_type: MachineType::Worker,
            operating_system: "Weft (v0.1.0)".to_owned(),
            addresses: vec![IpAddr::from([10, 0, 0, n])],
            kubespan: KubeSpanAffiliateSpec {
                public_key: base64::engine::general_purpose::STANDARD.encode([n; 32]),
                address: Some(format!("fd00::{n}").parse().expect("ip")),
                endpoints: vec![format!("10.0.0.{n}:51820").parse().expect("ep")],
                ..KubeSpanAffiliateSpec::default()
            },
            ..AffiliateSpec::default()
        }
    }

    struct Running {
        handle: ClientHandle,
        news: watch::Receiver<()>,
    }

    fn start(dialer: &Arc<FakeDialer>, node: &str, host: &str, a: Announcement) -> Running {
        let (tx, news) = watch::channel(());
        let handle = ClientHandle::spawn(dialer.clone(), params(node, host), a, Arc::new(tx));
        Running { handle, news }
    }

    /// Waits (paused time: instantly, or failing at the deadline) until `check` accepts the report.
    async fn until(
        r: &mut Running,
        what: &str,
        check: impl Fn(&ClientReport) -> bool,
    ) -> ClientReport {
        let deadline = Instant::now() + Duration::from_secs(3600);
        loop {
            let report = r.handle.report();
            if check(&report) {
                return report;
            }
            match tokio::time::timeout_at(deadline, r.news.changed()).await {
                Ok(Ok(())) => {}
                _ => panic!("{what}: not reached; last report {report:?}"),
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn discovers_others_publishes_itself_and_skips_its_own_id() {
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        let mut b = start(
            &dialer,
            "b",
            "disco",
            Announcement::Announce(Box::new(affiliate("b", 2))),
        );

        let ra = until(&mut a, "a sees b", |r| r.affiliates.contains_key("b")).await;
        assert_eq!(ra.affiliates["b"], affiliate("b", 2));
        assert!(!ra.affiliates.contains_key("a"), "own id skipped");
        assert_eq!(ra.public_ip, Some(IpAddr::from([127, 0, 0, 1])));
        assert!(ra.connected && ra.announced);
        until(&mut b, "b sees a", |r| {
            r.affiliates.get("a") == Some(&affiliate("a", 1))
        })
        .await;

        // Stored as Sidero does: raw ids, TTL 30 min, endpoints encrypted blockwise.
        let update = service.last_update("a").expect("a pushed");
        assert_eq!(update.cluster_id, CLUSTER);
        assert_eq!(update.ttl.map(|t| t.seconds), Some(1800));
        assert_eq!(update.affiliate_endpoints.len(), 1);
        assert_eq!(update.affiliate_endpoints[0].len(), 16);
        assert_eq!(service.hello_versions()[0], CLIENT_VERSION);
    }

    #[tokio::test(start_paused = true)]
    async fn pushes_on_change_and_refresh_but_not_on_its_own_echo() {
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        until(&mut a, "announced", |r| r.announced).await;
        let t0 = Instant::now();
        // Its own update came back through the watch; others come and go: no new push.
        service.put(CLUSTER, "x", &cipher(), &affiliate("x", 9));
        until(&mut a, "sees x", |r| r.affiliates.contains_key("x")).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(service.updates_of("a"), 1);

        // A change is pushed at once, an unchanged announcement is not.
        let mut changed = affiliate("a", 1);
        changed.hostname = "a2".into();
        a.handle
            .announce(&Announcement::Announce(Box::new(changed.clone())));
        a.handle
            .announce(&Announcement::Announce(Box::new(changed.clone())));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(service.updates_of("a"), 2);
        assert_eq!(service.stored(CLUSTER, "a", &cipher()), Some(changed));

        // The refresh is due 15 min after the last push.
        let pushed_at = Instant::now() - Duration::from_secs(1);
        service.wait_updates("a", 3).await;
        let refresh = Instant::now() - pushed_at;
        assert!(
            refresh >= REFRESH_INTERVAL && refresh < REFRESH_INTERVAL + Duration::from_secs(2),
            "{refresh:?}"
        );
        assert!(Instant::now() - t0 > REFRESH_INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn watch_messages_snapshot_delete_empty_and_garbage() {
        let service = FakeService::new("127.0.0.1");
        service.put(CLUSTER, "x", &cipher(), &affiliate("x", 9));
        service.put(CLUSTER, "y", &cipher(), &affiliate("y", 8));
        // Endpoints only, no data yet: not known.
        service.put_raw(CLUSTER, "empty", vec![], vec![vec![0; 16]]);
        // Another cluster's secret, and garbage: skipped, the rest still discovered.
        service.put(
            CLUSTER,
            "alien",
            &Cipher::from_key(&[6u8; 32]),
            &affiliate("alien", 7),
        );
        service.put_raw(CLUSTER, "junk", vec![1, 2, 3], vec![]);
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(&dialer, "a", "disco", Announcement::Nothing);
        let r = until(&mut a, "snapshot", |r| {
            r.connected && r.affiliates.len() == 2
        })
        .await;
        assert_eq!(r.affiliates.keys().collect::<Vec<_>>(), ["x", "y"]);

        // A delete anyone who knows the cluster id could send: x is held for its grace period
        // (fail closed), counted from when it was last updated, then dropped.
        let deleted_at = Instant::now();
        service.delete(CLUSTER, "x");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(a.handle.report().affiliates.contains_key("x"), "held");
        until(&mut a, "x dropped", |r| !r.affiliates.contains_key("x")).await;
        let held = Instant::now() - deleted_at;
        assert!(
            held <= GRACE && held >= GRACE - Duration::from_secs(2),
            "held {held:?}"
        );
        // Nothing announced: the client only watches.
        assert_eq!(service.updates_of("a"), 0);

        // After a reconnect the new snapshot replaces what was known; what it lacks (here: y,
        // dropped by the service while the client was disconnected) is held for its grace too,
        // counted from its last update (y refreshes now, as a live node does).
        service.put(CLUSTER, "y", &cipher(), &affiliate("y", 8));
        tokio::time::sleep(Duration::from_secs(1)).await;
        service.break_watches();
        service.forget(CLUSTER, "y");
        service.put(CLUSTER, "z", &cipher(), &affiliate("z", 7));
        let r = until(&mut a, "resnapshot", |r| {
            r.connected && r.affiliates.contains_key("z")
        })
        .await;
        assert_eq!(r.affiliates["z"], affiliate("z", 7));
        assert!(r.affiliates.contains_key("y"), "y held");
        let r = until(&mut a, "y dropped", |r| !r.affiliates.contains_key("y")).await;
        assert_eq!(r.affiliates.keys().collect::<Vec<_>>(), ["z"]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_own_affiliate_deleted_by_someone_else_is_published_again_at_once() {
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        until(&mut a, "announced", |r| r.announced).await;
        service.wait_updates("a", 1).await;
        // Someone deletes it, again and again: each time it is back at once, not after 15 min.
        for round in 2..=4 {
            let deleted = Instant::now();
            service.delete(CLUSTER, "a");
            service.wait_updates("a", round).await;
            assert_eq!(Instant::now() - deleted, Duration::ZERO, "at once");
            assert_eq!(
                service.stored(CLUSTER, "a", &cipher()),
                Some(affiliate("a", 1))
            );
        }
        // It proves ownership with every push (weft-discovery's owned affiliates).
        let last = service.last_update("a").expect("update");
        assert_eq!(
            last.owner_token,
            cipher().owner_token(CLUSTER, "a").to_vec()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_leaves_is_dropped_at_once() {
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(&dialer, "a", "disco", Announcement::Nothing);
        let mut b = start(
            &dialer,
            "b",
            "disco",
            Announcement::Announce(Box::new(affiliate("b", 2))),
        );
        until(&mut b, "announced", |r| r.announced).await;
        until(&mut a, "b known", |r| r.affiliates.contains_key("b")).await;
        let left = Instant::now();
        b.handle.announce(&Announcement::Withdraw);
        until(&mut a, "b dropped", |r| !r.affiliates.contains_key("b")).await;
        assert_eq!(
            Instant::now() - left,
            Duration::ZERO,
            "no grace for a leave"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn reconnects_with_exponential_backoff_and_keeps_what_it_knew() {
        let service = FakeService::new("127.0.0.1");
        service.put(CLUSTER, "x", &cipher(), &affiliate("x", 9));
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        until(&mut a, "connected", |r| {
            r.connected && r.affiliates.len() == 1
        })
        .await;

        // The service goes away: Hello fails 8 times before it is back.
        service.fail_hellos(8);
        service.break_watches();
        let r = until(&mut a, "disconnected", |r| !r.connected).await;
        assert!(r.last_error.is_some());
        assert_eq!(r.affiliates.len(), 1, "kept while disconnected");
        until(&mut a, "reconnected", |r| r.connected).await;
        let times = service.hello_times();
        // 1 initial hello + the failed ones + the one that worked.
        assert_eq!(times.len(), 10);
        let gaps: Vec<Duration> = times.windows(2).skip(1).map(|w| w[1] - w[0]).collect();
        // The first failure waited the initial interval; the gaps measured start at the second.
        let mut interval = super::super::backoff::BACKOFF_INITIAL.mul_f64(1.5);
        for gap in &gaps {
            assert!(
                *gap >= interval.mul_f64(0.5) && *gap <= interval.mul_f64(1.5),
                "gap {gap:?} for interval {interval:?}: {gaps:?}"
            );
            interval = interval.mul_f64(1.5);
        }
        // It pushed again after reconnecting.
        assert_eq!(service.updates_of("a"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn follows_redirects_and_caps_them() {
        let first = FakeService::new("127.0.0.1");
        let second = FakeService::new("203.0.113.9");
        first.redirect_to("second:3001");
        let dialer = FakeDialer::new([("first", first.clone()), ("second", second.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "first",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        let r = until(&mut a, "connected via redirect", |r| r.connected).await;
        assert_eq!(r.public_ip, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(second.updates_of("a"), 1);
        assert_eq!(first.updates_of("a"), 0);
        assert_eq!(
            dialer.dialed()[..2],
            [
                target("first"),
                Target {
                    port: 3001,
                    ..target("second")
                }
            ]
        );

        // A service that redirects to itself forever is an error, retried with backoff.
        let looping = FakeService::new("127.0.0.1");
        looping.redirect_to("loop:3000");
        let dialer = FakeDialer::new([("loop", looping)]);
        let mut b = start(&dialer, "b", "loop", Announcement::Nothing);
        let r = until(&mut b, "gives up", |r| r.last_error.is_some()).await;
        assert!(r.last_error.unwrap_or_default().contains("redirects"));
    }

    #[tokio::test(start_paused = true)]
    async fn withdraw_deletes_and_stops_announcing() {
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        until(&mut a, "announced", |r| r.announced).await;
        a.handle.announce(&Announcement::Withdraw);
        let r = until(&mut a, "left", |r| r.left).await;
        assert!(!r.announced);
        assert_eq!(service.stored(CLUSTER, "a", &cipher()), None);
        // No refresh brings it back, and a reconnect deletes again rather than pushing.
        tokio::time::sleep(REFRESH_INTERVAL * 2).await;
        service.break_watches();
        until(&mut a, "reconnected", |r| r.connected).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        // The announcement, then before each delete its last word (marked leaving).
        assert_eq!(service.updates_of("a"), 3);
        assert_eq!(service.deletes_of("a"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retire_says_goodbye_but_drop_does_not() {
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        let mut b = start(
            &dialer,
            "b",
            "disco",
            Announcement::Announce(Box::new(affiliate("b", 2))),
        );
        until(&mut a, "announced", |r| r.announced).await;
        until(&mut b, "announced", |r| r.announced).await;
        drop(a.handle);
        b.handle.retire();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            service.stored(CLUSTER, "a", &cipher()).is_some(),
            "a expires with its TTL"
        );
        assert_eq!(
            service.stored(CLUSTER, "b", &cipher()),
            None,
            "b said goodbye"
        );
    }

    /// Extras (external peers): published next to the node's own, never echoed back into a push,
    /// refreshed with their own TTL, kept across a leave, deleted when no longer asked for — also
    /// when that happened while disconnected — and deleted by a retiring client.
    #[tokio::test(start_paused = true)]
    async fn extras_are_published_refreshed_and_deleted() {
        const X: &str = "external-x";
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        let x = affiliate(X, 7);
        a.handle
            .publish_extras(&Extras::from([(X.to_owned(), x.clone())]));
        service.wait_updates(X, 1).await;
        assert_eq!(service.stored(CLUSTER, X, &cipher()), Some(x.clone()));
        // It comes back through the client's own watch like any affiliate: reported, not pushed.
        until(&mut a, "sees x", |r| r.affiliates.contains_key(X)).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(service.updates_of(X), 1);
        let published_at = Instant::now() - Duration::from_secs(60);
        service.wait_updates(X, 2).await;
        let refresh = Instant::now() - published_at;
        assert!(
            refresh >= REFRESH_INTERVAL && refresh < REFRESH_INTERVAL + Duration::from_secs(2),
            "{refresh:?}"
        );

        // A leave withdraws this node only.
        a.handle.announce(&Announcement::Withdraw);
        until(&mut a, "left", |r| r.left).await;
        assert_eq!(service.stored(CLUSTER, X, &cipher()), Some(x.clone()));
        assert_eq!(service.deletes_of(X), 0);

        // Removed while the service is away: deleted once it is back.
        service.fail_hellos(3);
        service.break_watches();
        until(&mut a, "disconnected", |r| !r.connected).await;
        a.handle.publish_extras(&Extras::new());
        until(&mut a, "reconnected", |r| r.connected).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(service.stored(CLUSTER, X, &cipher()), None);
        assert_eq!(service.deletes_of(X), 1);

        // A retiring client deletes the extras it published.
        let mut b = start(&dialer, "b", "disco", Announcement::Nothing);
        let y = affiliate("external-y", 8);
        b.handle
            .publish_extras(&Extras::from([("external-y".to_owned(), y)]));
        service.wait_updates("external-y", 1).await;
        until(&mut b, "connected", |r| r.connected).await;
        b.handle.retire();
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(service.stored(CLUSTER, "external-y", &cipher()), None);
        drop(a);
    }

    /// Harvested endpoints: endpoint-only updates under the peer's id, merged by the service into
    /// the peer's affiliate; pushed again only on change or refresh; never deleted; this node's own
    /// id skipped.
    #[tokio::test(start_paused = true)]
    async fn harvested_endpoints_are_published_for_the_peer() {
        let service = FakeService::new("127.0.0.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let mut a = start(
            &dialer,
            "a",
            "disco",
            Announcement::Announce(Box::new(affiliate("a", 1))),
        );
        until(&mut a, "connected", |r| r.connected).await;
        service.put(CLUSTER, "p", &cipher(), &affiliate("p", 9));
        // `put` is an update too (p's own).
        let base = service.updates_of("p");
        let seen: SocketAddr = "203.0.113.9:41000".parse().expect("ep");
        let own: SocketAddr = "203.0.113.1:41000".parse().expect("ep");
        a.handle.publish_endpoints(&Harvested::from([
            ("p".to_owned(), BTreeSet::from([seen])),
            ("a".to_owned(), BTreeSet::from([own])),
        ]));
        service.wait_updates("p", base + 1).await;
        let update = service.last_update("p").expect("update for p");
        assert_eq!(update.affiliate_data, None, "endpoint-only");
        assert_eq!(update.affiliate_endpoints.len(), 1);
        assert_eq!(
            cipher()
                .open_endpoint(&update.affiliate_endpoints[0])
                .expect("opens"),
            seen
        );
        let stored = service.stored(CLUSTER, "p", &cipher()).expect("p stored");
        assert_eq!(
            stored.kubespan.endpoints,
            vec!["10.0.0.9:51820".parse().expect("ep"), seen]
        );
        // Every node learns it through its watch.
        until(&mut a, "sees p's harvested endpoint", |r| {
            r.affiliates
                .get("p")
                .is_some_and(|p| p.kubespan.endpoints.contains(&seen))
        })
        .await;

        // Unchanged: not pushed again until the refresh.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(service.updates_of("p"), base + 1);
        let published_at = Instant::now() - Duration::from_secs(60);
        service.wait_updates("p", base + 2).await;
        let refresh = Instant::now() - published_at;
        assert!(
            refresh >= REFRESH_INTERVAL && refresh < REFRESH_INTERVAL + Duration::from_secs(2),
            "{refresh:?}"
        );
        // Only the own affiliate's updates under this node's id, none carrying `own` alone.
        assert!(
            service
                .last_update("a")
                .expect("own")
                .affiliate_data
                .is_some(),
            "this node's id is never used for harvested endpoints"
        );

        // Refused by the service: the session goes on (no reconnect) and it is offered again.
        service.refuse_endpoint_updates(true);
        let other: SocketAddr = "198.51.100.9:42000".parse().expect("ep");
        a.handle.publish_endpoints(&Harvested::from([(
            "p".to_owned(),
            BTreeSet::from([other]),
        )]));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(service.refused(), 1);
        let hellos = service.hello_times().len();
        service.refuse_endpoint_updates(false);
        tokio::time::sleep(HARVEST_RETRY).await;
        assert_eq!(service.hello_times().len(), hellos, "no reconnect");
        let update = service.last_update("p").expect("update for p");
        assert_eq!(
            cipher()
                .open_endpoint(&update.affiliate_endpoints[0])
                .expect("opens"),
            other
        );

        // No longer seen: not deleted (that would delete p), left to expire.
        a.handle.publish_endpoints(&Harvested::new());
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(service.deletes_of("p"), 0);
        assert!(service.stored(CLUSTER, "p", &cipher()).is_some());
    }

    #[test]
    fn sanitize_bounds_untrusted_text() {
        assert_eq!(sanitize("a\nb\u{1b}[2J"), "a b [2J");
        let repeated = anyhow::anyhow!("tcp connect error: refused")
            .context("tcp connect error")
            .context("connecting to http://x:1");
        assert_eq!(
            error_text(&repeated),
            "connecting to http://x:1: tcp connect error: refused"
        );
        let long = "x".repeat(MAX_ERROR_LEN + 10);
        assert_eq!(sanitize(&long).chars().count(), MAX_ERROR_LEN + 1);
    }
}
