//! MemberController: merged affiliates (ns `cluster`) → `Members.cluster.weft.dev` (id = node
//! name), one per affiliate with a node name — this node's own included. Two affiliates claiming
//! one node name (a clone, a renamed node not yet expired) give one member: the first by node id,
//! with a warning.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use weft_api::resources::TypedSpec;
use weft_api::resources::cluster::{AffiliateSpec, MemberSpec};

use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "cluster.MemberController";

/// Pure: the members of `affiliates` (in node-id order) by node name, and the node ids whose
/// node name was already taken, with the name.
pub fn members(
    affiliates: &[AffiliateSpec],
) -> (BTreeMap<String, MemberSpec>, Vec<(String, String)>) {
    let mut out = BTreeMap::new();
    let mut clashes = Vec::new();
    for affiliate in affiliates {
        if let Some((name, member)) = MemberSpec::from_affiliate(affiliate) {
            match out.entry(name) {
                Entry::Occupied(taken) => {
                    clashes.push((affiliate.node_id.clone(), taken.key().clone()));
                }
                Entry::Vacant(free) => {
                    free.insert(member);
                }
            }
        }
    }
    (out, clashes)
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct MemberController;

impl Controller for MemberController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![Kind::of::<AffiliateSpec>()]
    }

    fn outputs(&self) -> Vec<String> {
        vec![MemberSpec::TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let affiliates: Vec<AffiliateSpec> = ctx
            .list::<AffiliateSpec>()?
            .into_iter()
            .map(|r| r.spec)
            .collect();
        let (members, clashes) = members(&affiliates);
        for (node_id, name) in clashes {
            tracing::warn!(%node_id, nodename = %name, "another affiliate already has this node name; no member for it");
        }
        ctx.apply_outputs(members)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use weft_api::resources::NAMESPACE_CLUSTER;

    use super::*;
    use crate::test_support::{affiliate, fresh_state, put_in};

    #[test]
    fn one_member_per_node_name() {
        let mut no_name = affiliate("n0", 9);
        no_name.nodename.clear();
        let mut clone = affiliate("n3", 3);
        clone.nodename = "n1".into();
        let (m, clashes) = members(&[no_name, affiliate("n1", 1), affiliate("n2", 2), clone]);
        assert_eq!(m.keys().collect::<Vec<_>>(), ["n1", "n2"]);
        assert_eq!(m["n1"].node_id, "n1");
        assert_eq!(clashes, [("n3".to_owned(), "n1".to_owned())]);
    }

    #[tokio::test]
    async fn writes_members() {
        let state = fresh_state();
        for (id, n) in [("n1", 1), ("n2", 2)] {
            put_in(&state, NAMESPACE_CLUSTER, id, &affiliate(id, n), "merge");
        }
        let mut c = MemberController;
        let mut ctx = ReconcileContext::new(&state, &c);
        c.reconcile(&mut ctx).await.expect("reconcile");
        let members = state.list(NAMESPACE_CLUSTER, MemberSpec::TYPE);
        assert_eq!(members.len(), 2);
        let m: MemberSpec = members[1].decode().expect("spec");
        assert_eq!(
            (members[1].metadata.id.as_str(), m.node_id.as_str()),
            ("n2", "n2")
        );
    }
}
