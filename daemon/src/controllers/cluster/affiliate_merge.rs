//! AffiliateMergeController: raw affiliates (ns `cluster-raw`, `service/<id>`, `k8s/<id>`) →
//! merged affiliates (ns `cluster`, id = node id), by the rules of `adapters::cluster::merge`.
//! This node's own id is left to LocalAffiliateController, which owns that resource.

use weft_api::resources::cluster::{AffiliateSpec, IdentitySpec as NodeIdentity};
use weft_api::resources::{NAMESPACE_CLUSTER_RAW, TypedSpec};

use super::node_id;
use crate::adapters::cluster::merge::merge_raw;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "cluster.AffiliateMergeController";

/// See the module doc.
#[derive(Debug, Default)]
pub struct AffiliateMergeController;

impl Controller for AffiliateMergeController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![
            Kind::of_in::<AffiliateSpec>(NAMESPACE_CLUSTER_RAW),
            Kind::of::<NodeIdentity>(),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![AffiliateSpec::TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let own = node_id(ctx)?.unwrap_or_default();
        // `list` is sorted by id, which is the order the merge needs.
        // Only DiscoveryServiceController writes raw affiliates, through the same typed spec, so
        // every one decodes.
        let raw: Vec<AffiliateSpec> = ctx
            .list_in::<AffiliateSpec>(NAMESPACE_CLUSTER_RAW)?
            .into_iter()
            .map(|r| r.spec)
            .collect();
        let desired = merge_raw(&raw)
            .into_iter()
            .filter(|(id, _)| *id != own && !id.is_empty());
        ctx.apply_outputs(desired)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use weft_api::resource::Pointer;
    use weft_api::resources::NAMESPACE_CLUSTER;

    use super::*;
    use crate::runtime::state::State;
    use crate::test_support::{affiliate, fresh_state, put_in, set_node_id};

    fn put_raw(state: &State, id: &str, spec: &AffiliateSpec) {
        put_in(state, NAMESPACE_CLUSTER_RAW, id, spec, "registry");
    }

    #[tokio::test]
    async fn merges_raw_into_cluster_and_skips_self() {
        let state = fresh_state();
        set_node_id(&state, "self");
        let mut k8s = affiliate("n1", 1);
        k8s.hostname = "from-k8s".into();
        let mut service = affiliate("n1", 1);
        service.hostname = "from-service".into();
        put_raw(&state, "k8s/n1", &k8s);
        put_raw(&state, "service/n1", &service);
        put_raw(&state, "service/n2", &affiliate("n2", 2));
        put_raw(&state, "service/self", &affiliate("self", 3));
        let mut c = AffiliateMergeController;
        let mut ctx = ReconcileContext::new(&state, &c);
        c.reconcile(&mut ctx).await.expect("reconcile");
        let merged = state.list(NAMESPACE_CLUSTER, AffiliateSpec::TYPE);
        let ids: Vec<&str> = merged.iter().map(|r| r.metadata.id.as_str()).collect();
        assert_eq!(ids, ["n1", "n2"]);
        let n1: AffiliateSpec = merged[0].decode().expect("spec");
        assert_eq!(n1.hostname, "from-service");
        assert_eq!(merged[0].metadata.owner, NAME);

        // A raw affiliate that goes takes its merged one along.
        state
            .destroy(
                "registry",
                &Pointer::to_in::<AffiliateSpec>(NAMESPACE_CLUSTER_RAW, "service/n2"),
            )
            .expect("destroy");
        c.reconcile(&mut ctx).await.expect("reconcile");
        assert_eq!(state.list(NAMESPACE_CLUSTER, AffiliateSpec::TYPE).len(), 1);
    }
}
