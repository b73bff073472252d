//! EndpointController: KubeSpanPeerStatuses and Affiliates → `KubeSpanEndpoints.kubespan.weft.dev`
//! (id = the peer's public key), Talos's endpoint harvesting (§4.4 of the reference).
//!
//! Only with `harvestExtraEndpoints` (off by default: every node then publishes an endpoint for
//! every other, a load quadratic in the cluster size on the discovery service). For each peer that
//! is `up` with an endpoint WireGuard reports — where the peer actually reached us from, possibly a
//! NAT's public side no one advertised — and whose public key belongs to an affiliate: that
//! affiliate's id and the endpoint. The discovery client publishes them for that affiliate, so
//! every node learns the endpoints that work.

use std::collections::BTreeMap;

use weft_api::resources::TypedSpec;
use weft_api::resources::cluster::AffiliateSpec;
use weft_api::resources::kubespan::{EndpointSpec, PeerState, PeerStatusSpec};

use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "kubespan.EndpointController";

/// Pure: the endpoints to publish, by peer public key, from the peer `statuses` (by public key)
/// and the merged `affiliates` (in node-id order: when two announce one key, the first is the
/// peer, as in the peer specs).
pub fn harvest(
    statuses: &[(String, PeerStatusSpec)],
    affiliates: &[AffiliateSpec],
) -> Vec<(String, EndpointSpec)> {
    let mut owners: BTreeMap<&str, &str> = BTreeMap::new();
    for a in affiliates {
        if !a.kubespan.public_key.is_empty() {
            owners
                .entry(a.kubespan.public_key.as_str())
                .or_insert(a.node_id.as_str());
        }
    }
    statuses
        .iter()
        .filter(|(_, s)| s.state == PeerState::Up)
        .filter_map(|(key, s)| {
            let endpoint = s.endpoint?;
            let affiliate_id = (*owners.get(key.as_str())?).to_owned();
            Some((
                key.clone(),
                EndpointSpec {
                    affiliate_id,
                    endpoint,
                },
            ))
        })
        .collect()
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct EndpointController;

impl Controller for EndpointController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![
            Kind::of::<KubeSpanConfigSpec>(),
            Kind::of::<PeerStatusSpec>(),
            Kind::of::<AffiliateSpec>(),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![EndpointSpec::TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let config = ctx.get::<KubeSpanConfigSpec>(KubeSpanConfigSpec::ID)?;
        if !config.is_some_and(|c| c.enabled && c.harvest_extra_endpoints) {
            ctx.apply_outputs(None::<(String, EndpointSpec)>)?;
            return Ok(());
        }
        let statuses: Vec<(String, PeerStatusSpec)> = ctx
            .list::<PeerStatusSpec>()?
            .into_iter()
            .map(|r| (r.metadata.id, r.spec))
            .collect();
        let affiliates: Vec<AffiliateSpec> = ctx
            .list::<AffiliateSpec>()?
            .into_iter()
            .map(|r| r.spec)
            .collect();
        ctx.apply_outputs(harvest(&statuses, &affiliates))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{affiliate, key};

    fn status(state: PeerState, endpoint: Option<&str>) -> PeerStatusSpec {
        PeerStatusSpec {
            state,
            endpoint: endpoint.map(|e| e.parse().expect("endpoint")),
            ..PeerStatusSpec::default()
        }
    }

    #[test]
    fn only_up_peers_with_an_endpoint_and_an_affiliate() {
        // n9 announces n2's key too.
        let affiliates = [affiliate("n2", 2), affiliate("n3", 3), affiliate("n9", 2)];
        let statuses = [
            (key(2), status(PeerState::Up, Some("203.0.113.2:41000"))),
            (key(3), status(PeerState::Down, Some("10.0.0.3:51820"))),
            (key(4), status(PeerState::Up, Some("10.0.0.4:51820"))),
            (key(5), status(PeerState::Up, None)),
            (key(6), status(PeerState::Unknown, Some("10.0.0.6:51820"))),
        ];
        let got = harvest(&statuses, &affiliates);
        assert_eq!(
            got,
            [(
                key(2),
                EndpointSpec {
                    // The first affiliate (node-id order) with that key.
                    affiliate_id: "n2".into(),
                    endpoint: "203.0.113.2:41000".parse().expect("endpoint"),
                }
            )]
        );
        assert!(harvest(&statuses, &[]).is_empty());
    }
}
