//! The node API: tonic over rustls with mutual TLS. Handlers are thin: they check the caller's role
//! ([`auth`]) and translate between the wire ([`weft_api::proto`]) and the state store.
//!
//! - [`auth`]: roles from the client certificate's Organization (`os:admin`, `os:reader`).
//! - [`tls`]: the node's serving certificate, issued at start from the cluster CA.
//! - [`resource`]: `Get`, `List`, `Watch`, `Definitions`.
//! - [`machine`]: `ApplyConfiguration`, `GenerateClientConfiguration`, `Version` (admin only).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use weft_api::proto::machine::machine_service_server::MachineServiceServer;
use weft_api::proto::resource::resource_service_server::ResourceServiceServer;

use crate::config_store::ConfigStore;
use crate::runtime::state::State;

pub mod auth;
pub mod machine;
pub mod resource;
pub mod tls;

/// Serves the node API on `listen` until `shutdown` fires.
pub async fn serve(
    listen: SocketAddr,
    state: State,
    config: Arc<ConfigStore>,
    serving: tls::ServingCert,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&serving.crt_pem, &serving.key_pem))
        .client_ca_root(Certificate::from_pem(&serving.ca_pem));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (machine.api.listenAddress)"))?;
    tracing::info!(%listen, "node API listening");
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    Server::builder()
        .tls_config(tls)
        .context("node API TLS settings")?
        .add_service(ResourceServiceServer::new(resource::ResourceApi::new(
            state.clone(),
        )))
        .add_service(MachineServiceServer::new(machine::MachineApi::new(
            state, config,
        )))
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
        .context("node API server")
}
