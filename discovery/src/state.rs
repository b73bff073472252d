//! The service's state: clusters of affiliates, their expirations, and the watchers of each
//! cluster. Pure logic with no I/O and no clock of its own — every operation takes `now` — so the
//! merge, expiry and notification rules (§6.2 of the reference, Sidero's `internal/state`) are
//! unit-tested with made-up times.
//!
//! Concurrency: a read-mostly map of clusters, each cluster behind its own mutex, so requests for
//! different clusters never contend. Lock order is always map → cluster. A cluster removed by the
//! collector is marked `removed` under both locks; an operation that raced with the removal and
//! still holds the old cluster sees the mark and looks the cluster up again.
//!
//! Watchers get a bounded channel each ([`WATCH_BUFFER`]); notifying never waits: a watcher whose
//! buffer is full is dropped and its stream ends with "watch fell behind".
//!
//! Owned affiliates (a Weft extension; the rules are `weft_api::discovery::owner`'s): an affiliate
//! keeps the SHA-256 of the first owner token an update brought. From then on an update with data,
//! and a delete, must bring a token with the same hash (else [`LimitError::Denied`]); an update
//! without one may still add endpoints (Talos's harvesting), but not extend the affiliate's life.
//! An affiliate never given a token behaves exactly as in Sidero's service. The binding goes with
//! the affiliate (delete, expiry).
//!
//! Endpoints past [`MAX_ENDPOINTS_PER_AFFILIATE`] are dropped, not the update (as Sidero keeps
//! what fits); the owner's own endpoints get in anyway, evicting endpoints others added.
//!
//! Global caps ([`Caps`]): clusters and affiliates over all clusters, so no client can make the
//! state grow without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::limits::{
    self, DEFAULT_MAX_AFFILIATES, DEFAULT_MAX_CLUSTERS, LimitError, MAX_AFFILIATES_PER_CLUSTER,
    MAX_ENDPOINT_LEN, MAX_ENDPOINTS_PER_AFFILIATE, MAX_TTL, OWNER_TOKEN_LEN, WATCH_BUFFER,
};

/// What the state keeps of an owner token: its SHA-256.
pub type OwnerHash = [u8; OWNER_TOKEN_LEN];

/// The global caps (`--max-clusters`, `--max-affiliates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Clusters held at once; creating one more: ResourceExhausted.
    pub max_clusters: usize,
    /// Affiliates over all clusters; creating one more: ResourceExhausted.
    pub max_affiliates: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            max_clusters: DEFAULT_MAX_CLUSTERS,
            max_affiliates: DEFAULT_MAX_AFFILIATES,
        }
    }
}

/// Milliseconds since the state's epoch: 8 bytes per expiration instead of an `Instant`'s 16,
/// which matters at 100k affiliates with several endpoints each.
type Millis = u64;

/// An endpoint blob stored inline (no heap allocation per endpoint): at most
/// [`MAX_ENDPOINT_LEN`] bytes, compared byte for byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointBlob {
    len: u8,
    buf: [u8; MAX_ENDPOINT_LEN],
}

impl EndpointBlob {
    /// The blob, or `None` when it is longer than [`MAX_ENDPOINT_LEN`].
    pub fn new(bytes: &[u8]) -> Option<EndpointBlob> {
        if bytes.len() > MAX_ENDPOINT_LEN {
            return None;
        }
        let mut buf = [0; MAX_ENDPOINT_LEN];
        buf[..bytes.len()].copy_from_slice(bytes);
        Some(EndpointBlob {
            len: bytes.len() as u8,
            buf,
        })
    }

    /// The blob's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for EndpointBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ciphertext: its length is all a log or a test failure needs.
        write!(f, "EndpointBlob({} bytes)", self.len)
    }
}

/// An affiliate as clients see it (List, Watch): id, data, endpoints. The data is shared, not
/// copied, between the store and every notification.
#[derive(Clone, PartialEq, Eq)]
pub struct AffiliateView {
    pub id: Box<str>,
    pub data: Arc<[u8]>,
    pub endpoints: Vec<EndpointBlob>,
}

impl std::fmt::Debug for AffiliateView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AffiliateView")
            .field("id", &self.id)
            .field("data_len", &self.data.len())
            .field("endpoints", &self.endpoints.len())
            .finish()
    }
}

/// A change in a cluster, sent to its watchers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The affiliate was created or changed; its full current state.
    Updated(AffiliateView),
    /// The affiliate was deleted or expired. (Sidero sends this also when only some of its
    /// endpoints expired, and clients then drop the node until its next refresh; Weft sends
    /// `Updated` with what is left — see [`State::gc`].)
    Deleted(Box<str>),
}

/// One AffiliateUpdate, already decoded.
#[derive(Debug, Clone, Copy)]
pub struct Update<'a> {
    /// New data; empty means "keep the stored data".
    pub data: &'a [u8],
    /// Endpoints to merge with the stored ones.
    pub endpoints: &'a [Vec<u8>],
    /// Time to live of this update's data and endpoints.
    pub ttl: Duration,
    /// The hash of the owner token the request carried, if it carried one.
    pub owner: Option<OwnerHash>,
}

/// What an accepted update did with endpoints that did not fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateOutcome {
    /// New endpoints not stored: past the limit (and, for the owner, with nothing to evict).
    pub dropped: u64,
    /// Endpoints others had added, removed to make room for the owner's.
    pub evicted: u64,
}

/// An endpoint read back from a snapshot.
#[derive(Debug, Clone)]
pub struct RestoredEndpoint {
    pub data: Vec<u8>,
    pub ttl: Duration,
    /// Sent by the affiliate's owner (with its token).
    pub owned: bool,
}

/// An affiliate read back from a snapshot: remaining times to live instead of absolute times.
#[derive(Debug, Clone)]
pub struct Restored {
    pub id: String,
    pub data: Vec<u8>,
    pub ttl: Duration,
    pub endpoints: Vec<RestoredEndpoint>,
    pub owner: Option<OwnerHash>,
}

/// A stored endpoint as the snapshot writer sees it.
#[derive(Debug, Clone, Copy)]
pub struct StoredEndpoint {
    pub blob: EndpointBlob,
    pub ttl: Duration,
    pub owned: bool,
}

/// A stored affiliate as the snapshot writer sees it: remaining times to live.
#[derive(Debug, Clone)]
pub struct StoredAffiliate {
    pub id: Box<str>,
    pub data: Arc<[u8]>,
    pub ttl: Duration,
    pub endpoints: Vec<StoredEndpoint>,
    pub owner: Option<OwnerHash>,
}

/// One cluster as the snapshot writer sees it.
#[derive(Debug, Clone)]
pub struct StoredCluster {
    pub id: Box<str>,
    pub affiliates: Vec<StoredAffiliate>,
}

/// What one garbage collection removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcReport {
    pub affiliates: u64,
    pub endpoints: u64,
    pub clusters: u64,
}

/// Current sizes, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub clusters: u64,
    pub affiliates: u64,
    pub endpoints: u64,
    pub subscribers: u64,
}

/// What the limits turned away or trimmed since start, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitCounts {
    /// Requests refused because the service holds `max_clusters` clusters.
    pub clusters_refused: u64,
    /// Requests refused because the service holds `max_affiliates` affiliates.
    pub affiliates_refused: u64,
    /// Updates and deletes of an owned affiliate refused for want of its owner token.
    pub not_owner_refused: u64,
    /// Endpoints dropped past the per-affiliate limit.
    pub endpoints_dropped: u64,
    /// Endpoints others had added, evicted to make room for the owner's.
    pub endpoints_evicted: u64,
}

/// Why a watch could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The service is shutting down.
    #[error("the service is shutting down")]
    Closed,
}

/// The watcher fell [`WATCH_BUFFER`] notifications behind and was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("lost update")]
pub struct LostUpdate;

#[derive(Debug)]
struct Endpoint {
    blob: EndpointBlob,
    expires: Millis,
    /// Sent by the affiliate's owner (with its token): kept over endpoints others add.
    owned: bool,
}

#[derive(Debug)]
struct Affiliate {
    data: Arc<[u8]>,
    endpoints: Vec<Endpoint>,
    expires: Millis,
    /// The owner token's hash once an update brought one (first writer binds).
    owner: Option<OwnerHash>,
}

impl Affiliate {
    fn view(&self, id: &str) -> AffiliateView {
        AffiliateView {
            id: id.into(),
            data: self.data.clone(),
            endpoints: self.endpoints.iter().map(|e| e.blob).collect(),
        }
    }
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    tx: mpsc::Sender<Arc<Event>>,
    lost: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct ClusterInner {
    /// Set by the collector when it takes the cluster out of the map.
    removed: bool,
    affiliates: HashMap<Box<str>, Affiliate>,
    subscribers: Vec<Subscriber>,
}

#[derive(Debug, Default)]
struct Cluster {
    inner: Mutex<ClusterInner>,
}

impl Cluster {
    fn lock(&self) -> MutexGuard<'_, ClusterInner> {
        // A panic while holding the lock leaves consistent data (every mutation is a few field
        // writes), so a poisoned lock is used as is rather than taking the service down.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
struct Stats {
    affiliates: AtomicU64,
    endpoints: AtomicU64,
    subscribers: AtomicU64,
    clusters_refused: AtomicU64,
    affiliates_refused: AtomicU64,
    not_owner_refused: AtomicU64,
    endpoints_dropped: AtomicU64,
    endpoints_evicted: AtomicU64,
}

impl Stats {
    /// Counts one more affiliate unless that would pass `max` (then counts the refusal).
    fn reserve_affiliate(&self, max: usize) -> Result<(), LimitError> {
        let max = max as u64;
        self.affiliates
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| ())
            .map_err(|_| {
                self.affiliates_refused.fetch_add(1, Ordering::Relaxed);
                LimitError::Exhausted(format!(
                    "the service holds {max} affiliates, the most it allows (--max-affiliates)"
                ))
            })
    }

    fn denied(&self, message: String) -> LimitError {
        self.not_owner_refused.fetch_add(1, Ordering::Relaxed);
        LimitError::Denied(message)
    }
}

#[derive(Debug)]
struct Shared {
    epoch: Instant,
    caps: Caps,
    clusters: RwLock<HashMap<Box<str>, Arc<Cluster>>>,
    stats: Stats,
    next_subscriber: AtomicU64,
    closed: AtomicBool,
}

/// The discovery state. Cloning is cheap and shares it.
#[derive(Debug, Clone)]
pub struct State {
    shared: Arc<Shared>,
}

impl State {
    /// An empty state whose clock starts at `epoch` (any `now` passed later is at or after it),
    /// with the default [`Caps`].
    pub fn new(epoch: Instant) -> State {
        State::with_caps(epoch, Caps::default())
    }

    /// An empty state with the given global caps.
    pub fn with_caps(epoch: Instant, caps: Caps) -> State {
        State {
            shared: Arc::new(Shared {
                epoch,
                caps,
                clusters: RwLock::default(),
                stats: Stats::default(),
                next_subscriber: AtomicU64::new(0),
                closed: AtomicBool::new(false),
            }),
        }
    }

    fn millis(&self, now: Instant) -> Millis {
        now.saturating_duration_since(self.shared.epoch).as_millis() as Millis
    }

    /// The cluster if it exists.
    fn existing_cluster(&self, id: &str) -> Option<Arc<Cluster>> {
        self.shared
            .clusters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The cluster, created if missing and the cluster cap allows.
    fn cluster(&self, id: &str) -> Result<Arc<Cluster>, LimitError> {
        if let Some(c) = self.existing_cluster(id) {
            return Ok(c);
        }
        let mut map = self
            .shared
            .clusters
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = map.get(id) {
            return Ok(c.clone());
        }
        let max = self.shared.caps.max_clusters;
        if map.len() >= max {
            self.shared
                .stats
                .clusters_refused
                .fetch_add(1, Ordering::Relaxed);
            return Err(LimitError::Exhausted(format!(
                "the service holds {max} clusters, the most it allows (--max-clusters)"
            )));
        }
        Ok(map.entry(id.into()).or_default().clone())
    }

    /// Runs `f` on the cluster's locked contents (creating the cluster if needed), retrying when
    /// the collector removed the cluster between the lookup and the lock.
    fn with_cluster<R>(
        &self,
        id: &str,
        mut f: impl FnMut(&mut ClusterInner) -> Result<R, LimitError>,
    ) -> Result<R, LimitError> {
        loop {
            let cluster = self.cluster(id)?;
            let mut inner = cluster.lock();
            if !inner.removed {
                return f(&mut inner);
            }
        }
    }

    /// Runs `f` on the cluster's locked contents if the cluster exists (reads and deletes never
    /// create one).
    fn with_existing_cluster<R>(
        &self,
        id: &str,
        mut f: impl FnMut(&mut ClusterInner) -> R,
    ) -> Option<R> {
        loop {
            let cluster = self.existing_cluster(id)?;
            let mut inner = cluster.lock();
            if !inner.removed {
                return Some(f(&mut inner));
            }
        }
    }

    /// AffiliateUpdate: creates or updates an affiliate (§6.2). Data replaces the stored data when
    /// non-empty and sets the affiliate's expiration (which may shorten it); endpoints are merged
    /// (byte-equal ones keep the later expiration, new ones are appended while they fit, see
    /// [`merge_endpoints`]); any update raises the affiliate's expiration to at least `now + ttl`
    /// — except a token-less one of an owned affiliate (see the module doc). A request that is
    /// refused changes nothing.
    pub fn update(
        &self,
        cluster_id: &str,
        affiliate_id: &str,
        update: Update<'_>,
        now: Instant,
    ) -> Result<UpdateOutcome, LimitError> {
        limits::check_cluster_id(cluster_id)?;
        limits::check_affiliate_id(affiliate_id)?;
        limits::check_data(update.data)?;
        limits::check_endpoints(update.endpoints)?;
        if update.ttl > MAX_TTL {
            return Err(LimitError::Invalid(format!(
                "ttl {}s is longer than the {}s allowed",
                update.ttl.as_secs(),
                MAX_TTL.as_secs()
            )));
        }
        let expires = self.millis(now) + update.ttl.as_millis() as Millis;
        // The request's distinct endpoints in order. More than the limit can never all be
        // stored: the rest are dropped at once, which also keeps deduplicating a request of
        // thousands of tiny endpoints linear.
        let mut blobs: Vec<EndpointBlob> =
            Vec::with_capacity(update.endpoints.len().min(MAX_ENDPOINTS_PER_AFFILIATE));
        let mut outcome = UpdateOutcome::default();
        for (i, e) in update.endpoints.iter().enumerate() {
            // Sizes were checked above, so `new` always succeeds.
            if let Some(blob) = EndpointBlob::new(e)
                && !blobs.contains(&blob)
            {
                if blobs.len() == MAX_ENDPOINTS_PER_AFFILIATE {
                    outcome.dropped += (update.endpoints.len() - i) as u64;
                    break;
                }
                blobs.push(blob);
            }
        }
        let shared = &*self.shared;
        let stats = &shared.stats;
        self.with_cluster(cluster_id, |cluster| {
            let existing = cluster.affiliates.get(affiliate_id);
            let created = existing.is_none();
            // Who is asking, as far as ownership goes.
            let by_owner = match (existing.and_then(|a| a.owner), update.owner) {
                (Some(bound), Some(hash)) if bound == hash => true,
                (Some(_), Some(_)) => {
                    return Err(stats.denied(format!(
                        "affiliate {affiliate_id:?} is owned and this owner token is not its owner's"
                    )));
                }
                (Some(_), None) if !update.data.is_empty() => {
                    return Err(stats.denied(format!(
                        "affiliate {affiliate_id:?} is owned: updating its data needs its owner token"
                    )));
                }
                (Some(_), None) => false,
                (None, token) => token.is_some(),
            };
            let stranger = existing.is_some_and(|a| a.owner.is_some()) && !by_owner;
            if created {
                if cluster.affiliates.len() >= MAX_AFFILIATES_PER_CLUSTER {
                    return Err(LimitError::Exhausted(format!(
                        "cluster has {MAX_AFFILIATES_PER_CLUSTER} affiliates, the most allowed"
                    )));
                }
                stats.reserve_affiliate(shared.caps.max_affiliates)?;
            }
            let affiliate = cluster
                .affiliates
                .entry(affiliate_id.into())
                .or_insert_with(|| Affiliate {
                    data: Arc::from(&[][..]),
                    endpoints: Vec::new(),
                    expires,
                    owner: None,
                });
            if by_owner {
                // First writer binds; a matching token rebinds the same hash.
                affiliate.owner = update.owner;
            }
            let mut changed = created;
            if !update.data.is_empty() {
                affiliate.data = Arc::from(update.data);
                affiliate.expires = expires;
                changed = true;
            }
            let merged = merge_endpoints(&mut affiliate.endpoints, &blobs, expires, by_owner);
            changed |= merged.added > 0;
            if !stranger {
                affiliate.expires = affiliate.expires.max(expires);
            }
            stats
                .endpoints
                .fetch_add(merged.added - merged.evicted, Ordering::Relaxed);
            outcome.dropped += merged.dropped;
            outcome.evicted = merged.evicted;
            stats
                .endpoints_dropped
                .fetch_add(outcome.dropped, Ordering::Relaxed);
            stats
                .endpoints_evicted
                .fetch_add(outcome.evicted, Ordering::Relaxed);
            if changed {
                let event = Event::Updated(affiliate.view(affiliate_id));
                notify(cluster, stats, event);
            }
            Ok(outcome)
        })
    }

    /// AffiliateDelete: removes the affiliate (if present) and tells the watchers. An owned
    /// affiliate is removed only with its owner token's hash in `owner`.
    pub fn delete(
        &self,
        cluster_id: &str,
        affiliate_id: &str,
        owner: Option<OwnerHash>,
    ) -> Result<(), LimitError> {
        limits::check_cluster_id(cluster_id)?;
        limits::check_affiliate_id(affiliate_id)?;
        let stats = &self.shared.stats;
        self.with_existing_cluster(cluster_id, |cluster| {
            let Some(affiliate) = cluster.affiliates.get(affiliate_id) else {
                return Ok(());
            };
            if let Some(bound) = affiliate.owner
                && owner != Some(bound)
            {
                return Err(stats.denied(if owner.is_some() {
                    format!(
                        "affiliate {affiliate_id:?} is owned and this owner token is not its owner's"
                    )
                } else {
                    format!("affiliate {affiliate_id:?} is owned: deleting it needs its owner token")
                }));
            }
            if let Some(removed) = cluster.affiliates.remove(affiliate_id) {
                stats.affiliates.fetch_sub(1, Ordering::Relaxed);
                stats
                    .endpoints
                    .fetch_sub(removed.endpoints.len() as u64, Ordering::Relaxed);
                notify(cluster, stats, Event::Deleted(affiliate_id.into()));
            }
            Ok(())
        })
        .unwrap_or(Ok(()))
    }

    /// List: every affiliate of the cluster, in no particular order (none for an unknown cluster,
    /// which is not created).
    pub fn list(&self, cluster_id: &str) -> Result<Vec<AffiliateView>, LimitError> {
        limits::check_cluster_id(cluster_id)?;
        Ok(self
            .with_existing_cluster(cluster_id, |cluster| {
                cluster
                    .affiliates
                    .iter()
                    .map(|(id, a)| a.view(id))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// What the limits turned away or trimmed since start.
    pub fn limit_counts(&self) -> LimitCounts {
        let stats = &self.shared.stats;
        LimitCounts {
            clusters_refused: stats.clusters_refused.load(Ordering::Relaxed),
            affiliates_refused: stats.affiliates_refused.load(Ordering::Relaxed),
            not_owner_refused: stats.not_owner_refused.load(Ordering::Relaxed),
            endpoints_dropped: stats.endpoints_dropped.load(Ordering::Relaxed),
            endpoints_evicted: stats.endpoints_evicted.load(Ordering::Relaxed),
        }
    }

    /// Watch: the cluster's current affiliates and a subscription to its changes, taken under one
    /// lock so no change is missed or seen twice.
    pub fn subscribe(&self, cluster_id: &str) -> Result<Subscription, SubscribeError> {
        limits::check_cluster_id(cluster_id)?;
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(SubscribeError::Closed);
        }
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let lost = Arc::new(AtomicBool::new(false));
        let id = self.shared.next_subscriber.fetch_add(1, Ordering::Relaxed);
        loop {
            let cluster = self.cluster(cluster_id)?;
            let mut inner = cluster.lock();
            if inner.removed {
                continue;
            }
            // Checked again under the cluster lock: `close` drains every cluster under its lock,
            // so a watcher is either refused here or drained there, never left behind.
            if self.shared.closed.load(Ordering::Acquire) {
                return Err(SubscribeError::Closed);
            }
            let snapshot = inner.affiliates.iter().map(|(id, a)| a.view(id)).collect();
            inner.subscribers.push(Subscriber {
                id,
                tx,
                lost: lost.clone(),
            });
            self.shared
                .stats
                .subscribers
                .fetch_add(1, Ordering::Relaxed);
            drop(inner);
            return Ok(Subscription {
                snapshot: Some(snapshot),
                rx,
                lost,
                id,
                cluster,
                shared: self.shared.clone(),
            });
        }
    }

    /// Removes expired affiliates (expiration before `now`) and endpoints (expiration at or before
    /// `now`), tells the watchers, and removes clusters left with no affiliates and no watchers.
    ///
    /// Differs from Sidero on purpose: an affiliate that lost only endpoints is sent as `Updated`
    /// with what is left, not `Deleted`. Endpoints expire on their own when a peer that harvested
    /// them stops publishing them (`harvestExtraEndpoints`); `Deleted` would make every watcher
    /// drop a live node until its next refresh, up to 15 minutes later.
    pub fn gc(&self, now: Instant) -> GcReport {
        let now = self.millis(now);
        let stats = &self.shared.stats;
        let mut report = GcReport::default();
        let clusters: Vec<(Box<str>, Arc<Cluster>)> = self
            .shared
            .clusters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect();
        let mut empty = Vec::new();
        for (id, cluster) in clusters {
            let mut inner = cluster.lock();
            let mut events = Vec::new();
            inner.affiliates.retain(|aid, a| {
                if a.expires < now {
                    report.affiliates += 1;
                    report.endpoints += a.endpoints.len() as u64;
                    events.push(Event::Deleted(aid.clone()));
                    return false;
                }
                let before = a.endpoints.len();
                a.endpoints.retain(|e| e.expires > now);
                if a.endpoints.len() != before {
                    report.endpoints += (before - a.endpoints.len()) as u64;
                    // Give back the memory of a long endpoint list that shrank a lot.
                    if a.endpoints.capacity() > 8 && a.endpoints.capacity() > 2 * a.endpoints.len()
                    {
                        a.endpoints.shrink_to_fit();
                    }
                    // One without data is not known to clients anyway.
                    events.push(if a.data.is_empty() {
                        Event::Deleted(aid.clone())
                    } else {
                        Event::Updated(a.view(aid))
                    });
                }
                true
            });
            for event in events {
                notify(&mut inner, stats, event);
            }
            if inner.affiliates.is_empty() && inner.subscribers.is_empty() {
                empty.push(id);
            }
        }
        stats
            .affiliates
            .fetch_sub(report.affiliates, Ordering::Relaxed);
        stats
            .endpoints
            .fetch_sub(report.endpoints, Ordering::Relaxed);
        if !empty.is_empty() {
            let mut map = self
                .shared
                .clusters
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            for id in empty {
                let Some(cluster) = map.get(&id).cloned() else {
                    continue;
                };
                let mut inner = cluster.lock();
                // Re-checked: a request may have used the cluster since the first pass.
                if inner.affiliates.is_empty() && inner.subscribers.is_empty() {
                    inner.removed = true;
                    map.remove(&id);
                    report.clusters += 1;
                }
            }
            if map.capacity() > 64 && map.capacity() > 4 * map.len() {
                map.shrink_to_fit();
            }
        }
        report
    }

    /// Ends every watch cleanly (their streams end without error) and refuses new ones: the
    /// first step of shutting down, since the gRPC server waits for open streams to finish.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        for cluster in self.clusters() {
            let mut inner = cluster.lock();
            let n = inner.subscribers.len() as u64;
            inner.subscribers.clear();
            self.shared
                .stats
                .subscribers
                .fetch_sub(n, Ordering::Relaxed);
        }
    }

    fn clusters(&self) -> Vec<Arc<Cluster>> {
        self.shared
            .clusters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// Current sizes.
    pub fn counts(&self) -> Counts {
        let stats = &self.shared.stats;
        Counts {
            clusters: self
                .shared
                .clusters
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .len() as u64,
            affiliates: stats.affiliates.load(Ordering::Relaxed),
            endpoints: stats.endpoints.load(Ordering::Relaxed),
            subscribers: stats.subscribers.load(Ordering::Relaxed),
        }
    }

    /// Every non-empty cluster with remaining times to live, one cluster locked at a time, for
    /// the snapshot writer. Clusters are visited one by one so the caller can encode and write
    /// each without holding the whole state twice; `visit` runs with no lock held.
    pub fn export<E>(
        &self,
        now: Instant,
        mut visit: impl FnMut(StoredCluster) -> Result<(), E>,
    ) -> Result<(), E> {
        let now = self.millis(now);
        let remaining = |expires: Millis| Duration::from_millis(expires.saturating_sub(now));
        let clusters: Vec<(Box<str>, Arc<Cluster>)> = self
            .shared
            .clusters
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, c)| (id.clone(), c.clone()))
            .collect();
        for (id, cluster) in clusters {
            let affiliates: Vec<StoredAffiliate> = {
                let inner = cluster.lock();
                if inner.removed {
                    continue;
                }
                inner
                    .affiliates
                    .iter()
                    .map(|(aid, a)| StoredAffiliate {
                        id: aid.clone(),
                        data: a.data.clone(),
                        ttl: remaining(a.expires),
                        endpoints: a
                            .endpoints
                            .iter()
                            .map(|e| StoredEndpoint {
                                blob: e.blob,
                                ttl: remaining(e.expires),
                                owned: e.owned,
                            })
                            .collect(),
                        owner: a.owner,
                    })
                    .collect()
            };
            if !affiliates.is_empty() {
                visit(StoredCluster { id, affiliates })?;
            }
        }
        Ok(())
    }

    /// Puts an affiliate read from a snapshot back, with expirations `now + ttl`. The limits of
    /// a live update apply (a snapshot may come from a service with other limits: endpoints past
    /// the limit are dropped); no watcher exists yet, so nobody is notified.
    pub fn restore(
        &self,
        cluster_id: &str,
        affiliate: Restored,
        now: Instant,
    ) -> Result<(), LimitError> {
        limits::check_cluster_id(cluster_id)?;
        limits::check_affiliate_id(&affiliate.id)?;
        limits::check_data(&affiliate.data)?;
        let now = self.millis(now);
        let clamp = |ttl: Duration| now + ttl.min(MAX_TTL).as_millis() as Millis;
        let mut endpoints: Vec<Endpoint> =
            Vec::with_capacity(affiliate.endpoints.len().min(MAX_ENDPOINTS_PER_AFFILIATE));
        for e in &affiliate.endpoints {
            let blob = EndpointBlob::new(&e.data).ok_or_else(|| {
                LimitError::Invalid(format!(
                    "affiliate endpoint is {} bytes, at most {MAX_ENDPOINT_LEN} allowed",
                    e.data.len()
                ))
            })?;
            if endpoints.len() < MAX_ENDPOINTS_PER_AFFILIATE
                && !endpoints.iter().any(|known| known.blob == blob)
            {
                endpoints.push(Endpoint {
                    blob,
                    expires: clamp(e.ttl),
                    owned: e.owned,
                });
            }
        }
        let shared = &*self.shared;
        let stats = &shared.stats;
        self.with_cluster(cluster_id, |cluster| {
            let known = cluster.affiliates.contains_key(affiliate.id.as_str());
            if !known {
                if cluster.affiliates.len() >= MAX_AFFILIATES_PER_CLUSTER {
                    return Err(LimitError::Exhausted(format!(
                        "cluster has {MAX_AFFILIATES_PER_CLUSTER} affiliates, the most allowed"
                    )));
                }
                stats.reserve_affiliate(shared.caps.max_affiliates)?;
            }
            let n = endpoints.len() as u64;
            let old = cluster.affiliates.insert(
                affiliate.id.as_str().into(),
                Affiliate {
                    data: Arc::from(affiliate.data.as_slice()),
                    endpoints: std::mem::take(&mut endpoints),
                    expires: clamp(affiliate.ttl),
                    owner: affiliate.owner,
                },
            );
            if let Some(old) = old {
                stats
                    .endpoints
                    .fetch_sub(old.endpoints.len() as u64, Ordering::Relaxed);
            }
            stats.endpoints.fetch_add(n, Ordering::Relaxed);
            Ok(())
        })
    }
}

/// What [`merge_endpoints`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Merged {
    added: u64,
    dropped: u64,
    evicted: u64,
}

/// Merges an update's distinct endpoints (`blobs`, in request order) into an affiliate's.
///
/// A known endpoint keeps the later expiration (and becomes the owner's when the owner sends
/// it). A new one is appended while the affiliate has fewer than [`MAX_ENDPOINTS_PER_AFFILIATE`];
/// past that, as in Sidero's service, it is dropped — unless the owner sent it: then it evicts
/// an endpoint this update does not carry, one others added first (harvested), else one of the
/// owner's older ones, the soonest to expire first, so the node's own endpoints always get in.
fn merge_endpoints(
    endpoints: &mut Vec<Endpoint>,
    blobs: &[EndpointBlob],
    expires: Millis,
    by_owner: bool,
) -> Merged {
    let mut merged = Merged::default();
    for blob in blobs {
        if let Some(known) = endpoints.iter_mut().find(|e| e.blob == *blob) {
            known.expires = known.expires.max(expires);
            known.owned |= by_owner;
            continue;
        }
        let new = Endpoint {
            blob: *blob,
            expires,
            owned: by_owner,
        };
        if endpoints.len() < MAX_ENDPOINTS_PER_AFFILIATE {
            endpoints.push(new);
            merged.added += 1;
            continue;
        }
        let victim = by_owner
            .then(|| {
                endpoints
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| !blobs.contains(&e.blob))
                    .min_by_key(|(i, e)| (e.owned, e.expires, *i))
                    .map(|(i, _)| i)
            })
            .flatten();
        match victim {
            Some(i) => {
                endpoints.remove(i);
                endpoints.push(new);
                merged.added += 1;
                merged.evicted += 1;
            }
            None => merged.dropped += 1,
        }
    }
    merged
}

/// Sends `event` to every watcher of the cluster without waiting: a watcher whose buffer is full
/// is marked lost and dropped; one whose stream is gone is dropped.
fn notify(cluster: &mut ClusterInner, stats: &Stats, event: Event) {
    if cluster.subscribers.is_empty() {
        return;
    }
    let event = Arc::new(event);
    let before = cluster.subscribers.len();
    cluster
        .subscribers
        .retain(|s| match s.tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                s.lost.store(true, Ordering::Release);
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
    let dropped = (before - cluster.subscribers.len()) as u64;
    stats.subscribers.fetch_sub(dropped, Ordering::Relaxed);
}

/// A watcher: the snapshot taken when it started, then the cluster's changes. Dropping it
/// unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    snapshot: Option<Vec<AffiliateView>>,
    rx: mpsc::Receiver<Arc<Event>>,
    lost: Arc<AtomicBool>,
    id: u64,
    cluster: Arc<Cluster>,
    shared: Arc<Shared>,
}

impl Subscription {
    /// The affiliates at the time the watch started (once; empty afterwards).
    pub fn take_snapshot(&mut self) -> Vec<AffiliateView> {
        self.snapshot.take().unwrap_or_default()
    }

    /// The next change; `Ok(None)` when the service is closing; `Err` when this watcher fell
    /// behind and was dropped — reported before any change still buffered, since the client must
    /// start over anyway.
    pub async fn next(&mut self) -> Result<Option<Arc<Event>>, LostUpdate> {
        if self.lost.load(Ordering::Acquire) {
            return Err(LostUpdate);
        }
        match self.rx.recv().await {
            Some(event) => Ok(Some(event)),
            None if self.lost.load(Ordering::Acquire) => Err(LostUpdate),
            None => Ok(None),
        }
    }

    /// The next change if one is buffered (for tests).
    pub fn try_next(&mut self) -> Result<Option<Arc<Event>>, LostUpdate> {
        if self.lost.load(Ordering::Acquire) {
            return Err(LostUpdate);
        }
        Ok(self.rx.try_recv().ok())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.cluster.lock();
        let before = inner.subscribers.len();
        inner.subscribers.retain(|s| s.id != self.id);
        let removed = (before - inner.subscribers.len()) as u64;
        self.shared
            .stats
            .subscribers
            .fetch_sub(removed, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "cluster-1";
    const T: Duration = Duration::from_secs(60);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn upd<'a>(data: &'a [u8], endpoints: &'a [Vec<u8>], ttl: Duration) -> Update<'a> {
        Update {
            data,
            endpoints,
            ttl,
            owner: None,
        }
    }

    /// An update carrying the owner token whose hash is `[owner; 32]`.
    fn owned<'a>(owner: u8, data: &'a [u8], endpoints: &'a [Vec<u8>], ttl: Duration) -> Update<'a> {
        Update {
            owner: Some([owner; OWNER_TOKEN_LEN]),
            ..upd(data, endpoints, ttl)
        }
    }

    fn eps(view: &AffiliateView) -> Vec<Vec<u8>> {
        view.endpoints
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect()
    }

    fn get(state: &State, id: &str) -> Option<AffiliateView> {
        state
            .list(C)
            .expect("list")
            .into_iter()
            .find(|a| &*a.id == id)
    }

    fn updated(event: Option<Arc<Event>>) -> AffiliateView {
        match event.as_deref() {
            Some(Event::Updated(v)) => v.clone(),
            other => panic!("expected Updated, got {other:?}"),
        }
    }

    fn deleted(event: Option<Arc<Event>>) -> String {
        match event.as_deref() {
            Some(Event::Deleted(id)) => id.to_string(),
            other => panic!("expected Deleted, got {other:?}"),
        }
    }

    #[test]
    fn data_is_replaced_only_when_present_and_endpoints_merge() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let e1 = vec![1u8; 16];
        let e2 = vec![2u8; 32];
        state
            .update(C, "a", upd(b"v1", std::slice::from_ref(&e1), T), t0)
            .expect("update");
        // Endpoint-only update keeps the data; a known endpoint is not repeated; order kept.
        state
            .update(
                C,
                "a",
                upd(b"", &[e2.clone(), e1.clone(), e2.clone()], T),
                t0,
            )
            .expect("update");
        let a = get(&state, "a").expect("a");
        assert_eq!(&*a.data, b"v1");
        assert_eq!(eps(&a), vec![e1.clone(), e2.clone()]);
        // Data replaced; endpoints kept.
        state
            .update(C, "a", upd(b"v2", &[], T), t0)
            .expect("update");
        let a = get(&state, "a").expect("a");
        assert_eq!(&*a.data, b"v2");
        assert_eq!(eps(&a), vec![e1, e2]);
        assert_eq!(
            state.counts(),
            Counts {
                clusters: 1,
                affiliates: 1,
                endpoints: 2,
                subscribers: 0
            }
        );
    }

    #[test]
    fn endpoint_only_update_creates_an_affiliate_with_empty_data() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let mut w = state.subscribe(C).expect("watch");
        assert!(w.take_snapshot().is_empty());
        state
            .update(C, "a", upd(b"", &[vec![7; 16]], T), t0)
            .expect("update");
        let a = updated(w.try_next().expect("not lost"));
        assert_eq!(&*a.id, "a");
        assert!(a.data.is_empty());
        assert_eq!(eps(&a), vec![vec![7; 16]]);
        // Even an empty update creates (and announces) the affiliate.
        state.update(C, "b", upd(b"", &[], T), t0).expect("update");
        assert_eq!(&*updated(w.try_next().expect("ok")).id, "b");
    }

    #[test]
    fn expirations_follow_the_merge_rules() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let e1 = vec![1u8; 16];
        let e2 = vec![2u8; 16];
        // a: data with a long TTL, then data with a short TTL shortens the affiliate.
        state
            .update(C, "a", upd(b"x", &[], secs(600)), t0)
            .expect("u");
        state
            .update(C, "a", upd(b"y", &[], secs(60)), t0)
            .expect("u");
        // b: data with a short TTL, then an endpoint-only update with a long TTL raises it.
        state
            .update(C, "b", upd(b"x", &[], secs(60)), t0)
            .expect("u");
        state
            .update(C, "b", upd(b"", std::slice::from_ref(&e1), secs(600)), t0)
            .expect("u");
        // c: an endpoint refreshed with a shorter TTL keeps the longer expiration; e2 is short.
        state
            .update(C, "c", upd(b"x", std::slice::from_ref(&e1), secs(600)), t0)
            .expect("u");
        state
            .update(C, "c", upd(b"", &[e1.clone(), e2.clone()], secs(60)), t0)
            .expect("u");

        assert_eq!(state.gc(t0 + secs(59)), GcReport::default());
        // At exactly 60 s the affiliate is not yet expired (strictly before now) but an endpoint
        // expiring at 60 s is (at or before now).
        let r = state.gc(t0 + secs(60));
        assert_eq!(
            r,
            GcReport {
                affiliates: 0,
                endpoints: 1,
                clusters: 0
            }
        );
        assert_eq!(eps(&get(&state, "c").expect("c")), vec![e1.clone()]);
        let r = state.gc(t0 + secs(61));
        assert_eq!(r.affiliates, 1, "a expired");
        assert!(get(&state, "a").is_none());
        assert!(get(&state, "b").is_some());
        assert!(get(&state, "c").is_some());
        let r = state.gc(t0 + secs(601));
        assert_eq!(
            r,
            GcReport {
                affiliates: 2,
                endpoints: 2,
                clusters: 1
            }
        );
        assert_eq!(state.counts(), Counts::default());
    }

    #[test]
    fn gc_notifies_deleted_for_expired_affiliates_and_updated_for_expired_endpoints() {
        let t0 = Instant::now();
        let state = State::new(t0);
        state
            .update(C, "keep", upd(b"x", &[vec![1; 16]], secs(600)), t0)
            .expect("u");
        state
            .update(C, "keep", upd(b"", &[vec![2; 16]], secs(30)), t0)
            .expect("u");
        state
            .update(C, "gone", upd(b"x", &[], secs(30)), t0)
            .expect("u");
        // Known only from endpoints (no data): clients do not know it, so `Deleted` is right.
        state
            .update(C, "bare", upd(b"", &[vec![3; 16]], secs(600)), t0)
            .expect("u");
        state
            .update(C, "bare", upd(b"", &[vec![4; 16]], secs(30)), t0)
            .expect("u");
        let mut w = state.subscribe(C).expect("watch");
        assert_eq!(w.take_snapshot().len(), 3);
        state.gc(t0 + secs(31));
        let mut deletes = Vec::new();
        let mut updates = Vec::new();
        while let Some(event) = w.try_next().expect("ok") {
            match &*event {
                Event::Deleted(id) => deletes.push(id.to_string()),
                Event::Updated(view) => updates.push(view.clone()),
            }
        }
        deletes.sort();
        assert_eq!(deletes, ["bare", "gone"]);
        // A live affiliate that lost an endpoint stays known to watchers, with what is left.
        assert_eq!(updates.len(), 1, "{updates:?}");
        assert_eq!(&*updates[0].id, "keep");
        assert_eq!(eps(&updates[0]), vec![vec![1; 16]]);
        assert_eq!(eps(&get(&state, "keep").expect("keep")), vec![vec![1; 16]]);
        // The cluster has a watcher, so it stays even when it has no affiliates.
        state.delete(C, "keep", None).expect("delete");
        assert_eq!(deleted(w.try_next().expect("ok")), "keep");
        assert_eq!(state.gc(t0 + secs(3600)).clusters, 0);
        assert_eq!(state.counts().clusters, 1);
        drop(w);
        assert_eq!(state.counts().subscribers, 0);
        assert_eq!(state.gc(t0 + secs(3600)).clusters, 1);
        assert_eq!(state.counts().clusters, 0);
    }

    #[test]
    fn clusters_are_created_by_watch_and_update_and_collected() {
        let t0 = Instant::now();
        let state = State::new(t0);
        // Reads and deletes of an unknown cluster do not create it (each would cost memory
        // until the next collection).
        assert!(state.list("l").expect("list").is_empty());
        state.delete("d", "x", None).expect("delete");
        assert_eq!(state.counts().clusters, 0);
        drop(state.subscribe("w").expect("watch"));
        state.update("u", "x", upd(b"", &[], T), t0).expect("u");
        assert_eq!(state.counts().clusters, 2);
        assert_eq!(state.gc(t0).clusters, 1);
        assert_eq!(state.counts().clusters, 1);
        // A cluster removed by the collector is recreated by the next request.
        assert_eq!(state.gc(t0 + secs(61)).clusters, 1);
        state.update("u", "x", upd(b"d", &[], T), t0).expect("u");
        assert_eq!(state.list("u").expect("list").len(), 1);
    }

    #[test]
    fn watch_gets_snapshot_then_changes_in_order() {
        let t0 = Instant::now();
        let state = State::new(t0);
        state.update(C, "a", upd(b"1", &[], T), t0).expect("u");
        let mut w = state.subscribe(C).expect("watch");
        let snap = w.take_snapshot();
        assert_eq!(snap.len(), 1);
        assert_eq!(&*snap[0].data, b"1");
        assert!(w.take_snapshot().is_empty(), "snapshot is given once");
        state.update(C, "b", upd(b"2", &[], T), t0).expect("u");
        state.update(C, "a", upd(b"3", &[], T), t0).expect("u");
        // Refreshing a known endpoint without data changes nothing: no notification.
        state
            .update(C, "a", upd(b"", &[vec![1; 16]], T), t0)
            .expect("u");
        state
            .update(C, "a", upd(b"", &[vec![1; 16]], T), t0)
            .expect("u");
        state.delete(C, "b", None).expect("d");
        state.delete(C, "nobody", None).expect("d");
        let b = updated(w.try_next().expect("ok"));
        assert_eq!((&*b.id, &*b.data), ("b", &b"2"[..]));
        assert_eq!(&*updated(w.try_next().expect("ok")).data, b"3");
        assert_eq!(eps(&updated(w.try_next().expect("ok"))), vec![vec![1; 16]]);
        assert_eq!(deleted(w.try_next().expect("ok")), "b");
        assert!(w.try_next().expect("ok").is_none());
        // Other clusters' changes are not seen.
        state
            .update("other", "z", upd(b"z", &[], T), t0)
            .expect("u");
        assert!(w.try_next().expect("ok").is_none());
    }

    #[test]
    fn slow_watcher_is_dropped_and_writers_never_wait() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let mut slow = state.subscribe(C).expect("watch");
        let mut fast = state.subscribe(C).expect("watch");
        assert_eq!(state.counts().subscribers, 2);
        for i in 0..WATCH_BUFFER {
            state
                .update(C, "a", upd(format!("{i}").as_bytes(), &[], T), t0)
                .expect("u");
            assert!(fast.try_next().expect("ok").is_some());
        }
        assert_eq!(
            state.counts().subscribers,
            2,
            "a full buffer is not yet a loss"
        );
        // One more: the slow watcher's buffer overflows; the update itself succeeds at once.
        state.update(C, "a", upd(b"over", &[], T), t0).expect("u");
        assert_eq!(state.counts().subscribers, 1);
        assert_eq!(slow.try_next(), Err(LostUpdate));
        assert_eq!(&*updated(fast.try_next().expect("ok")).data, b"over");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        assert_eq!(rt.block_on(slow.next()), Err(LostUpdate));
    }

    #[tokio::test]
    async fn close_ends_watches_cleanly_and_refuses_new_ones() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let mut w = state.subscribe(C).expect("watch");
        state.update(C, "a", upd(b"1", &[], T), t0).expect("u");
        state.close();
        assert_eq!(state.counts().subscribers, 0);
        // What was buffered is still delivered, then the stream ends without error.
        assert!(w.next().await.expect("ok").is_some());
        assert_eq!(w.next().await, Ok(None));
        assert_eq!(state.subscribe(C).map(|_| ()), Err(SubscribeError::Closed));
    }

    #[test]
    fn every_limit_with_its_kind() {
        let t0 = Instant::now();
        let state = State::new(t0);
        fn invalid<T: std::fmt::Debug>(r: Result<T, LimitError>) {
            assert!(matches!(r, Err(LimitError::Invalid(_))), "{r:?}");
        }
        fn exhausted<T: std::fmt::Debug>(r: Result<T, LimitError>) {
            assert!(matches!(r, Err(LimitError::Exhausted(_))), "{r:?}");
        }
        let long = "x".repeat(257);
        invalid(state.update("", "a", upd(b"", &[], T), t0));
        invalid(state.update(&long, "a", upd(b"", &[], T), t0));
        invalid(state.update(C, "", upd(b"", &[], T), t0));
        invalid(state.update(C, &long, upd(b"", &[], T), t0));
        invalid(state.update(C, "a", upd(&[0; 2049], &[], T), t0));
        invalid(state.update(C, "a", upd(b"", &[vec![0; 33]], T), t0));
        invalid(state.update(C, "a", upd(b"", &[], MAX_TTL + secs(1)), t0));
        invalid(state.delete("", "a", None));
        invalid(state.delete(C, &long, None));
        invalid(state.list(&long).map(|_| ()));
        assert!(matches!(
            state.subscribe("").map(|_| ()),
            Err(SubscribeError::Limit(LimitError::Invalid(_)))
        ));
        assert_eq!(
            state.counts().affiliates,
            0,
            "nothing stored by invalid requests"
        );

        // The boundaries themselves are accepted.
        let at_limit = state.update(
            &"c".repeat(256),
            &"a".repeat(256),
            upd(&[0; 2048], &[vec![0; 32]], MAX_TTL),
            t0,
        );
        assert_eq!(at_limit, Ok(UpdateOutcome::default()));

        for i in 0..MAX_AFFILIATES_PER_CLUSTER {
            state
                .update(C, &format!("a{i}"), upd(b"", &[], T), t0)
                .expect("within the limit");
        }
        exhausted(state.update(C, "one-more", upd(b"", &[], T), t0));
        // Existing affiliates can still be updated.
        state
            .update(C, "a0", upd(b"d", &[], T), t0)
            .expect("update");
    }

    #[test]
    fn endpoints_past_the_limit_are_dropped_not_the_update() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let many: Vec<Vec<u8>> = (0..MAX_ENDPOINTS_PER_AFFILIATE as u8)
            .map(|i| vec![i; 16])
            .collect();
        let r = state.update(C, "a1", upd(b"", &many, T), t0);
        assert_eq!(r, Ok(UpdateOutcome::default()), "64 endpoints fit");
        // Known endpoints can be refreshed; a new one is dropped, and the rest of the update
        // (its data) still goes in: the affiliate is never stuck.
        state
            .update(C, "a1", upd(b"", &many[..3], T), t0)
            .expect("refresh");
        let r = state.update(C, "a1", upd(b"new", &[vec![99; 16]], T), t0);
        assert_eq!(
            r,
            Ok(UpdateOutcome {
                dropped: 1,
                evicted: 0
            })
        );
        let a1 = get(&state, "a1").expect("a1");
        assert_eq!(&*a1.data, b"new");
        assert_eq!(eps(&a1), many, "Sidero's order: the first 64 stay");
        // A single request with too many distinct endpoints: the first 64, in order.
        let too_many: Vec<Vec<u8>> = (0..=MAX_ENDPOINTS_PER_AFFILIATE as u8 + 2)
            .map(|i| vec![i; 8])
            .collect();
        let r = state.update(C, "a2", upd(b"d", &too_many, T), t0);
        assert_eq!(r.map(|o| o.dropped), Ok(3));
        assert_eq!(
            eps(&get(&state, "a2").expect("a2")),
            too_many[..MAX_ENDPOINTS_PER_AFFILIATE].to_vec()
        );
        assert_eq!(state.counts().endpoints, 128);
        assert_eq!(state.limit_counts().endpoints_dropped, 4);
    }

    #[test]
    fn the_owners_endpoints_evict_harvested_ones() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let mine = [vec![1u8; 16], vec![2u8; 16]];
        state
            .update(C, "n", owned(7, b"d", &mine, secs(600)), t0)
            .expect("owner");
        // Someone fills the affiliate with 62 junk endpoints without a token (allowed: Talos
        // harvests this way), the later ones expiring later.
        for i in 0..62u8 {
            let junk = [vec![100 + i; 16]];
            state
                .update(C, "n", upd(b"", &junk, secs(100 + u64::from(i))), t0)
                .expect("junk");
        }
        assert_eq!(state.counts().endpoints, 64);
        // A 65th from a stranger is dropped.
        let r = state.update(C, "n", upd(b"", &[vec![250; 16]], T), t0);
        assert_eq!(r.map(|o| o.dropped), Ok(1));
        // The owner's new endpoints get in, evicting the junk that expires first.
        let moved = [vec![1u8; 16], vec![3u8; 16], vec![4u8; 16]];
        let r = state.update(C, "n", owned(7, b"d2", &moved, secs(600)), t0);
        assert_eq!(
            r,
            Ok(UpdateOutcome {
                dropped: 0,
                evicted: 2
            })
        );
        let n = get(&state, "n").expect("n");
        let got = eps(&n);
        assert_eq!(got.len(), 64);
        for e in &moved {
            assert!(got.contains(e), "the owner's endpoint {e:?} is in");
        }
        assert!(got.contains(&vec![2u8; 16]), "the owner's older one stays");
        assert!(!got.contains(&vec![100u8; 16]) && !got.contains(&vec![101u8; 16]));
        assert!(got.contains(&vec![102u8; 16]));
        // Order: what stayed, then the new ones at the end.
        assert_eq!(&got[62..], &moved[1..]);
        assert_eq!(state.counts().endpoints, 64);
        // Once only the owner's are left, its newest replace its oldest it no longer sends.
        let all_mine: Vec<Vec<u8>> = (0..64u8).map(|i| vec![i; 32]).collect();
        state
            .update(C, "n", owned(7, b"d3", &all_mine, secs(900)), t0)
            .expect("owner fills it");
        assert_eq!(eps(&get(&state, "n").expect("n")), all_mine);
        let r = state.update(C, "n", owned(7, b"", &[vec![200; 32]], secs(900)), t0);
        assert_eq!(
            r,
            Ok(UpdateOutcome {
                dropped: 0,
                evicted: 1
            })
        );
        // 2, then the 64 others when the owner filled it with new ones, then 1.
        assert_eq!(state.limit_counts().endpoints_evicted, 67);
    }

    #[test]
    fn owned_affiliates_need_their_token_for_data_and_delete() {
        let t0 = Instant::now();
        let state = State::new(t0);
        let denied = |r: Result<(), LimitError>| match r {
            Err(LimitError::Denied(msg)) => msg,
            other => panic!("expected Denied, got {other:?}"),
        };
        let ok = |r: Result<UpdateOutcome, LimitError>| r.map(|_| ());
        // First writer binds.
        ok(state.update(C, "n", owned(1, b"v1", &[vec![1; 16]], T), t0)).expect("binds");
        let mut w = state.subscribe(C).expect("watch");
        assert_eq!(w.take_snapshot().len(), 1);
        // Without a token: no data, no delete; a wrong token: nothing at all.
        let msg = denied(ok(state.update(C, "n", upd(b"evil", &[], T), t0)));
        assert!(msg.contains("needs its owner token"), "{msg}");
        let msg = denied(ok(state.update(C, "n", owned(2, b"evil", &[], T), t0)));
        assert!(msg.contains("not its owner's"), "{msg}");
        denied(ok(state.update(
            C,
            "n",
            owned(2, b"", &[vec![9; 16]], T),
            t0,
        )));
        denied(state.delete(C, "n", None));
        denied(state.delete(C, "n", Some([2; OWNER_TOKEN_LEN])));
        assert_eq!(&*get(&state, "n").expect("still there").data, b"v1");
        assert!(w.try_next().expect("ok").is_none(), "nothing happened");
        assert_eq!(state.limit_counts().not_owner_refused, 5);
        // Endpoint-only updates without a token are still merged (harvesting)...
        ok(state.update(C, "n", upd(b"", &[vec![2; 16]], T), t0)).expect("harvested");
        assert_eq!(eps(&updated(w.try_next().expect("ok"))).len(), 2);
        // ...but cannot keep the affiliate alive past its owner's TTL.
        ok(state.update(C, "n", upd(b"", &[vec![3; 16]], MAX_TTL), t0)).expect("harvested");
        assert_eq!(state.gc(t0 + T + secs(1)).affiliates, 1, "expired on time");
        // The binding went with it: anyone may now create "n" again (first writer binds anew).
        ok(state.update(C, "n", owned(2, b"v2", &[], T), t0 + T + secs(2))).expect("rebind");
        denied(state.delete(C, "n", Some([1; OWNER_TOKEN_LEN])));
        // The owner updates and deletes.
        ok(state.update(C, "n", owned(2, b"v3", &[], T), t0)).expect("owner");
        state
            .delete(C, "n", Some([2; OWNER_TOKEN_LEN]))
            .expect("owner deletes");
        assert!(get(&state, "n").is_none());
        // Unowned affiliates behave as in Sidero's service, also when a token comes along later
        // (first writer with a token binds).
        ok(state.update(C, "t", upd(b"talos", &[], T), t0)).expect("unowned");
        ok(state.update(C, "t", upd(b"other", &[], T), t0)).expect("anyone");
        state.delete(C, "t", None).expect("anyone deletes");
        state
            .delete(C, "t", Some([5; OWNER_TOKEN_LEN]))
            .expect("deleting nothing");
        ok(state.update(C, "t", upd(b"talos", &[], T), t0)).expect("unowned");
        ok(state.update(C, "t", owned(3, b"weft", &[], T), t0)).expect("binds");
        denied(ok(state.update(C, "t", upd(b"talos", &[], T), t0)));
    }

    #[test]
    fn global_caps_on_clusters_and_affiliates() {
        let t0 = Instant::now();
        let state = State::with_caps(
            t0,
            Caps {
                max_clusters: 2,
                max_affiliates: 3,
            },
        );
        let exhausted = |r: Result<(), LimitError>| match r {
            Err(LimitError::Exhausted(msg)) => msg,
            other => panic!("expected Exhausted, got {other:?}"),
        };
        let ok = |r: Result<UpdateOutcome, LimitError>| r.map(|_| ());
        ok(state.update("c1", "a", upd(b"d", &[], T), t0)).expect("c1");
        let w = state.subscribe("c2").expect("a watch creates c2");
        let msg = exhausted(ok(state.update("c3", "a", upd(b"d", &[], T), t0)));
        assert!(
            msg.contains("2 clusters") && msg.contains("--max-clusters"),
            "{msg}"
        );
        assert!(matches!(
            state.subscribe("c3").map(|_| ()),
            Err(SubscribeError::Limit(LimitError::Exhausted(_)))
        ));
        // Reads and deletes of unknown clusters create nothing (and are not refused).
        assert_eq!(state.list("c4").expect("list"), vec![]);
        state.delete("c4", "a", None).expect("delete");
        assert_eq!(state.counts().clusters, 2);
        ok(state.update("c2", "a", upd(b"d", &[], T), t0)).expect("c2/a");
        ok(state.update("c2", "b", upd(b"d", &[], T), t0)).expect("c2/b");
        let msg = exhausted(ok(state.update("c2", "c", upd(b"d", &[], T), t0)));
        assert!(
            msg.contains("3 affiliates") && msg.contains("--max-affiliates"),
            "{msg}"
        );
        // Existing affiliates can still be updated; a delete makes room.
        ok(state.update("c2", "a", upd(b"e", &[], T), t0)).expect("update");
        state.delete("c2", "a", None).expect("delete");
        ok(state.update("c2", "c", upd(b"d", &[], T), t0)).expect("room");
        assert_eq!(state.counts().affiliates, 3);
        assert_eq!(
            state.limit_counts(),
            LimitCounts {
                clusters_refused: 2,
                affiliates_refused: 1,
                ..LimitCounts::default()
            }
        );
        // Expiry makes room too, and an emptied cluster goes.
        drop(w);
        state.gc(t0 + T + secs(1));
        assert_eq!(state.counts(), Counts::default());
        ok(state.update("c3", "a", upd(b"d", &[], T), t0)).expect("room again");
    }

    #[test]
    fn export_and_restore_keep_remaining_ttls() {
        let t0 = Instant::now();
        let state = State::new(t0);
        state
            .update(C, "a", owned(4, b"data", &[vec![1; 16]], secs(600)), t0)
            .expect("u");
        state
            .update(C, "a", upd(b"", &[vec![2; 32]], secs(100)), t0)
            .expect("u");
        state
            .subscribe("empty")
            .expect("an empty cluster (kept while watched)");
        let mut exported = Vec::new();
        state
            .export(t0 + secs(50), |c| {
                exported.push(c);
                Ok::<(), ()>(())
            })
            .expect("export");
        assert_eq!(exported.len(), 1, "empty clusters are not exported");
        let a = &exported[0].affiliates[0];
        assert_eq!(a.ttl, secs(550));
        assert_eq!(a.endpoints[0].ttl, secs(550));
        assert_eq!(a.endpoints[1].ttl, secs(50));
        assert_eq!(a.owner, Some([4; OWNER_TOKEN_LEN]));
        assert!(a.endpoints[0].owned && !a.endpoints[1].owned);

        let t1 = Instant::now();
        let restored = State::new(t1);
        for c in exported {
            for a in c.affiliates {
                let r = Restored {
                    id: a.id.to_string(),
                    data: a.data.to_vec(),
                    ttl: a.ttl,
                    endpoints: a
                        .endpoints
                        .iter()
                        .map(|e| RestoredEndpoint {
                            data: e.blob.as_bytes().to_vec(),
                            ttl: e.ttl,
                            owned: e.owned,
                        })
                        .collect(),
                    owner: a.owner,
                };
                restored.restore(&c.id, r, t1).expect("restore");
            }
        }
        assert_eq!(restored.list(C), state.list(C));
        assert_eq!(restored.counts().endpoints, 2);
        // The binding came back with it.
        assert!(matches!(
            restored.update(C, "a", upd(b"evil", &[], T), t1),
            Err(LimitError::Denied(_))
        ));
        assert_eq!(restored.gc(t1 + secs(51)).endpoints, 1);
        assert_eq!(restored.gc(t1 + secs(551)).affiliates, 1);
    }
}
