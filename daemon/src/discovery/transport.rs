//! The discovery API as the client uses it: [`Dialer`] opens a [`Connection`] to a [`Target`],
//! and a connection makes the four calls. The real ones are tonic's generated client over a
//! channel ([`GrpcDialer`]); tests substitute an in-memory service, so the client's timing logic
//! runs under paused time without sockets.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use futures::Stream;
use tonic::Status;
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};
use weft_api::proto::discovery::server::cluster_client::ClusterClient;
use weft_api::proto::discovery::server::{
    AffiliateDeleteRequest, AffiliateUpdateRequest, HelloRequest, HelloResponse, WatchRequest,
    WatchResponse,
};

use super::endpoint::Target;

/// How long dialing (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// HTTP/2 keepalive ping interval: max(10 s, TTL/10) as Sidero's client sets it; the service
/// refuses pings more often than every 10 s.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(180);
/// How long a keepalive ping may go unanswered before the connection is considered dead.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// The stream of a Watch call.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

/// One connection to a discovery service.
pub trait Connection: Send + 'static {
    fn hello(
        &mut self,
        request: HelloRequest,
    ) -> impl Future<Output = Result<HelloResponse, Status>> + Send;
    fn affiliate_update(
        &mut self,
        request: AffiliateUpdateRequest,
    ) -> impl Future<Output = Result<(), Status>> + Send;
    fn affiliate_delete(
        &mut self,
        request: AffiliateDeleteRequest,
    ) -> impl Future<Output = Result<(), Status>> + Send;
    fn watch(
        &mut self,
        request: WatchRequest,
    ) -> impl Future<Output = Result<WatchStream, Status>> + Send;
}

/// Opens connections.
pub trait Dialer: Send + Sync + 'static {
    type Conn: Connection;
    fn dial(&self, target: &Target) -> impl Future<Output = anyhow::Result<Self::Conn>> + Send;
}

/// The real transport: gRPC with tonic, h2c for `http://` targets, TLS with webpki roots
/// otherwise.
#[derive(Debug, Default, Clone)]
pub struct GrpcDialer;

impl Dialer for GrpcDialer {
    type Conn = ClusterClient<Channel>;

    async fn dial(&self, target: &Target) -> anyhow::Result<ClusterClient<Channel>> {
        let mut endpoint = Endpoint::from_shared(target.uri())
            .with_context(|| format!("discovery service {target}"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        if target.tls {
            let tls = ClientTlsConfig::new()
                .with_webpki_roots()
                .domain_name(target.host.clone());
            endpoint = endpoint
                .tls_config(tls)
                .with_context(|| format!("TLS settings for {target}"))?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("connecting to {target}"))?;
        // A watch snapshot of a full cluster is larger than tonic's default 4 MiB limit.
        Ok(ClusterClient::new(channel)
            .max_decoding_message_size(weft_api::discovery::crypto::MAX_WATCH_MESSAGE_LEN))
    }
}

impl Connection for ClusterClient<Channel> {
    async fn hello(&mut self, request: HelloRequest) -> Result<HelloResponse, Status> {
        Ok(ClusterClient::hello(self, request).await?.into_inner())
    }

    async fn affiliate_update(&mut self, request: AffiliateUpdateRequest) -> Result<(), Status> {
        ClusterClient::affiliate_update(self, request).await?;
        Ok(())
    }

    async fn affiliate_delete(&mut self, request: AffiliateDeleteRequest) -> Result<(), Status> {
        ClusterClient::affiliate_delete(self, request).await?;
        Ok(())
    }

    async fn watch(&mut self, request: WatchRequest) -> Result<WatchStream, Status> {
        let stream = ClusterClient::watch(self, request).await?.into_inner();
        Ok(Box::pin(stream))
    }
}
