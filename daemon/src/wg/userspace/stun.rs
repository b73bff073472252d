//! STUN on the tunnel's own UDP socket (see `shared_socket`): asking a STUN server for this
//! node's server-reflexive endpoint, and sending hole-punching Binding Indications to peers.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;
use weft_api::stun;

use super::Shared;
use crate::wg::DataPlaneError;
use crate::wg::shared_socket::send_from;

impl Shared {
    /// See [`crate::wg::DataPlane::reflexive_endpoint`].
    pub(super) async fn reflexive_endpoint(
        &self,
        server: SocketAddr,
        timeout: Duration,
    ) -> Result<SocketAddr, DataPlaneError> {
        let what = format!("asking the STUN server {server} for this node's public endpoint");
        let socket = self.slot.socket().ok_or_else(|| {
            DataPlaneError::refused(&what, "the WireGuard socket is not open yet")
        })?;
        let mut answers = self.answers.lock().await;
        // Answers to earlier probes that timed out are of no use now.
        while answers.try_recv().is_ok() {}
        let txid: stun::TransactionId = rand::random();
        send_from(&socket, &stun::binding_request(txid), server)
            .await
            .map_err(|e| DataPlaneError::io(&what, e))?;
        let deadline = Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, answers.recv()).await {
                Ok(Some((id, mapped, _from))) if id == txid => return Ok(mapped),
                Ok(Some(_)) => continue,
                Ok(None) => return Err(DataPlaneError::failed(&what, "the socket is gone")),
                Err(_) => {
                    return Err(DataPlaneError::failed(
                        &what,
                        format!("no answer within {timeout:?}"),
                    ));
                }
            }
        }
    }

    /// See [`crate::wg::DataPlane::punch`].
    pub(super) async fn punch(&self, targets: &[SocketAddr]) -> Result<usize, DataPlaneError> {
        let socket = self.slot.socket().ok_or_else(|| {
            DataPlaneError::refused(
                "punching through NAT",
                "the WireGuard socket is not open yet",
            )
        })?;
        let mut sent = 0;
        for target in targets {
            let txid: stun::TransactionId = rand::random();
            match send_from(&socket, &stun::binding_indication(txid), *target).await {
                Ok(()) => sent += 1,
                // Unreachable from here (another site's private address): expected, not news.
                Err(e) => tracing::trace!(%target, error = %e, "punch not sent"),
            }
        }
        Ok(sent)
    }
}
