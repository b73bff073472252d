//! `weft.machine.v1alpha1.MachineService`: configuration, client credentials, leaving the
//! cluster and external peers. Admin only (except `Version`).

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};
use weft_api::pki::{self, Role};
use weft_api::proto::machine::{
    self as pb, AddExternalPeerRequest, AddExternalPeerResponse, ApplyConfigurationRequest,
    ApplyConfigurationResponse, GenerateClientConfigurationRequest,
    GenerateClientConfigurationResponse, LeaveRequest, LeaveResponse, LeaveResult,
    RemoveExternalPeerRequest, RemoveExternalPeerResponse, VersionRequest, VersionResponse,
};

use super::auth;
use crate::config_store::{ApplyError, ConfigStore};
use crate::controllers::cluster::external_peer::{self, ChangeError, ExternalPeerRequest};
use crate::discovery::leave;
use crate::runtime::state::State;

/// Longest validity `config new --crt-ttl` may ask for (the CA's own lifetime is ten years).
pub const MAX_CLIENT_CERT_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

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
}

impl MachineApi {
    pub fn new(state: State, config: Arc<ConfigStore>) -> MachineApi {
        MachineApi { config, state }
    }
}

#[tonic::async_trait]
impl pb::machine_service_server::MachineService for MachineApi {
    async fn apply_configuration(
        &self,
        request: Request<ApplyConfigurationRequest>,
    ) -> Result<Response<ApplyConfigurationResponse>, Status> {
        auth::require_admin(&request, "applying a configuration")?;
        let req = request.into_inner();
        let text = String::from_utf8(req.data)
            .map_err(|_| Status::invalid_argument("the config is not UTF-8 text"))?;
        let message = self
            .config
            .apply(&text, req.dry_run)
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
