//! The discovery service client (Talos's "service" registry): how weftd finds the other nodes of
//! its cluster through one or more Sidero-compatible discovery services, and publishes itself.
//!
//! - [`endpoint`]: configured URLs (and redirects) as targets to dial.
//! - [`transport`]: the four calls, behind a trait (tonic in weftd, an in-memory fake in tests).
//! - [`backoff`]: the reconnect backoff.
//! - [`client`]: one task per service: Hello, Watch, push, reconnect; what it learns.
//! - [`publications`]: what a client publishes and when, as a pure value (no I/O, no clock).
//! - [`leave`]: `weftctl leave` — withdraw this node from every service and wait for them.
//! - [`throttle`]: one log line per minute for warnings untrusted input can repeat.
//!
//! The controller that runs the clients and turns their reports into resources is
//! `controllers::cluster::discovery_service`. Only what the clients encrypted with the cluster
//! secret ever reaches a service; neither the secret nor the WireGuard private key is logged.

pub mod backoff;
pub mod client;
pub mod endpoint;
pub mod leave;
pub mod publications;
pub mod throttle;
pub mod transport;

#[cfg(test)]
pub(crate) mod fake;

pub use client::{Announcement, ClientHandle, ClientParams, ClientReport};
pub use endpoint::Target;
pub use transport::{Connection, Dialer, GrpcDialer};

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::watch;
    use weft_api::discovery::Cipher;
    use weft_api::proto::discovery::server::cluster_server::ClusterServer;
    use weft_api::resources::cluster::AffiliateSpec;

    use super::fake::{FakeGrpc, FakeService};
    use super::*;
    use crate::test_support::affiliate;

    /// The real transport end to end: tonic over h2c on loopback, against the fake service's
    /// semantics. Two nodes find each other; the service only ever holds ciphertext.
    #[tokio::test]
    async fn grpc_transport_over_loopback() {
        let service = FakeService::new("127.0.0.1");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn({
            let service = service.clone();
            let shutdown = shutdown.clone();
            async move {
                tonic::transport::Server::builder()
                    .add_service(ClusterServer::new(FakeGrpc(service)))
                    .serve_with_incoming_shutdown(
                        tonic::transport::server::TcpIncoming::from(listener),
                        shutdown.cancelled_owned(),
                    )
                    .await
            }
        });
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
        let target = Target::from_url(&url).expect("target");
        let cipher = Cipher::from_key(&[3u8; 32]);
        let spawn = |node: &str, n: u8| {
            let (tx, rx) = watch::channel(());
            let params = ClientParams {
                target: target.clone(),
                cluster_id: "cluster".into(),
                node_id: node.into(),
                cipher: cipher.clone(),
            };
            let handle = ClientHandle::spawn(
                Arc::new(GrpcDialer),
                params,
                Announcement::Announce(Box::new(affiliate(node, n))),
                Arc::new(tx),
            );
            (handle, rx)
        };
        let (a, mut a_news) = spawn("a", 1);
        let (b, _b_news) = spawn("b", 2);
        let seen: AffiliateSpec = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(spec) = a.report().affiliates.get("b") {
                    return spec.clone();
                }
                a_news.changed().await.expect("client alive");
            }
        })
        .await
        .expect("a discovers b over gRPC");
        assert_eq!(seen, affiliate("b", 2));
        assert_eq!(a.report().public_ip, Some("127.0.0.1".parse().expect("ip")));
        assert!(b.report().announced || service.updates_of("b") > 0);
        // The service holds ciphertext only: it opens with the cluster's key and nothing else.
        assert_eq!(
            service.stored("cluster", "a", &cipher),
            Some(affiliate("a", 1))
        );
        drop((a, b));
        shutdown.cancel();
        let _ = server.await;
    }
}
