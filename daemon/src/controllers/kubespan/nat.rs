//! NatController (Weft; KubeSpan has none): this node's public WireGuard endpoint, learned by STUN
//! → `KubeSpanNATStatuses.kubespan.weft.dev`, id `local`.
//!
//! Why: KubeSpan advertises `<public IP>:51820`, the address the discovery service saw on its TCP
//! connection with the WireGuard port glued on. Behind a NAT that maps the port elsewhere that
//! endpoint leads nowhere, and two nodes behind such NATs never meet (Talos issue #9038). Every
//! weft-discovery also answers STUN on its own port over UDP, so the node asks it — from the
//! WireGuard socket itself ([`DataPlane::reflexive_endpoint`]) — where that socket's packets come
//! from. LocalAffiliateController advertises the answer; the manager punches towards peers that
//! are not up. One small datagram per node per [`PROBE_INTERVAL`] and one affiliate update when the
//! answer changes: the discovery service's cost grows with the number of nodes, where harvesting
//! (each node reporting every peer's endpoint) grows with its square.
//!
//! ```text
//! KubeSpan on, natTraversal on, service registry on?  no ─► no status
//!   yes ─► due? ─► each discovery endpoint (config order): resolve host:port, ask from the
//!          WireGuard socket ─► first answer wins ─► status (public endpoint, behind NAT?,
//!          port preserved?) ─► next probe in PROBE_INTERVAL (which also keeps the NAT mapping to
//!          the server alive); no answer ─► keep the last endpoint, note the error, retry sooner
//!          (RETRY_INTERVAL doubling up to PROBE_INTERVAL×3)
//! ```
//!
//! A discovery service that does not speak STUN (Sidero's) never answers: the status then only
//! carries the error, and the node advertises what KubeSpan would.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use tokio::time::Instant;
use weft_api::config::MachineConfig;
use weft_api::resources::kubespan::NatStatusSpec;
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::discovery::Target;
use crate::resources::cluster::{NodeAddressSpec, ROUTED_ID};
use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;
use crate::wg::DataPlane;

/// Controller name (owner of its outputs).
pub const NAME: &str = "kubespan.NatController";

/// Between answered probes. Below the 30 s a Linux NAT keeps an unanswered UDP mapping (and far
/// below the minutes of an answered one), so the mapping the answer describes stays in place.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(20);

/// First retry after a probe found no answer; doubles per failure, up to [`MAX_RETRY_INTERVAL`].
pub const RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// Longest wait between failing probes (a service that does not speak STUN costs one datagram a
/// minute).
pub const MAX_RETRY_INTERVAL: Duration = Duration::from_secs(60);

/// How long one server gets to answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Addresses tried per discovery endpoint (a name may resolve to many).
pub const MAX_ADDRESSES_PER_SERVER: usize = 2;

/// How often the controller looks whether a probe is due.
const TICK: Duration = Duration::from_secs(1);

/// Pure: the status for an answer `mapped` from `server`, given this node's own addresses and
/// WireGuard port.
pub fn status(server: &str, mapped: SocketAddr, own: &[IpNet], listen_port: u16) -> NatStatusSpec {
    NatStatusSpec {
        server: server.to_owned(),
        public_endpoint: Some(mapped),
        behind_nat: !own.iter().any(|n| n.addr() == mapped.ip()),
        port_preserved: mapped.port() == listen_port,
        last_error: String::new(),
    }
}

/// Pure: the wait after `failures` probes in a row found no answer.
pub fn retry_after(failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1));
    RETRY_INTERVAL
        .saturating_mul(factor)
        .min(MAX_RETRY_INTERVAL)
}

/// See the module doc.
pub struct NatController<D: DataPlane> {
    data_plane: Arc<D>,
    next_probe: Option<Instant>,
    failures: u32,
    last: Option<NatStatusSpec>,
}

impl<D: DataPlane> std::fmt::Debug for NatController<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatController")
            .field("last", &self.last)
            .field("failures", &self.failures)
            .finish_non_exhaustive()
    }
}

impl<D: DataPlane> NatController<D> {
    pub fn new(data_plane: Arc<D>) -> NatController<D> {
        NatController {
            data_plane,
            next_probe: None,
            failures: 0,
            last: None,
        }
    }

    /// The STUN servers: each discovery endpoint's host and port, in config order.
    fn servers(ctx: &ReconcileContext) -> anyhow::Result<Vec<(String, u16)>> {
        let Some(settings) = crate::controllers::machine_settings(ctx)? else {
            return Ok(Vec::new());
        };
        let discovery = &settings.cluster.discovery;
        if !discovery.enabled || !discovery.service_registry {
            return Ok(Vec::new());
        }
        let mut out: Vec<(String, u16)> = Vec::new();
        for url in &discovery.service_endpoints {
            if let Ok(target) = Target::from_url(url) {
                let server = (target.host, target.port);
                if !out.contains(&server) {
                    out.push(server);
                }
            }
        }
        Ok(out)
    }

    /// Asks the servers in order; the first answer wins. `Err` carries what the last one said.
    async fn probe(&self, servers: &[(String, u16)]) -> Result<(String, SocketAddr), String> {
        let mut last_error = "no discovery service to ask".to_owned();
        for (host, port) in servers {
            // Square brackets around IPv6 literals come with the URL's host.
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let resolved =
                tokio::time::timeout(PROBE_TIMEOUT, tokio::net::lookup_host((bare, *port))).await;
            let addresses: Vec<SocketAddr> = match resolved {
                Ok(Ok(addrs)) => addrs.take(MAX_ADDRESSES_PER_SERVER).collect(),
                Ok(Err(e)) => {
                    last_error = format!("resolving {host}: {e}");
                    continue;
                }
                Err(_) => {
                    last_error = format!("resolving {host}: no answer within {PROBE_TIMEOUT:?}");
                    continue;
                }
            };
            for server in addresses {
                match self
                    .data_plane
                    .reflexive_endpoint(server, PROBE_TIMEOUT)
                    .await
                {
                    Ok(mapped) => return Ok((server.to_string(), mapped)),
                    Err(e) => last_error = e.to_string(),
                }
            }
        }
        Err(last_error)
    }
}

impl<D: DataPlane> Controller for NatController<D> {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![
            Kind::of::<MachineConfig>(),
            Kind::of::<KubeSpanConfigSpec>(),
            Kind::of::<NodeAddressSpec>(),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![NatStatusSpec::TYPE.to_owned()]
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(TICK)
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let config = ctx.get::<KubeSpanConfigSpec>(KubeSpanConfigSpec::ID)?;
        let servers = Self::servers(ctx)?;
        let Some(config) = config.filter(|c| c.enabled && c.nat_traversal && !servers.is_empty())
        else {
            self.last = None;
            self.next_probe = None;
            self.failures = 0;
            ctx.apply_outputs(None::<(String, NatStatusSpec)>)?;
            return Ok(());
        };
        let now = Instant::now();
        if self.next_probe.is_none_or(|due| now >= due) {
            let own = ctx.get::<NodeAddressSpec>(ROUTED_ID)?.unwrap_or_default();
            let next = match self.probe(&servers).await {
                Ok((server, mapped)) => {
                    let fresh = status(&server, mapped, &own.addresses, config.listen_port);
                    if self.last.as_ref().and_then(|s| s.public_endpoint) != Some(mapped) {
                        tracing::info!(
                            public_endpoint = %mapped,
                            behind_nat = fresh.behind_nat,
                            port_preserved = fresh.port_preserved,
                            %server,
                            "learned this node's public WireGuard endpoint"
                        );
                    }
                    self.last = Some(fresh);
                    self.failures = 0;
                    PROBE_INTERVAL
                }
                Err(error) => {
                    self.failures = self.failures.saturating_add(1);
                    if self.failures == 1 {
                        tracing::debug!(%error, "no STUN answer for this node's public endpoint");
                    }
                    // The last endpoint stays advertised: a NAT mapping rarely changes, and a
                    // lost datagram must not withdraw it.
                    let mut kept = self.last.take().unwrap_or_default();
                    kept.last_error = error;
                    self.last = Some(kept);
                    retry_after(self.failures)
                }
            };
            self.next_probe = Some(Instant::now() + next);
        }
        let output = self.last.clone().map(|spec| (LOCAL_ID.to_owned(), spec));
        ctx.apply_outputs(output)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_tells_nat_and_port_mapping_apart() {
        let own: Vec<IpNet> = vec!["192.168.1.2/24".parse().expect("net")];
        let mapped: SocketAddr = "203.0.113.7:40001".parse().expect("ep");
        let s = status("10.0.0.1:3000", mapped, &own, 51820);
        assert_eq!(s.public_endpoint, Some(mapped));
        assert!(s.behind_nat);
        assert!(!s.port_preserved);
        assert_eq!(s.server, "10.0.0.1:3000");

        let direct: SocketAddr = "192.168.1.2:51820".parse().expect("ep");
        let s = status("10.0.0.1:3000", direct, &own, 51820);
        assert!(!s.behind_nat);
        assert!(s.port_preserved);
    }

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_after(1), RETRY_INTERVAL);
        assert_eq!(retry_after(2), RETRY_INTERVAL * 2);
        assert_eq!(retry_after(3), RETRY_INTERVAL * 4);
        assert_eq!(retry_after(10), MAX_RETRY_INTERVAL);
        assert_eq!(retry_after(u32::MAX), MAX_RETRY_INTERVAL);
    }
}
