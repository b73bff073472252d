//! Counts controller reconcile errors from the engine's own log events (`reconcile failed`,
//! `controller failed`, both with a `controller` field), so the metrics need no hook in the
//! engine. Installed by `main` next to the log formatter, seeing WARN and ERROR only.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Filter, Layer};

/// Most controllers counted by name (there are about 15; the names come from the code).
const MAX_CONTROLLERS: usize = 64;
/// The module whose events are reconcile errors.
const ENGINE_TARGET: &str = "weftd::runtime::engine";

static RECONCILE_ERRORS: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Reconcile errors counted so far, by controller.
pub fn reconcile_errors() -> BTreeMap<String, u64> {
    RECONCILE_ERRORS
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The layer; see the module doc.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReconcileErrors;

struct ControllerField(Option<String>);

impl Visit for ControllerField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "controller" {
            self.0 = Some(value.to_owned());
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "controller" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for ReconcileErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > tracing::Level::WARN || !meta.target().starts_with(ENGINE_TARGET) {
            return;
        }
        let mut controller = ControllerField(None);
        event.record(&mut controller);
        let Some(name) = controller.0 else { return };
        count(name);
    }
}

fn count(name: String) {
    let mut map = RECONCILE_ERRORS
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(n) = map.get_mut(&name) {
        *n += 1;
    } else if map.len() < MAX_CONTROLLERS {
        map.insert(name, 1);
    }
}

/// Lets only the engine's WARN and ERROR events reach [`ReconcileErrors`], so adding it does not
/// make every debug event of the process get built.
#[derive(Debug, Default, Clone, Copy)]
pub struct EngineWarnings;

impl<S> Filter<S> for EngineWarnings {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: &Context<'_, S>) -> bool {
        *meta.level() <= tracing::Level::WARN && meta.target().starts_with(ENGINE_TARGET)
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;

    #[test]
    fn counts_engine_warnings_with_a_controller() {
        let subscriber =
            tracing_subscriber::registry().with(ReconcileErrors.with_filter(EngineWarnings));
        tracing::subscriber::with_default(subscriber, || {
            // Not the engine: not counted.
            tracing::warn!(controller = "x-test", "elsewhere");
            tracing::warn!(target: "weftd::runtime::engine", controller = %"metrics-test", "reconcile failed");
            tracing::error!(target: "weftd::runtime::engine", controller = %"metrics-test", "controller failed");
            // Below WARN: not counted.
            tracing::info!(target: "weftd::runtime::engine", controller = %"metrics-test", "ok");
        });
        let errors = reconcile_errors();
        assert_eq!(errors.get("metrics-test"), Some(&2), "{errors:?}");
        assert_eq!(errors.get("x-test"), None);
    }
}
