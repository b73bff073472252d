//! Helpers for controller tests: assert on what the state eventually holds. Test-only (built
//! under `cfg(test)`); fixtures shared by the controller tests live in `crate::test_support`.
//!
//! Controllers run in their own tasks, so a test cannot check the state right after a write: it
//! waits for the condition, up to a deadline. The waits follow the resource's watch instead of
//! polling, and use tokio time, so under `tokio::time::pause()` a test never sleeps for real — a
//! condition that never comes true fails at once, when the paused clock jumps to the deadline.

use std::time::Duration;

use tokio::time::Instant;
use weft_api::resource::{EventKind, Pointer, Resource};

use super::state::{State, show};

/// How long `assert_resource` and `assert_no_resource` wait for their condition. Generous:
/// under paused time it costs nothing, and on a loaded CI machine with real time it avoids flakes.
pub const ASSERT_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits until the resource at `pointer` exists and `check` accepts it, and returns it. Panics
/// with the last rejection if that doesn't happen within [`ASSERT_TIMEOUT`].
pub async fn assert_resource<F>(state: &State, pointer: &Pointer, check: F) -> Resource
where
    F: FnMut(&Resource) -> anyhow::Result<()>,
{
    match wait_for_resource(state, pointer, ASSERT_TIMEOUT, check).await {
        Ok(r) => r,
        Err(why) => panic!(
            "{}: not as expected after {ASSERT_TIMEOUT:?}: {why}",
            show(pointer)
        ),
    }
}

/// Waits until no resource exists at `pointer`. Panics if one still does after
/// [`ASSERT_TIMEOUT`].
pub async fn assert_no_resource(state: &State, pointer: &Pointer) {
    let deadline = Instant::now() + ASSERT_TIMEOUT;
    let gone = wait(state, pointer, deadline, |current| match current {
        None => Ok(()),
        Some(r) => Err(format!("still exists at version {}", r.metadata.version)),
    })
    .await;
    if let Err(why) = gone {
        panic!("{}: {why} after {ASSERT_TIMEOUT:?}", show(pointer));
    }
}

/// Like [`assert_resource`] with a chosen timeout, returning the last rejection instead of
/// panicking.
pub async fn wait_for_resource<F>(
    state: &State,
    pointer: &Pointer,
    timeout: Duration,
    mut check: F,
) -> Result<Resource, String>
where
    F: FnMut(&Resource) -> anyhow::Result<()>,
{
    let deadline = Instant::now() + timeout;
    let mut accepted = None;
    wait(state, pointer, deadline, |current| match current {
        None => Err("does not exist".to_owned()),
        Some(r) => match check(r) {
            Ok(()) => {
                accepted = Some(r.clone());
                Ok(())
            }
            Err(e) => Err(format!("{e:#}")),
        },
    })
    .await?;
    accepted.ok_or_else(|| "accepted, yet no resource".to_owned())
}

/// Checks `cond` on the resource's current form and on every change, until it passes or the
/// deadline; returns the last failure.
async fn wait<F>(
    state: &State,
    pointer: &Pointer,
    deadline: Instant,
    mut cond: F,
) -> Result<(), String>
where
    F: FnMut(Option<&Resource>) -> Result<(), String>,
{
    let (mut current, mut watch) = state.watch(pointer).map_err(|e| e.to_string())?;
    loop {
        let why = match cond(current.as_ref()) {
            Ok(()) => return Ok(()),
            Err(why) => why,
        };
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Err(_) => return Err(why),
            Ok(None) => return Err(format!("{why}; and the state is gone")),
            Ok(Some(Ok(event))) => {
                current = (event.kind != EventKind::Destroyed).then_some(event.resource);
            }
            // Fell behind (a very busy test): start over from the current state.
            Ok(Some(Err(_))) => {
                (current, watch) = state.watch(pointer).map_err(|e| e.to_string())?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use weft_api::resource::ResourceDefinition;
    use weft_api::resources::TypedSpec;
    use yaml_serde::Value;

    use super::*;

    const NS: &str = "test";

    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    #[serde(transparent)]
    struct Thing(Value);

    impl TypedSpec for Thing {
        const TYPE: &'static str = "Things.test.weft.dev";
        const NAMESPACE: &'static str = NS;
    }

    fn resource(id: &str, owner: &str, spec: i64) -> Resource {
        Resource::new(id, &Thing(Value::from(spec)))
            .expect("spec")
            .owned_by(owner)
    }

    fn state() -> State {
        let s = State::new();
        s.register_definition(ResourceDefinition::new("Things", "Thing", NS))
            .unwrap();
        s
    }

    #[tokio::test(start_paused = true)]
    async fn assert_resource_waits_for_the_condition() {
        let s = state();
        let p = Pointer::to::<Thing>("a");
        let writer = {
            let s = s.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                s.create(resource("a", "w", 1)).unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
                s.update("w", resource("a", "w", 2)).unwrap();
            })
        };
        let r = assert_resource(&s, &p, |r| {
            anyhow::ensure!(r.spec == 2, "spec is {:?}", r.spec);
            Ok(())
        })
        .await;
        assert_eq!(r.metadata.version, 2);
        writer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_condition_never_met_times_out_with_the_last_reason() {
        let s = state();
        let p = Pointer::to::<Thing>("a");
        s.create(resource("a", "w", 1)).unwrap();
        let start = Instant::now();
        let err = wait_for_resource(&s, &p, Duration::from_secs(5), |r| {
            anyhow::ensure!(r.spec == 2, "spec is {:?}", r.spec);
            Ok(())
        })
        .await
        .unwrap_err();
        assert_eq!(err, "spec is Number(1)");
        assert_eq!(Instant::now() - start, Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn assert_no_resource_waits_for_destruction() {
        let s = state();
        let p = Pointer::to::<Thing>("a");
        s.create(resource("a", "w", 1)).unwrap();
        let writer = {
            let (s, p) = (s.clone(), p.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                s.destroy("w", &p).unwrap();
            })
        };
        assert_no_resource(&s, &p).await;
        writer.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "still exists at version 1")]
    async fn assert_no_resource_panics_when_it_stays() {
        let s = state();
        s.create(resource("a", "w", 1)).unwrap();
        assert_no_resource(&s, &Pointer::to::<Thing>("a")).await;
    }
}
