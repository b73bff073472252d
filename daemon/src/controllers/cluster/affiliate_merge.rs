//! AffiliateMergeController: raw affiliates (ns `cluster-raw`, `service/<id>`, `k8s/<id>`) →
//! merged affiliates (ns `cluster`, id = node id), by the rules of `adapters::cluster::merge`.
//! This node's own id is left to LocalAffiliateController, which owns that resource.

use weft_api::resource::{Metadata, Resource};
use weft_api::resources::cluster::AffiliateSpec;
use weft_api::resources::{
    AFFILIATE_TYPE, IDENTITY_TYPE, NAMESPACE_CLUSTER, NAMESPACE_CLUSTER_RAW,
};

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
            Kind::new(NAMESPACE_CLUSTER_RAW, AFFILIATE_TYPE),
            Kind::new(NAMESPACE_CLUSTER, IDENTITY_TYPE),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![AFFILIATE_TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let own = node_id(ctx)?.unwrap_or_default();
        // `list` is sorted by id, which is the order the merge needs.
        let mut raw: Vec<AffiliateSpec> = Vec::new();
        for r in ctx.list(NAMESPACE_CLUSTER_RAW, AFFILIATE_TYPE) {
            match r.typed_spec::<AffiliateSpec>() {
                Ok(spec) => raw.push(spec),
                Err(e) => {
                    tracing::warn!(id = %r.metadata.id, error = %e, "skipping a raw affiliate that does not decode");
                }
            }
        }
        let mut desired = Vec::new();
        for (id, spec) in merge_raw(&raw) {
            if id == own || id.is_empty() {
                continue;
            }
            let metadata = Metadata::new(NAMESPACE_CLUSTER, AFFILIATE_TYPE, &id, NAME);
            desired.push(Resource::from_spec(metadata, &spec)?);
        }
        ctx.apply_outputs(AFFILIATE_TYPE, desired)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::cluster::tests::{affiliate, fresh_state, set_node_id};
    use crate::runtime::state::State;

    fn put_raw(state: &State, id: &str, spec: &AffiliateSpec) {
        let r = Resource::from_spec(
            Metadata::new(NAMESPACE_CLUSTER_RAW, AFFILIATE_TYPE, id, "registry"),
            spec,
        )
        .expect("spec");
        state.create(r).expect("create");
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
        let merged = state.list(NAMESPACE_CLUSTER, AFFILIATE_TYPE);
        let ids: Vec<&str> = merged.iter().map(|r| r.metadata.id.as_str()).collect();
        assert_eq!(ids, ["n1", "n2"]);
        let n1: AffiliateSpec = merged[0].typed_spec().expect("spec");
        assert_eq!(n1.hostname, "from-service");
        assert_eq!(merged[0].metadata.owner, NAME);

        // A raw affiliate that goes takes its merged one along.
        state
            .destroy(
                "registry",
                &crate::controllers::cluster::ptr(
                    NAMESPACE_CLUSTER_RAW,
                    AFFILIATE_TYPE,
                    "service/n2",
                ),
            )
            .expect("destroy");
        c.reconcile(&mut ctx).await.expect("reconcile");
        assert_eq!(state.list(NAMESPACE_CLUSTER, AFFILIATE_TYPE).len(), 1);
    }
}
