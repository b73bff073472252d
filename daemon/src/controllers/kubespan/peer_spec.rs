//! PeerSpecController: merged affiliates → `KubeSpanPeerSpecs.kubespan.weft.dev` (id = the peer's
//! public key), computed by `adapters::kubespan::peer_spec`. Only while KubeSpan is enabled and
//! this node has both identities (its node id, to skip itself; its KubeSpan keys, without which
//! there is no WireGuard to configure); otherwise there are no peers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use weft_api::resources::cluster::{AffiliateSpec, IdentitySpec as NodeIdentity};
use weft_api::resources::kubespan::IdentitySpec as KubeSpanIdentity;
use weft_api::resources::kubespan::{PeerSpec, PeerState, PeerStatusSpec};
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::adapters::kubespan::peer_spec::{Skip, peer_specs};
use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "kubespan.PeerSpecController";

/// Most refusals remembered as already logged (an insider can announce ever new networks).
const MAX_REMEMBERED_REFUSALS: usize = 4096;

/// See the module doc.
#[derive(Debug, Default)]
pub struct PeerSpecController {
    /// The overlaps last warned about, so a stable overlap is logged once, not on every change.
    warned: Vec<(String, String)>,
    /// Refusals already logged (node id, network), each once; bounded like the affiliates.
    refusals: BTreeSet<(String, String)>,
}

impl Controller for PeerSpecController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![
            Kind::of::<AffiliateSpec>(),
            Kind::of::<NodeIdentity>(),
            Kind::of::<PeerStatusSpec>(),
            Kind::of::<KubeSpanConfigSpec>(),
            Kind::of::<KubeSpanIdentity>(),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![PeerSpec::TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let config = ctx.get::<KubeSpanConfigSpec>(KubeSpanConfigSpec::ID)?;
        let identity = ctx.get::<KubeSpanIdentity>(LOCAL_ID)?;
        let own = ctx.get::<NodeIdentity>(LOCAL_ID)?.map(|i| i.node_id);
        let (Some(own), Some(identity), true) = (own, identity, config.is_some_and(|c| c.enabled))
        else {
            ctx.apply_outputs(None::<(String, PeerSpec)>)?;
            return Ok(());
        };
        let affiliates: Vec<AffiliateSpec> = ctx
            .list::<AffiliateSpec>()?
            .into_iter()
            .map(|r| r.spec)
            .collect();
        // Where each peer's WireGuard traffic comes from while it is up: proof of where it is.
        let verified: BTreeMap<String, IpAddr> = ctx
            .list::<PeerStatusSpec>()?
            .into_iter()
            .filter_map(|r| {
                let status = r.spec;
                let endpoint = status.endpoint.filter(|_| status.state == PeerState::Up)?;
                Some((r.metadata.id, endpoint.ip().to_canonical()))
            })
            .collect();
        let computed = peer_specs(&own, &identity.public_key, &affiliates, &verified);
        if self.refusals.len() > MAX_REMEMBERED_REFUSALS {
            // Forgetting only means logging one again.
            self.refusals.clear();
        }
        for refused in &computed.refused {
            let key = (refused.node_id.clone(), refused.net.to_string());
            if self.refusals.insert(key) {
                tracing::warn!(node_id = %refused.node_id, net = %refused.net, why = refused.why, "refused what a peer announced");
            }
        }
        for (node_id, skip) in &computed.skipped {
            match skip {
                Skip::OwnPublicKey => {
                    tracing::warn!(%node_id, "an affiliate announces this node's public key; ignored");
                }
                Skip::DuplicatePublicKey { node_id: first } => {
                    tracing::warn!(%node_id, first = %first, "two affiliates announce one public key; the first one is the peer");
                }
                _ => {}
            }
        }
        let overlaps: Vec<(String, String)> = computed
            .overlaps
            .iter()
            .map(|o| (o.node_id.clone(), o.earlier.clone()))
            .collect();
        for (node_id, earlier) in &overlaps {
            if !self.warned.contains(&(node_id.clone(), earlier.clone())) {
                tracing::warn!(%node_id, other = %earlier, "peer address overlap: the addresses go to the other peer");
            }
        }
        self.warned = overlaps;
        ctx.apply_outputs(computed.peers)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use weft_api::resources::NAMESPACE_CLUSTER;

    use super::*;
    use crate::runtime::state::State;
    use crate::test_support::{affiliate, fresh_state, put_in, set_kubespan, set_node_id};

    fn put(state: &State, spec: &AffiliateSpec) {
        put_in(state, NAMESPACE_CLUSTER, &spec.node_id, spec, "merge");
    }

    async fn run(state: &State, c: &mut PeerSpecController) -> Vec<(String, PeerSpec)> {
        let mut ctx = ReconcileContext::new(state, c);
        c.reconcile(&mut ctx).await.expect("reconcile");
        state
            .list(PeerSpec::NAMESPACE, PeerSpec::TYPE)
            .into_iter()
            .map(|r| (r.metadata.id.clone(), r.decode().expect("spec")))
            .collect()
    }

    #[tokio::test]
    async fn peers_only_with_kubespan_and_identities() {
        let state = fresh_state();
        put(&state, &affiliate("self", 1));
        put(&state, &affiliate("n2", 2));
        put(&state, &affiliate("n3", 3));
        let mut c = PeerSpecController::default();
        assert!(
            run(&state, &mut c).await.is_empty(),
            "no identity, no config"
        );
        set_node_id(&state, "self");
        set_kubespan(
            &state,
            true,
            Some(&affiliate("self", 1).kubespan.public_key),
        );
        let peers = run(&state, &mut c).await;
        let labels: Vec<&str> = peers.iter().map(|(_, p)| p.label.as_str()).collect();
        assert_eq!(labels.len(), 2);
        assert!(labels.contains(&"n2") && labels.contains(&"n3"));
        let (id, n2) = peers.iter().find(|(_, p)| p.label == "n2").expect("n2");
        assert_eq!(id, &affiliate("n2", 2).kubespan.public_key);
        assert_eq!(n2.endpoints, affiliate("n2", 2).kubespan.endpoints);

        // Disabled: the peers go.
        set_kubespan(
            &state,
            false,
            Some(&affiliate("self", 1).kubespan.public_key),
        );
        assert!(run(&state, &mut c).await.is_empty());
    }
}
