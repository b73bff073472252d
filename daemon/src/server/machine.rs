//! `weft.machine.v1alpha1.MachineService`: configuration, client credentials, leaving the
//! cluster, external peers and the node log. Admin only (except `Version`).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt as _};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use weft_api::pki::{self, Role};
use weft_api::proto::machine::{
    self as pb, AddExternalPeerRequest, AddExternalPeerResponse, ApplyConfigurationRequest,
    ApplyConfigurationResponse, GenerateClientConfigurationRequest,
    GenerateClientConfigurationResponse, LeaveRequest, LeaveResponse, LeaveResult, LogsRequest,
    LogsResponse, RemoveExternalPeerRequest, RemoveExternalPeerResponse, VersionRequest,
    VersionResponse,
};

use super::auth;
use crate::config_store::{ApplyError, ConfigStore};
use crate::controllers::cluster::external_peer::{self, ChangeError, ExternalPeerRequest};
use crate::discovery::leave;
use crate::logs::{self, LINES_PER_MESSAGE, LogRing};
use crate::runtime::state::State;

/// Longest validity `config new --crt-ttl` may ask for (the CA's own lifetime is ten years).
pub const MAX_CLIENT_CERT_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Configs checked at once (`apply-config`, also `--dry-run`). Parsing and validating run on the
/// blocking pool so the API keeps answering meanwhile; one at a time keeps a core free for it.
pub const MAX_CONCURRENT_CONFIG_CHECKS: usize = 1;

/// The status for a config that is refused before it is parsed: larger than a config file may be.
fn oversized(len: usize) -> Option<Status> {
    let limit = weft_api::config::MAX_CONFIG_FILE_BYTES;
    (len as u64 > limit).then(|| {
        Status::resource_exhausted(format!(
            "the config is {len} bytes, over the limit of {limit} bytes for a machine config"
        ))
    })
}

/// The status for an external peer change that failed.
fn change_status(err: ChangeError) -> Status {
    match err {
        ChangeError::Invalid(e) => Status::invalid_argument(e.to_string()),
        ChangeError::NotFound(_) => Status::not_found(err.to_string()),
        ChangeError::NotConfirmed => Status::unavailable(err.to_string()),
        ChangeError::State(_) => Status::internal(err.to_string()),
    }
}

/// The machine service.
#[derive(Debug)]
pub struct MachineApi {
    config: Arc<ConfigStore>,
    state: State,
    checks: Arc<tokio::sync::Semaphore>,
    logs: Arc<LogRing>,
    /// Ends `Logs` follow streams, which would otherwise hold the API's graceful shutdown open.
    shutdown: CancellationToken,
}

impl MachineApi {
    pub fn new(
        state: State,
        config: Arc<ConfigStore>,
        logs: Arc<LogRing>,
        shutdown: CancellationToken,
    ) -> MachineApi {
        MachineApi {
            config,
            state,
            checks: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CONFIG_CHECKS)),
            logs,
            shutdown,
        }
    }
}

type LogsStream = Pin<Box<dyn Stream<Item = Result<LogsResponse, Status>> + Send>>;

/// The `Logs` reply: the tail in messages of [`LINES_PER_MESSAGE`], then (following) a message per
/// new line, or the count of lines this follower missed; it ends when `shutdown` fires.
fn logs_stream(
    ring: &LogRing,
    tail: Option<usize>,
    follow: bool,
    shutdown: CancellationToken,
) -> LogsStream {
    let (kept, rx) = ring.tail(tail, follow);
    let batches: Vec<Result<LogsResponse, Status>> = kept
        .chunks(LINES_PER_MESSAGE)
        .map(|chunk| {
            Ok(LogsResponse {
                lines: chunk.iter().map(|l| l.to_string()).collect(),
                dropped: 0,
            })
        })
        .collect();
    let head = futures::stream::iter(batches);
    let Some(rx) = rx else {
        return Box::pin(head);
    };
    let followed = BroadcastStream::new(rx).map(|item| {
        Ok(match item {
            Ok(line) => LogsResponse {
                lines: vec![line.to_string()],
                dropped: 0,
            },
            Err(BroadcastStreamRecvError::Lagged(n)) => LogsResponse {
                lines: Vec::new(),
                dropped: n,
            },
        })
    });
    Box::pin(head.chain(followed).take_until(shutdown.cancelled_owned()))
}

#[tonic::async_trait]
impl pb::machine_service_server::MachineService for MachineApi {
    async fn apply_configuration(
        &self,
        request: Request<ApplyConfigurationRequest>,
    ) -> Result<Response<ApplyConfigurationResponse>, Status> {
        auth::require_admin(&request, "applying a configuration")?;
        let req = request.into_inner();
        if let Some(status) = oversized(req.data.len()) {
            return Err(status);
        }
        let text = String::from_utf8(req.data)
            .map_err(|_| Status::invalid_argument("the config is not UTF-8 text"))?;
        let _permit = Arc::clone(&self.checks)
            .acquire_owned()
            .await
            .map_err(|_| Status::unavailable("shutting down"))?;
        let config = Arc::clone(&self.config);
        let message = tokio::task::spawn_blocking(move || config.apply(&text, req.dry_run))
            .await
            .map_err(|e| Status::internal(format!("checking the config: {e}")))?
            .map_err(|err| match err {
                ApplyError::Invalid(e) => Status::invalid_argument(e.to_string()),
                ApplyError::Persist(e) => Status::internal(format!("{e:#}")),
            })?;
        Ok(Response::new(ApplyConfigurationResponse { message }))
    }

    async fn generate_client_configuration(
        &self,
        request: Request<GenerateClientConfigurationRequest>,
    ) -> Result<Response<GenerateClientConfigurationResponse>, Status> {
        auth::require_admin(&request, "issuing client certificates")?;
        let req = request.into_inner();
        let mut roles = Vec::new();
        for r in &req.roles {
            roles.push(Role::parse(r).ok_or_else(|| {
                Status::invalid_argument(format!("roles: {r:?} is not os:admin or os:reader"))
            })?);
        }
        if roles.is_empty() {
            return Err(Status::invalid_argument(
                "roles: at least one role is needed",
            ));
        }
        let ttl = Duration::from_secs(req.crt_ttl_seconds);
        if ttl.is_zero() || ttl > MAX_CLIENT_CERT_TTL {
            return Err(Status::invalid_argument(format!(
                "crt_ttl: {}s is outside 1s..{}s",
                ttl.as_secs(),
                MAX_CLIENT_CERT_TTL.as_secs()
            )));
        }
        let ca = self.config.current().settings.ca.clone();
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        let issued = pki::issue_client_cert(&ca, &names.join(","), &roles, ttl)
            .map_err(|e| Status::internal(e.to_string()))?;
        tracing::info!(roles = ?names, ttl_s = ttl.as_secs(), "issued a client certificate");
        Ok(Response::new(GenerateClientConfigurationResponse {
            ca: ca.crt,
            crt: issued.crt,
            key: issued.key,
        }))
    }

    async fn leave(
        &self,
        request: Request<LeaveRequest>,
    ) -> Result<Response<LeaveResponse>, Status> {
        auth::require_admin(&request, "leaving the cluster")?;
        let settings = self.config.current().settings;
        let discovery = &settings.cluster.discovery;
        let endpoints: Vec<String> = if discovery.enabled && discovery.service_registry {
            let mut list: Vec<String> = Vec::new();
            for url in &discovery.service_endpoints {
                let e = url.to_string();
                if !list.contains(&e) {
                    list.push(e);
                }
            }
            list
        } else {
            Vec::new()
        };
        let outcomes = leave::leave(&self.state, &endpoints, leave::LEAVE_TIMEOUT)
            .await
            .map_err(|e| Status::internal(format!("recording the leave request: {e}")))?;
        Ok(Response::new(LeaveResponse {
            results: outcomes
                .into_iter()
                .map(|o| LeaveResult {
                    endpoint: o.endpoint,
                    deleted: o.deleted,
                    error: o.error,
                })
                .collect(),
        }))
    }

    async fn add_external_peer(
        &self,
        request: Request<AddExternalPeerRequest>,
    ) -> Result<Response<AddExternalPeerResponse>, Status> {
        auth::require_admin(&request, "adding external peers")?;
        let req = request.into_inner();
        let added = external_peer::add(
            &self.state,
            &ExternalPeerRequest {
                name: req.name,
                public_key: req.public_key,
                endpoint: req.endpoint,
                addresses: req.addresses,
            },
        )
        .await
        .map_err(change_status)?;
        Ok(Response::new(AddExternalPeerResponse {
            affiliate_id: added.affiliate_id,
            created: added.created,
            kubespan_address: added
                .kubespan_address
                .map(|a| a.to_string())
                .unwrap_or_default(),
        }))
    }

    async fn remove_external_peer(
        &self,
        request: Request<RemoveExternalPeerRequest>,
    ) -> Result<Response<RemoveExternalPeerResponse>, Status> {
        auth::require_admin(&request, "removing external peers")?;
        let name = request.into_inner().name;
        let affiliate_id = external_peer::remove(&self.state, &name)
            .await
            .map_err(change_status)?;
        Ok(Response::new(RemoveExternalPeerResponse { affiliate_id }))
    }

    type LogsStream = LogsStream;

    async fn logs(&self, request: Request<LogsRequest>) -> Result<Response<LogsStream>, Status> {
        auth::require_admin(&request, "reading the node log")?;
        let req = request.into_inner();
        let tail = logs::tail_count(req.tail_lines).map_err(Status::invalid_argument)?;
        Ok(Response::new(logs_stream(
            &self.logs,
            tail,
            req.follow,
            self.shutdown.child_token(),
        )))
    }

    async fn version(
        &self,
        request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        auth::role(&request)?;
        Ok(Response::new(VersionResponse {
            tag: format!("v{}", env!("CARGO_PKG_VERSION")),
            os_arch: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn logs_come_in_bounded_messages_then_follow_until_shutdown() {
        let ring = LogRing::new();
        for i in 0..LINES_PER_MESSAGE + 1 {
            ring.push(&format!("line {i}"));
        }
        let sizes: Vec<usize> = logs_stream(&ring, None, false, CancellationToken::new())
            .map(|m| m.expect("message").lines.len())
            .collect()
            .await;
        assert_eq!(sizes, [LINES_PER_MESSAGE, 1]);
        let last: Vec<LogsResponse> = logs_stream(&ring, Some(1), false, CancellationToken::new())
            .map(|m| m.expect("message"))
            .collect()
            .await;
        assert_eq!(last[0].lines, [format!("line {LINES_PER_MESSAGE}")]);

        let stop = CancellationToken::new();
        let mut follow = logs_stream(&ring, Some(0), true, stop.clone());
        ring.push("new");
        let next = follow.next().await.expect("a line").expect("message");
        assert_eq!(next.lines, ["new"]);
        stop.cancel();
        assert!(follow.next().await.is_none(), "shutdown ends the stream");
    }

    #[test]
    fn configs_over_the_file_limit_are_refused_naming_it() {
        let limit = weft_api::config::MAX_CONFIG_FILE_BYTES as usize;
        assert!(oversized(limit).is_none());
        let status = oversized(limit + 1).expect("refused");
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "the config is 1048577 bytes, over the limit of 1048576 bytes for a machine config"
        );
    }
}
