//! The node API: tonic over rustls with mutual TLS. Handlers are thin: they check the caller's role
//! ([`auth`]) and translate between the wire ([`weft_api::proto`]) and the state store.
//!
//! - [`auth`]: roles from the client certificate's Organization (`os:admin`, `os:reader`).
//! - [`tls`]: the node's serving certificate, issued at start from the cluster CA.
//! - [`listener`]: the front door: TLS handshake deadline, connection caps, idle timeout, accept
//!   backoff; tonic only sees connections with a valid client certificate.
//! - [`resource`]: `Get`, `List`, `Watch`, `Definitions`.
//! - [`machine`]: `ApplyConfiguration`, `GenerateClientConfiguration`, `Logs`, … (admin only),
//!   `Version`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use weft_api::proto::machine::machine_service_server::MachineServiceServer;
use weft_api::proto::resource::resource_service_server::ResourceServiceServer;

use crate::config_store::ConfigStore;
use crate::logs::LogRing;
use crate::runtime::state::State;

pub mod auth;
pub mod listener;
pub mod machine;
pub mod resource;
pub mod tls;

/// Serves the node API on `listen` until `shutdown` fires.
pub async fn serve(
    listen: SocketAddr,
    state: State,
    config: Arc<ConfigStore>,
    serving: tls::ServingCert,
    logs: Arc<LogRing>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let acceptor = listener::tls_acceptor(&serving).context("node API TLS settings")?;
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen} (machine.api.listenAddress)"))?;
    let limits = listener::Limits::for_nofile(crate::os::rlimit::nofile());
    tracing::info!(
        %listen,
        max_connections = limits.caps.total,
        max_per_source = limits.caps.per_source,
        handshake_timeout_s = limits.handshake_timeout.as_secs(),
        "node API listening"
    );
    let incoming = listener::incoming(tcp, acceptor, limits, shutdown.clone());
    Server::builder()
        .http2_keepalive_interval(Some(listener::KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(listener::KEEPALIVE_TIMEOUT))
        .add_service(ResourceServiceServer::new(resource::ResourceApi::new(
            state.clone(),
            shutdown.clone(),
        )))
        .add_service(MachineServiceServer::new(machine::MachineApi::new(
            state,
            config,
            logs,
            shutdown.clone(),
        )))
        .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
        .await
        .context("node API server")
}
