//! The controller engine: runs each controller in its own task and decides when it reconciles.
//!
//! This is COSI's controller runtime, reduced to what Weft needs. A controller declares the kinds it
//! reads and the types it writes; the engine reconciles it once at start, again whenever any input
//! kind changes (or its optional wake signal fires, for events that are not resources), and on its
//! ticker, and retries it with exponential backoff when it fails:
//!
//! ```text
//!  start ──► reconcile ──ok──► wait for: input change │ wake │ tick due │ shutdown ──► reconcile …
//!                 │
//!                 └─err──► log, wait 100ms, 200ms, 400ms … 30s (reset by a success) ──► reconcile …
//! ```
//!
//! Input changes are a flag, not a queue: however many changes land while a controller is busy or
//! asleep, it reconciles once for them, and it reads the current state rather than replaying events.
//! The flag is cleared just before each reconcile, so a change made during a reconcile earns
//! exactly one more.
//!
//! Controllers write through [`ReconcileContext`], which only lets them touch their declared
//! output types, stamps them as owner, and removes the outputs they no longer produce.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weft_api::resource::{Pointer, Resource, SpecError, TypedResource};
use weft_api::resources::TypedSpec;

use super::state::{Kind, State, StateError, show};

/// The first retry delay after a failed reconcile.
pub const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
/// The longest retry delay: a controller failing for a persistent reason (a missing kernel module,
/// an unreachable discovery service) still retries twice a minute, without flooding the log.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// A controller: reads its input kinds, writes its output types.
pub trait Controller: Send + 'static {
    /// A unique name; the owner of everything this controller writes.
    fn name(&self) -> &str;

    /// The kinds whose changes trigger a reconcile.
    fn inputs(&self) -> Vec<Kind>;

    /// The resource types this controller may write.
    fn outputs(&self) -> Vec<String>;

    /// How long after a reconcile to reconcile again when no input has changed, for work driven by
    /// time (expiring peers, refreshing announcements). `None`: only inputs trigger it.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }

    /// A signal from outside the state that should also trigger a reconcile — a data plane's
    /// "a peer changed" notifications, which are not resources. Taken once, when the controller
    /// is added; it is a flag like the inputs' (a burst is one reconcile). `None`: only input
    /// changes and the ticker do.
    fn wake_signal(&self) -> Option<watch::Receiver<()>> {
        None
    }

    /// Reads the inputs, computes the desired outputs and writes them. An error is logged and the
    /// reconcile retried after a backoff.
    fn reconcile(
        &mut self,
        ctx: &mut ReconcileContext,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Why the engine or a controller's write was refused.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "controller {controller:?} wrote {resource_type:?}, which it does not declare as an output"
    )]
    UndeclaredOutput {
        controller: String,
        resource_type: String,
    },
    #[error("controller {controller:?} produced {} twice", show(pointer))]
    DuplicateOutput {
        controller: String,
        pointer: Pointer,
    },
    #[error("two controllers are named {0:?}")]
    DuplicateController(String),
    #[error("controller {controller:?} declares {resource_type:?}, which is not registered")]
    UnknownType {
        controller: String,
        resource_type: String,
    },
    #[error("controller {0:?} panicked")]
    ControllerPanicked(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// What a reconcile may see and do: read the state, write declared outputs as their owner.
#[derive(Debug)]
pub struct ReconcileContext {
    state: State,
    controller: String,
    outputs: BTreeSet<String>,
}

impl ReconcileContext {
    /// A context for `controller` over `state`. The engine makes these; tests that call a
    /// controller's `reconcile` directly can too.
    pub fn new<C: Controller>(state: &State, controller: &C) -> ReconcileContext {
        ReconcileContext {
            state: state.clone(),
            controller: controller.name().to_owned(),
            outputs: controller.outputs().into_iter().collect(),
        }
    }

    /// The controller's name (the owner of its outputs).
    pub fn controller(&self) -> &str {
        &self.controller
    }

    /// The resource `id` of spec type `S` in `S`'s namespace, decoded, if it exists.
    pub fn get<S: TypedSpec>(&self, id: &str) -> Result<Option<S>, EngineError> {
        self.get_in::<S>(S::NAMESPACE, id)
    }

    /// Like [`ReconcileContext::get`], in `namespace`.
    pub fn get_in<S: TypedSpec>(
        &self,
        namespace: &str,
        id: &str,
    ) -> Result<Option<S>, EngineError> {
        self.state
            .get(&Pointer::to_in::<S>(namespace, id))
            .map(|r| r.decode::<S>())
            .transpose()
            .map_err(EngineError::from)
    }

    /// Every resource of spec type `S` in `S`'s namespace, decoded, sorted by id.
    pub fn list<S: TypedSpec>(&self) -> Result<Vec<TypedResource<S>>, EngineError> {
        self.list_in::<S>(S::NAMESPACE)
    }

    /// Like [`ReconcileContext::list`], in `namespace`.
    pub fn list_in<S: TypedSpec>(
        &self,
        namespace: &str,
    ) -> Result<Vec<TypedResource<S>>, EngineError> {
        self.state
            .list(namespace, S::TYPE)
            .into_iter()
            .map(|r| r.into_typed::<S>().map_err(EngineError::from))
            .collect()
    }

    /// Makes this controller's outputs of spec type `S` exactly `desired` (id, spec), in `S`'s
    /// namespace: creates or updates each (owned by this controller; unchanged ones are left
    /// alone) and destroys this controller's resources of that type, in any namespace, that are
    /// not desired.
    pub fn apply_outputs<S: TypedSpec>(
        &self,
        desired: impl IntoIterator<Item = (String, S)>,
    ) -> Result<(), EngineError> {
        self.apply_outputs_in::<S>(S::NAMESPACE, desired)
    }

    /// Like [`ReconcileContext::apply_outputs`], with the desired outputs in `namespace`.
    pub fn apply_outputs_in<S: TypedSpec>(
        &self,
        namespace: &str,
        desired: impl IntoIterator<Item = (String, S)>,
    ) -> Result<(), EngineError> {
        let resources = desired
            .into_iter()
            .map(|(id, spec)| Resource::new_in(namespace, &id, &spec))
            .collect::<Result<Vec<_>, _>>()?;
        self.apply_resources(S::TYPE, resources)
    }

    /// [`ReconcileContext::apply_outputs`] over resources already built.
    fn apply_resources(
        &self,
        resource_type: &str,
        desired: Vec<Resource>,
    ) -> Result<(), EngineError> {
        self.check_output(resource_type)?;
        // Check everything before writing anything, so a bad batch leaves the outputs as they were.
        let mut wanted = BTreeSet::new();
        for r in &desired {
            let pointer = r.pointer();
            if !wanted.insert(pointer.clone()) {
                return Err(EngineError::DuplicateOutput {
                    controller: self.controller.clone(),
                    pointer,
                });
            }
        }
        for r in desired {
            self.write(r)?;
        }
        for stale in self.state.list_owned(resource_type, &self.controller) {
            let pointer = stale.pointer();
            if !wanted.contains(&pointer) {
                self.state.destroy(&self.controller, &pointer)?;
            }
        }
        Ok(())
    }

    fn check_output(&self, resource_type: &str) -> Result<(), EngineError> {
        if self.outputs.contains(resource_type) {
            Ok(())
        } else {
            Err(EngineError::UndeclaredOutput {
                controller: self.controller.clone(),
                resource_type: resource_type.to_owned(),
            })
        }
    }

    fn write(&self, mut resource: Resource) -> Result<Resource, EngineError> {
        resource.metadata.owner.clone_from(&self.controller);
        // Get-then-write is not atomic, but only this controller writes resources it owns; a
        // resource someone else creates in between fails the write, and the retry sorts it out.
        let written = match self.state.get(&resource.pointer()) {
            None => self.state.create(resource)?,
            Some(_) => self.state.update(&self.controller, resource)?,
        };
        Ok(written)
    }
}

type ControllerTask = Pin<Box<dyn Future<Output = ()> + Send>>;
/// A controller waiting for [`Engine::run`] to hand it the stop token and spawn it.
type StartController = Box<dyn FnOnce(CancellationToken) -> ControllerTask + Send>;

/// Runs controllers over one state until shut down.
pub struct Engine {
    state: State,
    names: BTreeSet<String>,
    controllers: Vec<(String, StartController)>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("controllers", &self.names)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with no controllers over `state`.
    pub fn new(state: State) -> Engine {
        Engine {
            state,
            names: BTreeSet::new(),
            controllers: Vec::new(),
        }
    }

    /// Adds a controller. Its name must be unique and every type it declares registered. It starts
    /// following its inputs now, so nothing written between here and [`Engine::run`] is missed.
    pub fn add<C: Controller>(&mut self, controller: C) -> Result<(), EngineError> {
        let name = controller.name().to_owned();
        if self.names.contains(&name) {
            return Err(EngineError::DuplicateController(name));
        }
        let inputs = controller.inputs();
        let outputs = controller.outputs();
        let declared = inputs.iter().map(|k| &k.resource_type).chain(&outputs);
        for resource_type in declared {
            if self.state.definition(resource_type).is_none() {
                return Err(EngineError::UnknownType {
                    controller: name,
                    resource_type: resource_type.clone(),
                });
            }
        }
        let changes = self.state.subscribe_changes(&inputs)?;
        let wake = controller.wake_signal();
        let state = self.state.clone();
        self.names.insert(name.clone());
        self.controllers.push((
            name,
            Box::new(move |stop| Box::pin(run_controller(controller, state, changes, wake, stop))),
        ));
        Ok(())
    }

    /// Runs every controller until `shutdown` is cancelled, then stops them all (a reconcile in
    /// progress is abandoned at its next await). A panicking controller is a bug: the others are
    /// stopped and the panic reported as [`EngineError::ControllerPanicked`].
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), EngineError> {
        // A child token, so stopping the controllers after a panic doesn't cancel the caller's.
        let stop = shutdown.child_token();
        let mut tasks = JoinSet::new();
        let mut names = HashMap::new();
        for (name, start) in self.controllers {
            let handle = tasks.spawn(start(stop.clone()));
            names.insert(handle.id(), name);
        }
        let mut result = Ok(());
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                Some(joined) = tasks.join_next_with_id() => match joined {
                    Ok((id, ())) => {
                        let name = names.get(&id).map_or("?", String::as_str);
                        tracing::debug!(controller = %name, "controller stopped");
                    }
                    Err(e) => {
                        let name = names.get(&e.id()).cloned().unwrap_or_default();
                        tracing::error!(controller = %name, error = %e, "controller failed");
                        result = Err(EngineError::ControllerPanicked(name));
                        stop.cancel();
                        break;
                    }
                },
            }
        }
        // Every controller task returns as soon as it sees `stop`, so this is prompt.
        while tasks.join_next().await.is_some() {}
        result
    }
}

/// One controller's life: reconcile, wait for a reason to reconcile again, repeat until stopped.
async fn run_controller<C: Controller>(
    mut controller: C,
    state: State,
    mut changes: watch::Receiver<()>,
    mut wake: Option<watch::Receiver<()>>,
    stop: CancellationToken,
) {
    let mut ctx = ReconcileContext::new(&state, &controller);
    let name = ctx.controller().to_owned();
    let tick = controller.tick_interval();
    let mut backoff = BACKOFF_INITIAL;
    tracing::debug!(controller = %name, "controller started");
    loop {
        // Clear the flag before reading inputs: a change from here on earns another reconcile.
        changes.mark_unchanged();
        if let Some(wake) = wake.as_mut() {
            wake.mark_unchanged();
        }
        let result = tokio::select! {
            biased;
            () = stop.cancelled() => return,
            r = controller.reconcile(&mut ctx) => r,
        };
        match result {
            Ok(()) => {
                backoff = BACKOFF_INITIAL;
                // The ticker counts from the last reconcile: any reconcile does the time-driven
                // work too, so a busy controller needs no extra ticks.
                let tick_at = tick.map(|d| Instant::now() + d);
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    changed = changes.changed() => {
                        // The sender lives in the state, which outlives the engine; if it is gone
                        // there is nothing left to reconcile.
                        if changed.is_err() {
                            return;
                        }
                    }
                    () = sleep_until(tick_at) => {}
                    () = woken(&mut wake) => {}
                }
            }
            Err(err) => {
                tracing::warn!(
                    controller = %name,
                    error = %format!("{err:#}"),
                    retry_in = ?backoff,
                    "reconcile failed"
                );
                // Input changes and ticks during the backoff are not lost (the flag stays up);
                // the retry reads the current state anyway.
                let retry_at = Instant::now() + backoff;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                tokio::select! {
                    biased;
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep_until(retry_at) => {}
                }
            }
        }
    }
}

/// Returns when the wake signal is raised. A signal whose sender is gone is dropped (and never
/// fires again) rather than ending the controller: its inputs and ticker still drive it.
async fn woken(wake: &mut Option<watch::Receiver<()>>) {
    if let Some(rx) = wake.as_mut() {
        if rx.changed().await.is_ok() {
            return;
        }
        *wake = None;
    }
    std::future::pending().await
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use anyhow::bail;
    use tokio::sync::mpsc;
    use weft_api::resource::{Metadata, ResourceDefinition};
    use yaml_serde::Value;

    use super::*;
    use crate::runtime::testing::{assert_no_resource, assert_resource};

    const NS: &str = "test";
    const INPUTS: &str = "Inputs.test.weft.dev";
    const OUTPUTS: &str = "Outputs.test.weft.dev";
    const OTHER: &str = "Others.test.weft.dev";

    /// Specs of the three test types: any YAML value.
    macro_rules! spec_type {
        ($name:ident, $ty:expr) => {
            #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
            #[serde(transparent)]
            struct $name(Value);
            impl TypedSpec for $name {
                const TYPE: &'static str = $ty;
                const NAMESPACE: &'static str = NS;
            }
        };
    }
    spec_type!(Input, INPUTS);
    spec_type!(Output, OUTPUTS);
    spec_type!(Other, OTHER);

    fn out(id: &str, v: impl Into<Value>) -> (String, Output) {
        (id.to_owned(), Output(v.into()))
    }

    fn state() -> State {
        let state = State::new();
        for (plural, singular) in [
            ("Inputs", "Input"),
            ("Outputs", "Output"),
            ("Others", "Other"),
        ] {
            state
                .register_definition(ResourceDefinition::new(plural, singular, NS))
                .unwrap();
        }
        state
    }

    fn res(ty: &str, id: &str, owner: &str, spec: impl Into<Value>) -> Resource {
        Resource {
            metadata: Metadata::new(NS, ty, id, owner),
            spec: spec.into(),
        }
    }

    /// Copies every input to an output with the same id and spec; reports each reconcile's
    /// (virtual) time, and fails while `fail` says so.
    struct Mirror {
        name: String,
        tick: Option<Duration>,
        fail: Arc<Mutex<usize>>,
        reconciles: mpsc::UnboundedSender<Instant>,
        wake: Option<watch::Receiver<()>>,
    }

    fn mirror(name: &str) -> (Mirror, mpsc::UnboundedReceiver<Instant>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let m = Mirror {
            name: name.to_owned(),
            tick: None,
            fail: Arc::default(),
            reconciles: tx,
            wake: None,
        };
        (m, rx)
    }

    impl Controller for Mirror {
        fn name(&self) -> &str {
            &self.name
        }
        fn inputs(&self) -> Vec<Kind> {
            vec![Kind::new(NS, INPUTS)]
        }
        fn outputs(&self) -> Vec<String> {
            vec![OUTPUTS.to_owned()]
        }
        fn tick_interval(&self) -> Option<Duration> {
            self.tick
        }
        fn wake_signal(&self) -> Option<watch::Receiver<()>> {
            self.wake.clone()
        }
        async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
            let _ = self.reconciles.send(Instant::now());
            {
                let mut fail = self.fail.lock().unwrap();
                if *fail > 0 {
                    *fail -= 1;
                    bail!("failing on purpose");
                }
            }
            let desired = ctx
                .list::<Input>()?
                .into_iter()
                .map(|i| (i.metadata.id, Output(i.spec.0)));
            ctx.apply_outputs(desired)?;
            Ok(())
        }
    }

    fn start(
        engine: Engine,
    ) -> (
        CancellationToken,
        tokio::task::JoinHandle<Result<(), EngineError>>,
    ) {
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(engine.run(shutdown.clone()));
        (shutdown, handle)
    }

    async fn stop(
        shutdown: CancellationToken,
        handle: tokio::task::JoinHandle<Result<(), EngineError>>,
    ) {
        shutdown.cancel();
        // Paused time: were shutdown not prompt, the clock would jump to this timeout.
        tokio::time::timeout(Duration::from_secs(1), handle)
            .await
            .expect("engine stops promptly")
            .unwrap()
            .unwrap();
    }

    /// Asserts no further reconcile happens (the clock jumps an hour ahead while waiting).
    async fn assert_no_reconcile(rx: &mut mpsc::UnboundedReceiver<Instant>) {
        let got = tokio::time::timeout(Duration::from_secs(3600), rx.recv()).await;
        assert!(got.is_err(), "unexpected reconcile: {got:?}");
    }

    async fn next_reconcile(rx: &mut mpsc::UnboundedReceiver<Instant>) -> Instant {
        rx.recv().await.expect("controller alive")
    }

    #[tokio::test(start_paused = true)]
    async fn reconciles_on_start_and_on_input_change() {
        let s = state();
        s.create(res(INPUTS, "a", "user", 1)).unwrap();
        let (m, mut reconciles) = mirror("mirror");
        let mut engine = Engine::new(s.clone());
        engine.add(m).unwrap();
        let (shutdown, handle) = start(engine);

        next_reconcile(&mut reconciles).await;
        let out = assert_resource(&s, &Pointer::to::<Output>("a"), |_| Ok(())).await;
        assert_eq!(out.metadata.owner, "mirror");
        assert_eq!(out.spec, Value::from(1));
        assert_no_reconcile(&mut reconciles).await;

        s.update("user", res(INPUTS, "a", "user", 2)).unwrap();
        next_reconcile(&mut reconciles).await;
        assert_resource(&s, &Pointer::to::<Output>("a"), |r| {
            anyhow::ensure!(r.spec == 2, "spec is {:?}", r.spec);
            Ok(())
        })
        .await;
        // Changes to kinds it does not read leave it alone.
        s.create(res(OTHER, "x", "user", 0)).unwrap();
        assert_no_reconcile(&mut reconciles).await;
        stop(shutdown, handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_changes_is_one_reconcile() {
        let s = state();
        let (m, mut reconciles) = mirror("mirror");
        let mut engine = Engine::new(s.clone());
        engine.add(m).unwrap();
        let (shutdown, handle) = start(engine);
        next_reconcile(&mut reconciles).await;

        for i in 0..100 {
            s.create(res(INPUTS, &format!("{i:03}"), "user", i))
                .unwrap();
        }
        next_reconcile(&mut reconciles).await;
        assert_no_reconcile(&mut reconciles).await;
        assert_eq!(s.list(NS, OUTPUTS).len(), 100);
        stop(shutdown, handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn stale_outputs_are_removed() {
        let s = state();
        for id in ["a", "b"] {
            s.create(res(INPUTS, id, "user", 0)).unwrap();
        }
        // Another controller's output of the same type is not ours to clean up.
        s.create(res(OUTPUTS, "theirs", "someone-else", 0)).unwrap();
        let (m, _reconciles) = mirror("mirror");
        let mut engine = Engine::new(s.clone());
        engine.add(m).unwrap();
        let (shutdown, handle) = start(engine);

        assert_resource(&s, &Pointer::to::<Output>("b"), |_| Ok(())).await;
        s.destroy("user", &Pointer::to::<Input>("b")).unwrap();
        assert_no_resource(&s, &Pointer::to::<Output>("b")).await;
        assert!(s.get(&Pointer::to::<Output>("a")).is_some());
        assert!(s.get(&Pointer::to::<Output>("theirs")).is_some());
        stop(shutdown, handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn ticker_counts_from_the_last_reconcile() {
        let s = state();
        let (mut m, mut reconciles) = mirror("mirror");
        m.tick = Some(Duration::from_secs(10));
        let mut engine = Engine::new(s.clone());
        engine.add(m).unwrap();
        let (shutdown, handle) = start(engine);

        let t0 = next_reconcile(&mut reconciles).await;
        assert_eq!(
            next_reconcile(&mut reconciles).await - t0,
            Duration::from_secs(10)
        );
        assert_eq!(
            next_reconcile(&mut reconciles).await - t0,
            Duration::from_secs(20)
        );
        // An input change at +25s reconciles at once and pushes the next tick to +35s.
        tokio::time::sleep_until(t0 + Duration::from_secs(25)).await;
        s.create(res(INPUTS, "a", "user", 0)).unwrap();
        assert_eq!(
            next_reconcile(&mut reconciles).await - t0,
            Duration::from_secs(25)
        );
        assert_eq!(
            next_reconcile(&mut reconciles).await - t0,
            Duration::from_secs(35)
        );
        stop(shutdown, handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn the_wake_signal_reconciles_at_once() {
        let s = state();
        let (mut m, mut reconciles) = mirror("mirror");
        let (wake, rx) = watch::channel(());
        m.wake = Some(rx);
        m.tick = Some(Duration::from_secs(600));
        let mut engine = Engine::new(s.clone());
        engine.add(m).unwrap();
        let (shutdown, handle) = start(engine);
        let t0 = next_reconcile(&mut reconciles).await;

        // A burst of signals is one reconcile, at once (not at the next tick).
        for _ in 0..3 {
            wake.send_replace(());
        }
        assert_eq!(next_reconcile(&mut reconciles).await, t0);
        let next = next_reconcile(&mut reconciles).await;
        assert_eq!(next - t0, Duration::from_secs(600), "then only the ticker");

        // A signal whose sender is gone neither spins nor stops the controller: inputs and the
        // ticker still drive it.
        drop(wake);
        let tick = next_reconcile(&mut reconciles).await;
        assert_eq!(tick - next, Duration::from_secs(600));
        s.create(res(INPUTS, "a", "user", 0)).unwrap();
        assert_eq!(next_reconcile(&mut reconciles).await, tick);
        assert_resource(&s, &Pointer::to::<Output>("a"), |_| Ok(())).await;
        stop(shutdown, handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_exponentially_and_success_resets() {
        let s = state();
        let (m, mut reconciles) = mirror("mirror");
        let fail = m.fail.clone();
        *fail.lock().unwrap() = 10;
        let mut engine = Engine::new(s.clone());
        engine.add(m).unwrap();
        let (shutdown, handle) = start(engine);

        let mut at = next_reconcile(&mut reconciles).await;
        let mut gaps = Vec::new();
        for _ in 0..10 {
            let next = next_reconcile(&mut reconciles).await;
            gaps.push((next - at).as_millis());
            at = next;
        }
        // 10 failures, then the 11th attempt succeeds.
        assert_eq!(
            gaps,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000]
        );
        assert_no_reconcile(&mut reconciles).await;

        // After a success the next failure starts over at the initial delay.
        *fail.lock().unwrap() = 1;
        s.create(res(INPUTS, "a", "user", 0)).unwrap();
        let failed = next_reconcile(&mut reconciles).await;
        assert_eq!(
            next_reconcile(&mut reconciles).await - failed,
            BACKOFF_INITIAL
        );
        assert_resource(&s, &Pointer::to::<Output>("a"), |_| Ok(())).await;
        stop(shutdown, handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn input_changes_during_backoff_wait_for_the_retry() {
        let s = state();
        let (m, mut reconciles) = mirror("mirror");
        *m.fail.lock().unwrap() = 1;
        let mut engine = Engine::new(s.clone());
        engine.add(m).unwrap();
        let (shutdown, handle) = start(engine);

        let failed = next_reconcile(&mut reconciles).await;
        s.create(res(INPUTS, "a", "user", 0)).unwrap();
        assert_eq!(
            next_reconcile(&mut reconciles).await - failed,
            BACKOFF_INITIAL
        );
        assert_resource(&s, &Pointer::to::<Output>("a"), |_| Ok(())).await;
        // The retry read the change; it cleared the flag first, so it earns no extra pass.
        assert_no_reconcile(&mut reconciles).await;
        stop(shutdown, handle).await;
    }

    #[tokio::test(start_paused = true)]
    async fn undeclared_outputs_are_refused() {
        let s = state();
        let (m, _) = mirror("mirror");
        let ctx = ReconcileContext::new(&s, &m);
        let err = ctx
            .apply_outputs([("x".to_owned(), Other(0.into()))])
            .unwrap_err();
        assert!(
            matches!(&err, EngineError::UndeclaredOutput { controller, resource_type }
                if controller == "mirror" && resource_type == OTHER),
            "{err:?}"
        );
        assert!(s.list(NS, OTHER).is_empty());
    }

    #[test]
    fn apply_outputs_checks_the_batch_before_writing() {
        let s = state();
        let (m, _) = mirror("mirror");
        let ctx = ReconcileContext::new(&s, &m);
        // A batch of another type's specs does not compile: `apply_outputs::<S>` takes only `S`.
        let err = ctx
            .apply_outputs([out("a", 0), out("b", 0), out("a", 1)])
            .unwrap_err();
        assert!(
            matches!(err, EngineError::DuplicateOutput { .. }),
            "{err:?}"
        );
        assert!(s.list(NS, OUTPUTS).is_empty());
    }

    #[test]
    fn typed_reads_and_writes_follow_the_namespace() {
        let s = state();
        let (m, _) = mirror("mirror");
        let ctx = ReconcileContext::new(&s, &m);
        ctx.apply_outputs_in("elsewhere", [out("a", 1)]).unwrap();
        assert_eq!(ctx.get::<Output>("a").unwrap(), None);
        assert_eq!(
            ctx.get_in::<Output>("elsewhere", "a").unwrap(),
            Some(Output(1.into()))
        );
        let listed = ctx.list_in::<Output>("elsewhere").unwrap();
        assert_eq!((listed.len(), listed[0].id()), (1, "a"));
        // Outputs are per type, in any namespace: the next batch replaces that one.
        ctx.apply_outputs([out("b", 2)]).unwrap();
        assert!(ctx.list_in::<Output>("elsewhere").unwrap().is_empty());
        assert_eq!(ctx.list::<Output>().unwrap()[0].spec, Output(2.into()));
        assert_eq!(
            s.get(&Pointer::to::<Output>("b")).unwrap().metadata.owner,
            "mirror"
        );
    }

    #[test]
    fn outputs_owned_by_someone_else_are_a_conflict() {
        let s = state();
        s.create(res(OUTPUTS, "a", "someone-else", 0)).unwrap();
        let (m, _) = mirror("mirror");
        let ctx = ReconcileContext::new(&s, &m);
        let err = ctx.apply_outputs([out("a", 1)]).unwrap_err();
        assert!(
            matches!(err, EngineError::State(StateError::OwnerConflict { .. })),
            "{err:?}"
        );
    }

    #[test]
    fn unchanged_outputs_keep_their_version() {
        let s = state();
        let (m, _) = mirror("mirror");
        let ctx = ReconcileContext::new(&s, &m);
        for _ in 0..3 {
            ctx.apply_outputs([out("a", 0)]).unwrap();
        }
        assert_eq!(
            s.get(&Pointer::to::<Output>("a")).unwrap().metadata.version,
            1
        );
        ctx.apply_outputs(Vec::<(String, Output)>::new()).unwrap();
        assert_eq!(s.get(&Pointer::to::<Output>("a")), None);
    }

    #[test]
    fn add_validates_names_and_types() {
        let s = state();
        let mut engine = Engine::new(s.clone());
        engine.add(mirror("mirror").0).unwrap();
        assert!(matches!(
            engine.add(mirror("mirror").0),
            Err(EngineError::DuplicateController(name)) if name == "mirror"
        ));

        struct Typo;
        impl Controller for Typo {
            fn name(&self) -> &str {
                "typo"
            }
            fn inputs(&self) -> Vec<Kind> {
                Vec::new()
            }
            fn outputs(&self) -> Vec<String> {
                vec!["Outptus.test.weft.dev".to_owned()]
            }
            async fn reconcile(&mut self, _: &mut ReconcileContext) -> anyhow::Result<()> {
                Ok(())
            }
        }
        assert!(matches!(
            engine.add(Typo),
            Err(EngineError::UnknownType { resource_type, .. }) if resource_type == "Outptus.test.weft.dev"
        ));
    }

    /// Never finishes its reconcile, to show shutdown doesn't wait for one.
    struct Stuck(mpsc::UnboundedSender<()>);

    impl Controller for Stuck {
        fn name(&self) -> &str {
            "stuck"
        }
        fn inputs(&self) -> Vec<Kind> {
            Vec::new()
        }
        fn outputs(&self) -> Vec<String> {
            Vec::new()
        }
        async fn reconcile(&mut self, _: &mut ReconcileContext) -> anyhow::Result<()> {
            let _ = self.0.send(());
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_controllers_mid_reconcile() {
        let s = state();
        let (tx, mut started) = mpsc::unbounded_channel();
        let mut engine = Engine::new(s.clone());
        engine.add(Stuck(tx)).unwrap();
        engine.add(mirror("mirror").0).unwrap();
        let (shutdown, handle) = start(engine);
        started.recv().await.unwrap();
        stop(shutdown, handle).await;
    }

    struct Panics;

    impl Controller for Panics {
        fn name(&self) -> &str {
            "panics"
        }
        fn inputs(&self) -> Vec<Kind> {
            Vec::new()
        }
        fn outputs(&self) -> Vec<String> {
            Vec::new()
        }
        async fn reconcile(&mut self, _: &mut ReconcileContext) -> anyhow::Result<()> {
            panic!("controller bug");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_controller_stops_the_engine() {
        let s = state();
        let mut engine = Engine::new(s.clone());
        engine.add(Panics).unwrap();
        engine.add(mirror("mirror").0).unwrap();
        let shutdown = CancellationToken::new();
        let result = tokio::time::timeout(Duration::from_secs(1), engine.run(shutdown.clone()))
            .await
            .expect("engine stops promptly");
        assert!(
            matches!(&result, Err(EngineError::ControllerPanicked(name)) if name == "panics"),
            "{result:?}"
        );
        assert!(!shutdown.is_cancelled(), "the caller's token is left alone");
    }
}
