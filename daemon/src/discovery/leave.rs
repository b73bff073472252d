//! `weftctl leave`: this node withdraws from every configured discovery service. The machine API
//! records a [`LeaveRequestSpec`]; the local affiliate disappears and every discovery client
//! deletes this node's affiliate and stops announcing it (until weftd restarts: the request lives
//! in memory only, so a restarted node announces itself again). This waits until each service has
//! confirmed the deletion, or the timeout; a service not reached by then is still retried by its
//! client in the background.

use std::collections::BTreeMap;
use std::time::Duration;

use time::OffsetDateTime;
use weft_api::resource::{EventKind, Pointer, Resource};
use weft_api::resources::cluster::DiscoveryServiceStatusSpec;
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::resources::cluster::LeaveRequestSpec;
use crate::runtime::state::{State, StateError};

/// Owner of the leave request.
pub const OWNER: &str = "machine.Leave";
/// How long the Leave call waits for the services to confirm: under weftctl's default request
/// timeout (10 s), so the answer arrives. A healthy service confirms in milliseconds.
pub const LEAVE_TIMEOUT: Duration = Duration::from_secs(8);

/// What one service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveOutcome {
    /// The endpoint as configured.
    pub endpoint: String,
    /// The service confirmed the deletion.
    pub deleted: bool,
    /// Why not, when not.
    pub error: String,
}

fn absorb(
    statuses: &mut BTreeMap<String, DiscoveryServiceStatusSpec>,
    r: &Resource,
    kind: EventKind,
) {
    if kind == EventKind::Destroyed {
        statuses.remove(&r.metadata.id);
    } else if let Ok(spec) = r.decode() {
        statuses.insert(r.metadata.id.clone(), spec);
    }
}

/// Records the leave request (once) and waits up to `timeout` for each of `endpoints` to confirm.
pub async fn leave(
    state: &State,
    endpoints: &[String],
    timeout: Duration,
) -> Result<Vec<LeaveOutcome>, StateError> {
    if state
        .get(&Pointer::to::<LeaveRequestSpec>(LOCAL_ID))
        .is_none()
    {
        let spec = LeaveRequestSpec {
            requested: OffsetDateTime::now_utc(),
        };
        let resource = Resource::new(LOCAL_ID, &spec)
            .map_err(|_| StateError::UnknownType(LeaveRequestSpec::TYPE.to_owned()))?
            .owned_by(OWNER);
        match state.create(resource) {
            Ok(_) => tracing::warn!(
                "leaving the cluster: withdrawing this node from the discovery services"
            ),
            // A concurrent leave got there first: same request.
            Err(StateError::AlreadyExists(_)) => {}
            Err(e) => return Err(e),
        }
    }

    let (bootstrap, mut watch) = state.watch_kind(
        DiscoveryServiceStatusSpec::NAMESPACE,
        DiscoveryServiceStatusSpec::TYPE,
    )?;
    let mut statuses: BTreeMap<String, DiscoveryServiceStatusSpec> = BTreeMap::new();
    for r in &bootstrap {
        absorb(&mut statuses, r, EventKind::Created);
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let all_left = endpoints
            .iter()
            .all(|e| statuses.get(e).is_some_and(|s| s.left));
        if all_left {
            break;
        }
        match tokio::time::timeout_at(deadline, watch.next()).await {
            Ok(Some(Ok(event))) => absorb(&mut statuses, &event.resource, event.kind),
            // Fell behind: start over from the current set.
            Ok(Some(Err(_))) => {
                let (bootstrap, w) = state.watch_kind(
                    DiscoveryServiceStatusSpec::NAMESPACE,
                    DiscoveryServiceStatusSpec::TYPE,
                )?;
                watch = w;
                statuses.clear();
                for r in &bootstrap {
                    absorb(&mut statuses, r, EventKind::Created);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    Ok(endpoints
        .iter()
        .map(|e| {
            let status = statuses.get(e);
            let deleted = status.is_some_and(|s| s.left);
            let error = match status {
                _ if deleted => String::new(),
                None => "no client for this service yet".to_owned(),
                Some(s) if !s.last_error.is_empty() => s.last_error.clone(),
                Some(_) => "not confirmed in time".to_owned(),
            };
            LeaveOutcome {
                endpoint: e.clone(),
                deleted,
                error,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::fresh_state;

    /// Without a client confirming, leave still records the request and reports each service
    /// as not confirmed when the time is up; a second leave reuses the request.
    #[tokio::test(start_paused = true)]
    async fn unconfirmed_services_are_reported_after_the_timeout() {
        let state = fresh_state();
        let start = tokio::time::Instant::now();
        let outcome = leave(&state, &["http://a/".to_owned()], LEAVE_TIMEOUT)
            .await
            .expect("leave");
        assert_eq!(tokio::time::Instant::now() - start, LEAVE_TIMEOUT);
        assert_eq!(
            outcome,
            [LeaveOutcome {
                endpoint: "http://a/".into(),
                deleted: false,
                error: "no client for this service yet".into(),
            }]
        );
        let request = Pointer::to::<LeaveRequestSpec>(LOCAL_ID);
        let first = state.get(&request).expect("recorded");
        // Nothing configured: nothing to wait for.
        assert_eq!(leave(&state, &[], LEAVE_TIMEOUT).await.expect("leave"), []);
        assert_eq!(state.get(&request), Some(first));
    }
}
