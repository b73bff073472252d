//! The state store: every resource weftd holds, in memory, versioned and watchable.
//!
//! This is COSI's in-memory state reduced to what Weft needs. Resources are keyed by
//! (namespace, type, id); every change bumps the resource's version and is announced to watchers.
//! Writes carry an owner and only the resource's owner may change or destroy it, which is what lets
//! many controllers share one store without clobbering each other's outputs. A write that changes
//! nothing is not a change: no version bump, no event — otherwise a controller that rewrites its
//! outputs on every pass would wake everyone downstream (and itself, when it reads what it writes)
//! forever.
//!
//! Writers never wait on readers. Each watcher has a bounded queue; a watcher that falls
//! [`WATCH_QUEUE_CAPACITY`] events behind is cut off with [`StateError::WatchOverflow`] and must
//! re-watch (its bootstrap set then resynchronises it). The controller engine does not use queues
//! at all: it subscribes to a "something changed" flag ([`State::subscribe_changes`]) that
//! coalesces bursts and cannot overflow.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use weft_api::resource::{EventKind, Pointer, Resource, ResourceDefinition};
use weft_api::resources::TypedSpec;

/// How many events a watcher may have waiting before it is dropped. Large enough to absorb a burst
/// (a full peer list rewritten at once is tens of events), small enough that a stuck client cannot
/// hold much memory.
pub const WATCH_QUEUE_CAPACITY: usize = 1024;

/// A resource kind: a type within a namespace (what controllers read and `watch_kind` follows).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Kind {
    pub namespace: String,
    pub resource_type: String,
}

impl Kind {
    /// The kind `resource_type` in `namespace`.
    pub fn new(namespace: &str, resource_type: &str) -> Kind {
        Kind {
            namespace: namespace.to_owned(),
            resource_type: resource_type.to_owned(),
        }
    }

    /// The kind of spec type `S` in `S`'s namespace.
    pub fn of<S: TypedSpec>() -> Kind {
        Kind::new(S::NAMESPACE, S::TYPE)
    }

    /// The kind of spec type `S` in `namespace`.
    pub fn of_in<S: TypedSpec>(namespace: &str) -> Kind {
        Kind::new(namespace, S::TYPE)
    }

    fn of_resource(resource: &Resource) -> Kind {
        Kind::new(
            &resource.metadata.namespace,
            &resource.metadata.resource_type,
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.resource_type)
    }
}

/// One change seen by a watch. A `Destroyed` event carries the resource as it last was.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub resource: Resource,
}

/// Why a state operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("resource type {0:?} is not registered")]
    UnknownType(String),
    #[error("a different definition of resource type {0:?} is already registered")]
    DefinitionConflict(String),
    #[error("resource {} not found", show(.0))]
    NotFound(Pointer),
    #[error("resource {} already exists", show(.0))]
    AlreadyExists(Pointer),
    /// `owner` is who tried to write; `expected` is the resource's owner, the only one who may.
    #[error("resource {} is owned by {expected:?}, not {owner:?}", show(pointer))]
    OwnerConflict {
        pointer: Pointer,
        owner: String,
        expected: String,
    },
    #[error("watch lost events: the watcher fell {WATCH_QUEUE_CAPACITY} events behind")]
    WatchOverflow,
}

/// `namespace/type/id`, the way errors and logs name a resource.
pub fn show(pointer: &Pointer) -> String {
    format!(
        "{}/{}/{}",
        pointer.namespace, pointer.resource_type, pointer.id
    )
}

/// The store. Cheap to clone: every clone is a handle on the same resources.
#[derive(Debug, Clone, Default)]
pub struct State {
    store: Arc<Mutex<Store>>,
}

#[derive(Debug, Default)]
struct Store {
    definitions: BTreeMap<String, ResourceDefinition>,
    /// Kind → id → resource. Ordered maps give `list` its id order for free.
    resources: BTreeMap<Kind, BTreeMap<String, Resource>>,
    watchers: Vec<Watcher>,
    signals: Vec<Signal>,
}

/// A registered watch. The store holds it weakly so a dropped [`Watch`] costs nothing beyond an
/// entry pruned at the next write.
#[derive(Debug)]
struct Watcher {
    filter: Filter,
    queue: Weak<WatchQueue>,
}

#[derive(Debug)]
enum Filter {
    Kind(Kind),
    Resource(Pointer),
}

impl Filter {
    fn matches(&self, resource: &Resource) -> bool {
        let m = &resource.metadata;
        match self {
            Filter::Kind(k) => k.namespace == m.namespace && k.resource_type == m.resource_type,
            Filter::Resource(p) => {
                p.namespace == m.namespace && p.resource_type == m.resource_type && p.id == m.id
            }
        }
    }
}

/// A change flag for a set of kinds (see [`State::subscribe_changes`]).
#[derive(Debug)]
struct Signal {
    kinds: Vec<Kind>,
    tx: watch::Sender<()>,
}

#[derive(Debug, Default)]
struct WatchQueue {
    inner: Mutex<QueueInner>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct QueueInner {
    events: VecDeque<Event>,
    status: QueueStatus,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum QueueStatus {
    #[default]
    Open,
    /// Overflowed; the reader gets the error next, then the end.
    Lost,
    /// The state is gone, or the overflow error was delivered.
    Closed,
}

impl WatchQueue {
    /// Queues an event; returns false when the watcher overflowed and must be dropped.
    fn push(&self, event: Event) -> bool {
        let mut q = lock(&self.inner);
        if q.status != QueueStatus::Open {
            return false;
        }
        let keep = if q.events.len() >= WATCH_QUEUE_CAPACITY {
            // The queued events are useless once there is a gap after them: a client must
            // resynchronise from a fresh bootstrap anyway, so it hears of the loss at once and
            // the memory goes now.
            q.events.clear();
            q.status = QueueStatus::Lost;
            false
        } else {
            q.events.push_back(event);
            true
        };
        drop(q);
        // notify_one stores a permit when the reader is not waiting, so no wakeup is lost.
        self.notify.notify_one();
        keep
    }

    fn close(&self) {
        let mut q = lock(&self.inner);
        if q.status == QueueStatus::Open {
            q.status = QueueStatus::Closed;
        }
        drop(q);
        self.notify.notify_one();
    }
}

/// The events after a watch's bootstrap set, in the order the store applied them.
#[derive(Debug)]
pub struct Watch {
    queue: Arc<WatchQueue>,
}

impl Watch {
    /// The next event; `Some(Err(WatchOverflow))` once if this watcher fell behind, and `None` when
    /// the watch has ended (after an overflow, or when every handle on the state is gone).
    pub async fn next(&mut self) -> Option<Result<Event, StateError>> {
        loop {
            {
                let mut q = lock(&self.queue.inner);
                if let Some(event) = q.events.pop_front() {
                    return Some(Ok(event));
                }
                match q.status {
                    QueueStatus::Open => {}
                    QueueStatus::Lost => {
                        q.status = QueueStatus::Closed;
                        return Some(Err(StateError::WatchOverflow));
                    }
                    QueueStatus::Closed => return None,
                }
            }
            self.queue.notify.notified().await;
        }
    }
}

impl Drop for Store {
    // Ends every open watch when the last handle on the state goes, so readers see the end
    // instead of waiting forever.
    fn drop(&mut self) {
        for w in &self.watchers {
            if let Some(q) = w.queue.upgrade() {
                q.close();
            }
        }
    }
}

/// Locks a mutex, shrugging off poisoning. Nothing that can panic runs while a store lock is held
/// except `modify`'s closure, and that works on a copy before anything is changed, so the data
/// behind a poisoned lock is still consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    /// An empty store with no definitions.
    pub fn new() -> State {
        State::default()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }

    /// Registers a resource type. Registering the same definition again is a no-op; a different
    /// one for the same type is an error.
    pub fn register_definition(&self, definition: ResourceDefinition) -> Result<(), StateError> {
        let mut store = self.lock();
        match store.definitions.get(&definition.resource_type) {
            Some(existing) if *existing == definition => Ok(()),
            Some(_) => Err(StateError::DefinitionConflict(definition.resource_type)),
            None => {
                store
                    .definitions
                    .insert(definition.resource_type.clone(), definition);
                Ok(())
            }
        }
    }

    /// Every registered definition, sorted by type.
    pub fn definitions(&self) -> Vec<ResourceDefinition> {
        self.lock().definitions.values().cloned().collect()
    }

    /// The definition of `resource_type` (the full type, exactly).
    pub fn definition(&self, resource_type: &str) -> Option<ResourceDefinition> {
        self.lock().definitions.get(resource_type).cloned()
    }

    /// The resource at `pointer`, if any.
    pub fn get(&self, pointer: &Pointer) -> Option<Resource> {
        self.lock().get(pointer).cloned()
    }

    /// Every resource of `resource_type` in `namespace`, sorted by id.
    pub fn list(&self, namespace: &str, resource_type: &str) -> Vec<Resource> {
        self.lock()
            .resources
            .get(&Kind::new(namespace, resource_type))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every resource of `resource_type` owned by `owner`, in any namespace, sorted by
    /// (namespace, id). This is what output cleanup walks.
    pub fn list_owned(&self, resource_type: &str, owner: &str) -> Vec<Resource> {
        self.lock()
            .resources
            .iter()
            .filter(|(k, _)| k.resource_type == resource_type)
            .flat_map(|(_, m)| m.values())
            .filter(|r| r.metadata.owner == owner)
            .cloned()
            .collect()
    }

    /// Creates a resource owned by `resource.metadata.owner`, at version 1, created = updated =
    /// now. Fails if it exists or its type is not registered.
    pub fn create(&self, mut resource: Resource) -> Result<Resource, StateError> {
        let mut store = self.lock();
        store.check_type(&resource.metadata.resource_type)?;
        let kind = Kind::of_resource(&resource);
        let by_id = store.resources.entry(kind).or_default();
        if by_id.contains_key(&resource.metadata.id) {
            return Err(StateError::AlreadyExists(resource.pointer()));
        }
        let now = OffsetDateTime::now_utc();
        resource.metadata.version = 1;
        resource.metadata.created = now;
        resource.metadata.updated = now;
        by_id.insert(resource.metadata.id.clone(), resource.clone());
        store.emit(EventKind::Created, &resource);
        Ok(resource)
    }

    /// Replaces a resource's spec, labels and phase on behalf of `owner`, which must be its owner.
    /// The rest of the metadata is the store's: the owner and creation time stay, the version is
    /// bumped and `updated` set — unless nothing changed, in which case the stored resource is
    /// returned untouched and no event is sent.
    pub fn update(&self, owner: &str, resource: Resource) -> Result<Resource, StateError> {
        self.lock().update(owner, resource)
    }

    /// Reads, changes and writes a resource in one step (no other write can slip in between), with
    /// the same rules as [`State::update`]. `f` may change the spec, labels and phase; changes to
    /// the rest of the metadata are ignored.
    pub fn modify(
        &self,
        owner: &str,
        pointer: &Pointer,
        f: impl FnOnce(&mut Resource),
    ) -> Result<Resource, StateError> {
        let mut store = self.lock();
        store.check_type(&pointer.resource_type)?;
        let current = store
            .get(pointer)
            .ok_or_else(|| StateError::NotFound(pointer.clone()))?;
        check_owner(current, owner)?;
        let mut next = current.clone();
        f(&mut next);
        // Keep the closure from moving the resource somewhere else.
        next.metadata.namespace.clone_from(&pointer.namespace);
        next.metadata
            .resource_type
            .clone_from(&pointer.resource_type);
        next.metadata.id.clone_from(&pointer.id);
        store.update(owner, next)
    }

    /// Destroys a resource on behalf of `owner`, which must be its owner; returns it as it was.
    pub fn destroy(&self, owner: &str, pointer: &Pointer) -> Result<Resource, StateError> {
        let mut store = self.lock();
        store.check_type(&pointer.resource_type)?;
        let current = store
            .get(pointer)
            .ok_or_else(|| StateError::NotFound(pointer.clone()))?;
        check_owner(current, owner)?;
        let kind = Kind::new(&pointer.namespace, &pointer.resource_type);
        let Some(by_id) = store.resources.get_mut(&kind) else {
            return Err(StateError::NotFound(pointer.clone()));
        };
        let Some(last) = by_id.remove(&pointer.id) else {
            return Err(StateError::NotFound(pointer.clone()));
        };
        if by_id.is_empty() {
            store.resources.remove(&kind);
        }
        store.emit(EventKind::Destroyed, &last);
        Ok(last)
    }

    /// Watches a kind: the resources it holds now (sorted by id) and, from exactly that point, every
    /// change to it.
    pub fn watch_kind(
        &self,
        namespace: &str,
        resource_type: &str,
    ) -> Result<(Vec<Resource>, Watch), StateError> {
        let mut store = self.lock();
        store.check_type(resource_type)?;
        let kind = Kind::new(namespace, resource_type);
        let bootstrap = store
            .resources
            .get(&kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        let watch = store.add_watcher(Filter::Kind(kind));
        Ok((bootstrap, watch))
    }

    /// Watches one resource: whether and how it exists now and, from exactly that point, every change
    /// to it (including its creation, if it does not exist yet).
    pub fn watch(&self, pointer: &Pointer) -> Result<(Option<Resource>, Watch), StateError> {
        let mut store = self.lock();
        store.check_type(&pointer.resource_type)?;
        let current = store.get(pointer).cloned();
        let watch = store.add_watcher(Filter::Resource(pointer.clone()));
        Ok((current, watch))
    }

    /// A flag raised by every change to any of `kinds`. The controller engine waits on it: many
    /// changes before the reader looks raise it once (that is the coalescing), and it cannot
    /// overflow. The receiver starts out unchanged.
    pub fn subscribe_changes(&self, kinds: &[Kind]) -> Result<watch::Receiver<()>, StateError> {
        let mut store = self.lock();
        for kind in kinds {
            store.check_type(&kind.resource_type)?;
        }
        let (tx, rx) = watch::channel(());
        store.signals.retain(|s| !s.tx.is_closed());
        store.signals.push(Signal {
            kinds: kinds.to_vec(),
            tx,
        });
        Ok(rx)
    }
}

fn check_owner(current: &Resource, owner: &str) -> Result<(), StateError> {
    if current.metadata.owner == owner {
        Ok(())
    } else {
        Err(StateError::OwnerConflict {
            pointer: current.pointer(),
            owner: owner.to_owned(),
            expected: current.metadata.owner.clone(),
        })
    }
}

impl Store {
    fn check_type(&self, resource_type: &str) -> Result<(), StateError> {
        if self.definitions.contains_key(resource_type) {
            Ok(())
        } else {
            Err(StateError::UnknownType(resource_type.to_owned()))
        }
    }

    fn get(&self, pointer: &Pointer) -> Option<&Resource> {
        self.resources
            .get(&Kind::new(&pointer.namespace, &pointer.resource_type))
            .and_then(|m| m.get(&pointer.id))
    }

    fn update(&mut self, owner: &str, next: Resource) -> Result<Resource, StateError> {
        self.check_type(&next.metadata.resource_type)?;
        let pointer = next.pointer();
        let slot = self
            .resources
            .get_mut(&Kind::of_resource(&next))
            .and_then(|m| m.get_mut(&pointer.id))
            .ok_or_else(|| StateError::NotFound(pointer.clone()))?;
        check_owner(slot, owner)?;
        let unchanged = slot.spec == next.spec
            && slot.metadata.labels == next.metadata.labels
            && slot.metadata.phase == next.metadata.phase;
        if unchanged {
            return Ok(slot.clone());
        }
        let mut stored = slot.clone();
        stored.spec = next.spec;
        stored.metadata.labels = next.metadata.labels;
        stored.metadata.phase = next.metadata.phase;
        stored.metadata.version += 1;
        stored.metadata.updated = OffsetDateTime::now_utc();
        slot.clone_from(&stored);
        self.emit(EventKind::Updated, &stored);
        Ok(stored)
    }

    fn add_watcher(&mut self, filter: Filter) -> Watch {
        let queue = Arc::new(WatchQueue::default());
        // Prune watchers whose Watch was dropped, so kinds that are never written again don't
        // accumulate dead entries.
        self.watchers.retain(|w| w.queue.strong_count() > 0);
        self.watchers.push(Watcher {
            filter,
            queue: Arc::downgrade(&queue),
        });
        Watch { queue }
    }

    /// Tells every interested watcher and signal about a change. Runs under the store lock, so all
    /// watchers see changes in the order they were applied.
    fn emit(&mut self, kind: EventKind, resource: &Resource) {
        let resource_kind = Kind::of_resource(resource);
        self.signals.retain(|s| {
            if s.tx.is_closed() {
                return false;
            }
            if s.kinds.contains(&resource_kind) {
                s.tx.send_replace(());
            }
            true
        });
        self.watchers.retain(|w| {
            let Some(queue) = w.queue.upgrade() else {
                return false;
            };
            if !w.filter.matches(resource) {
                return true;
            }
            let kept = queue.push(Event {
                kind,
                resource: resource.clone(),
            });
            if !kept {
                tracing::warn!(
                    namespace = %resource.metadata.namespace,
                    resource_type = %resource.metadata.resource_type,
                    capacity = WATCH_QUEUE_CAPACITY,
                    "dropping a watcher that fell behind"
                );
            }
            kept
        });
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weft_api::resource::{Metadata, Phase};
    use yaml_serde::Value;

    use super::*;

    const NS: &str = "kubespan";
    const PEERS: &str = "KubeSpanPeerSpecs.kubespan.weft.dev";
    const IDENTITIES: &str = "KubeSpanIdentities.kubespan.weft.dev";

    fn state() -> State {
        let state = State::new();
        for (plural, singular) in [
            ("KubeSpanPeerSpecs", "KubeSpanPeerSpec"),
            ("KubeSpanIdentities", "KubeSpanIdentity"),
        ] {
            state
                .register_definition(ResourceDefinition::new(plural, singular, NS))
                .unwrap();
        }
        state
    }

    fn res(ty: &str, id: &str, owner: &str, spec: &str) -> Resource {
        Resource {
            metadata: Metadata::new(NS, ty, id, owner),
            spec: Value::String(spec.to_owned()),
        }
    }

    fn ptr(ty: &str, id: &str) -> Pointer {
        Pointer {
            namespace: NS.to_owned(),
            resource_type: ty.to_owned(),
            id: id.to_owned(),
        }
    }

    /// The next event, failing the test if none arrives (paused time makes the wait instant).
    async fn next_event(w: &mut Watch) -> Event {
        tokio::time::timeout(Duration::from_secs(1), w.next())
            .await
            .expect("an event")
            .expect("watch still open")
            .expect("no overflow")
    }

    async fn assert_quiet(w: &mut Watch) {
        let got = tokio::time::timeout(Duration::from_secs(1), w.next()).await;
        assert!(got.is_err(), "unexpected event: {got:?}");
    }

    #[test]
    fn create_sets_version_and_timestamps() {
        let s = state();
        let mut r = res(PEERS, "a", "ctl", "x");
        r.metadata.version = 42;
        let created = s.create(r).unwrap();
        assert_eq!(created.metadata.version, 1);
        assert_eq!(created.metadata.created, created.metadata.updated);
        assert_eq!(created.metadata.owner, "ctl");
        assert_eq!(s.get(&ptr(PEERS, "a")), Some(created));
    }

    #[test]
    fn create_twice_is_already_exists() {
        let s = state();
        s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        assert_eq!(
            s.create(res(PEERS, "a", "other", "y")),
            Err(StateError::AlreadyExists(ptr(PEERS, "a")))
        );
        assert_eq!(s.get(&ptr(PEERS, "a")).unwrap().spec, Value::from("x"));
    }

    #[test]
    fn unregistered_types_are_refused() {
        let s = state();
        let ty = "Nopes.kubespan.weft.dev";
        let unknown = Err(StateError::UnknownType(ty.to_owned()));
        assert_eq!(s.create(res(ty, "a", "ctl", "x")), unknown);
        assert_eq!(s.update("ctl", res(ty, "a", "ctl", "x")), unknown);
        assert_eq!(s.destroy("ctl", &ptr(ty, "a")), unknown);
        assert_eq!(
            s.watch_kind(NS, ty).map(|_| ()).unwrap_err(),
            StateError::UnknownType(ty.to_owned())
        );
        assert!(s.subscribe_changes(&[Kind::new(NS, ty)]).is_err());
    }

    #[test]
    fn update_bumps_version_and_keeps_owner_and_created() {
        let s = state();
        let created = s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        // What the writer puts in the store-managed metadata is ignored.
        let mut next = res(PEERS, "a", "someone-else", "y");
        next.metadata.version = 99;
        let updated = s.update("ctl", next).unwrap();
        assert_eq!(updated.metadata.version, 2);
        assert_eq!(updated.metadata.owner, "ctl");
        assert_eq!(updated.metadata.created, created.metadata.created);
        assert!(updated.metadata.updated >= created.metadata.updated);
        assert_eq!(updated.spec, Value::from("y"));
        assert_eq!(s.get(&ptr(PEERS, "a")), Some(updated));
    }

    #[tokio::test(start_paused = true)]
    async fn noop_update_keeps_version_and_sends_nothing() {
        let s = state();
        let created = s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        let (_, mut w) = s.watch_kind(NS, PEERS).unwrap();
        let mut changes = s.subscribe_changes(&[Kind::new(NS, PEERS)]).unwrap();
        let same = s.update("ctl", res(PEERS, "a", "ctl", "x")).unwrap();
        assert_eq!(same, created);
        let same = s.modify("ctl", &ptr(PEERS, "a"), |_| {}).unwrap();
        assert_eq!(same, created);
        assert_quiet(&mut w).await;
        assert!(!changes.has_changed().unwrap());
        // Labels and phase are part of what counts as a change.
        let labelled = s
            .modify("ctl", &ptr(PEERS, "a"), |r| {
                r.metadata.labels.insert("k".into(), "v".into());
            })
            .unwrap();
        assert_eq!(labelled.metadata.version, 2);
        let torn = s
            .modify("ctl", &ptr(PEERS, "a"), |r| {
                r.metadata.phase = Phase::TearingDown;
            })
            .unwrap();
        assert_eq!(torn.metadata.version, 3);
        assert_eq!(next_event(&mut w).await.resource, labelled);
        assert_eq!(next_event(&mut w).await.resource, torn);
        assert!(changes.has_changed().unwrap());
        changes.mark_unchanged();
    }

    #[test]
    fn missing_resources_are_not_found() {
        let s = state();
        let missing = Err(StateError::NotFound(ptr(PEERS, "a")));
        assert_eq!(s.get(&ptr(PEERS, "a")), None);
        assert_eq!(s.update("ctl", res(PEERS, "a", "ctl", "x")), missing);
        assert_eq!(s.modify("ctl", &ptr(PEERS, "a"), |_| {}), missing);
        assert_eq!(s.destroy("ctl", &ptr(PEERS, "a")), missing);
    }

    #[test]
    fn only_the_owner_may_update_or_destroy() {
        let s = state();
        let created = s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        let err = StateError::OwnerConflict {
            pointer: ptr(PEERS, "a"),
            owner: "intruder".into(),
            expected: "ctl".into(),
        };
        let conflict = Err(err.clone());
        assert_eq!(s.update("intruder", res(PEERS, "a", "ctl", "y")), conflict);
        assert_eq!(
            s.modify("intruder", &ptr(PEERS, "a"), |r| r.spec = "y".into()),
            conflict
        );
        assert_eq!(s.destroy("intruder", &ptr(PEERS, "a")), conflict);
        assert_eq!(s.get(&ptr(PEERS, "a")), Some(created));
        assert_eq!(
            err.to_string(),
            "resource kubespan/KubeSpanPeerSpecs.kubespan.weft.dev/a is owned by \"ctl\", not \"intruder\""
        );
    }

    #[test]
    fn modify_cannot_move_a_resource() {
        let s = state();
        s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        let moved = s
            .modify("ctl", &ptr(PEERS, "a"), |r| {
                r.metadata.id = "b".into();
                r.metadata.owner = "thief".into();
                r.spec = "y".into();
            })
            .unwrap();
        assert_eq!(moved.metadata.id, "a");
        assert_eq!(moved.metadata.owner, "ctl");
        assert_eq!(s.get(&ptr(PEERS, "a")).unwrap().spec, Value::from("y"));
        assert_eq!(s.get(&ptr(PEERS, "b")), None);
    }

    #[test]
    fn destroy_removes_and_returns_the_last_resource() {
        let s = state();
        s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        let last = s.update("ctl", res(PEERS, "a", "ctl", "y")).unwrap();
        assert_eq!(s.destroy("ctl", &ptr(PEERS, "a")), Ok(last));
        assert_eq!(s.get(&ptr(PEERS, "a")), None);
        assert!(s.list(NS, PEERS).is_empty());
        // The id is free again, and starts over at version 1.
        let again = s.create(res(PEERS, "a", "other", "z")).unwrap();
        assert_eq!(again.metadata.version, 1);
    }

    #[test]
    fn list_is_sorted_by_id_and_scoped_to_the_kind() {
        let s = state();
        for id in ["c", "a", "b"] {
            s.create(res(PEERS, id, "ctl", id)).unwrap();
        }
        s.create(res(IDENTITIES, "local", "ctl", "i")).unwrap();
        let mut elsewhere = res(PEERS, "z", "ctl", "z");
        elsewhere.metadata.namespace = "other".into();
        s.create(elsewhere).unwrap();
        let ids: Vec<_> = s
            .list(NS, PEERS)
            .into_iter()
            .map(|r| r.metadata.id)
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(s.list("other", PEERS).len(), 1);
        assert!(s.list("nowhere", PEERS).is_empty());
    }

    #[test]
    fn list_owned_spans_namespaces() {
        let s = state();
        s.create(res(PEERS, "b", "ctl", "x")).unwrap();
        s.create(res(PEERS, "a", "other", "x")).unwrap();
        let mut elsewhere = res(PEERS, "a", "ctl", "x");
        elsewhere.metadata.namespace = "aaa".into();
        s.create(elsewhere).unwrap();
        s.create(res(IDENTITIES, "a", "ctl", "x")).unwrap();
        let owned: Vec<_> = s
            .list_owned(PEERS, "ctl")
            .into_iter()
            .map(|r| (r.metadata.namespace, r.metadata.id))
            .collect();
        assert_eq!(
            owned,
            [
                ("aaa".to_owned(), "a".to_owned()),
                (NS.to_owned(), "b".to_owned())
            ]
        );
    }

    #[test]
    fn definitions_register_once() {
        let s = state();
        let peers = ResourceDefinition::new("KubeSpanPeerSpecs", "KubeSpanPeerSpec", NS);
        assert_eq!(s.register_definition(peers.clone()), Ok(()));
        assert_eq!(
            s.register_definition(peers.clone().sensitive()),
            Err(StateError::DefinitionConflict(PEERS.to_owned()))
        );
        assert_eq!(s.definition(PEERS), Some(peers));
        assert_eq!(s.definition("kubespanpeerspecs"), None);
        let types: Vec<_> = s
            .definitions()
            .into_iter()
            .map(|d| d.resource_type)
            .collect();
        assert_eq!(types, [IDENTITIES, PEERS]);
    }

    #[tokio::test(start_paused = true)]
    async fn watch_kind_bootstraps_then_streams_in_order() {
        let s = state();
        s.create(res(PEERS, "b", "ctl", "1")).unwrap();
        s.create(res(PEERS, "a", "ctl", "1")).unwrap();
        let (bootstrap, mut w) = s.watch_kind(NS, PEERS).unwrap();
        let ids: Vec<_> = bootstrap.iter().map(|r| r.metadata.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);

        let c = s.create(res(PEERS, "c", "ctl", "1")).unwrap();
        s.create(res(IDENTITIES, "x", "ctl", "1")).unwrap(); // another kind: not seen
        let a2 = s.update("ctl", res(PEERS, "a", "ctl", "2")).unwrap();
        let b = s.destroy("ctl", &ptr(PEERS, "b")).unwrap();

        let got = [
            next_event(&mut w).await,
            next_event(&mut w).await,
            next_event(&mut w).await,
        ];
        assert_eq!(
            got,
            [
                Event {
                    kind: EventKind::Created,
                    resource: c
                },
                Event {
                    kind: EventKind::Updated,
                    resource: a2
                },
                Event {
                    kind: EventKind::Destroyed,
                    resource: b
                },
            ]
        );
        assert_quiet(&mut w).await;
    }

    #[tokio::test(start_paused = true)]
    async fn watch_one_resource_sees_its_creation() {
        let s = state();
        s.create(res(PEERS, "other", "ctl", "1")).unwrap();
        let (current, mut w) = s.watch(&ptr(PEERS, "a")).unwrap();
        assert_eq!(current, None);
        s.update("ctl", res(PEERS, "other", "ctl", "2")).unwrap();
        let a = s.create(res(PEERS, "a", "ctl", "1")).unwrap();
        let e = next_event(&mut w).await;
        assert_eq!((e.kind, e.resource), (EventKind::Created, a.clone()));
        assert_quiet(&mut w).await;
        let (current, _w) = s.watch(&ptr(PEERS, "a")).unwrap();
        assert_eq!(current, Some(a));
    }

    #[tokio::test(start_paused = true)]
    async fn a_watcher_that_falls_behind_is_dropped_and_writers_go_on() {
        let s = state();
        let (_, mut slow) = s.watch_kind(NS, PEERS).unwrap();
        let (_, mut keeping_up) = s.watch_kind(NS, PEERS).unwrap();
        for i in 0..WATCH_QUEUE_CAPACITY {
            s.create(res(PEERS, &format!("{i:04}"), "ctl", "x"))
                .unwrap();
        }
        for _ in 0..WATCH_QUEUE_CAPACITY {
            next_event(&mut keeping_up).await;
        }
        // One more than `slow` can hold: the write still succeeds at once.
        let last = s.create(res(PEERS, "last", "ctl", "x")).unwrap();
        assert_eq!(s.lock().watchers.len(), 1, "the slow watcher is gone");
        assert_eq!(slow.next().await, Some(Err(StateError::WatchOverflow)));
        assert_eq!(slow.next().await, None);
        assert_eq!(next_event(&mut keeping_up).await.resource, last);
        assert_eq!(
            StateError::WatchOverflow.to_string(),
            "watch lost events: the watcher fell 1024 events behind"
        );
    }

    #[test]
    fn dropped_watches_and_subscriptions_are_pruned() {
        let s = state();
        let (_, w) = s.watch_kind(NS, PEERS).unwrap();
        let rx = s.subscribe_changes(&[Kind::new(NS, PEERS)]).unwrap();
        drop((w, rx));
        s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        let store = s.lock();
        assert!(store.watchers.is_empty());
        assert!(store.signals.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn watches_end_when_the_state_goes() {
        let s = state();
        let (_, mut w) = s.watch_kind(NS, PEERS).unwrap();
        s.create(res(PEERS, "a", "ctl", "x")).unwrap();
        drop(s);
        // What was queued is still delivered, then the end.
        assert_eq!(next_event(&mut w).await.kind, EventKind::Created);
        assert_eq!(w.next().await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn change_signals_coalesce_and_filter_by_kind() {
        let s = state();
        let mut rx = s.subscribe_changes(&[Kind::new(NS, PEERS)]).unwrap();
        assert!(!rx.has_changed().unwrap());
        s.create(res(IDENTITIES, "a", "ctl", "x")).unwrap();
        assert!(!rx.has_changed().unwrap());
        for id in ["a", "b", "c"] {
            s.create(res(PEERS, id, "ctl", "x")).unwrap();
        }
        rx.changed().await.unwrap();
        assert!(!rx.has_changed().unwrap(), "three changes, one wakeup");
    }
}
