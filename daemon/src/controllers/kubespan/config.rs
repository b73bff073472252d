//! KubeSpanConfigController: MachineConfig → `KubeSpanConfigs.kubespan.weft.dev` (ns `config`, id
//! `kubespan`, sensitive: it carries the cluster secret, as Talos's does). The resolved KubeSpan
//! settings every other KubeSpan controller reads, so they never parse the machine config. The spec
//! lives in `crate::resources::kubespan`.

use weft_api::config::MachineConfig;
use weft_api::resources::TypedSpec;

use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "kubespan.ConfigController";

/// See the module doc.
#[derive(Debug, Default)]
pub struct ConfigController;

impl Controller for ConfigController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![Kind::of::<MachineConfig>()]
    }

    fn outputs(&self) -> Vec<String> {
        vec![KubeSpanConfigSpec::TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let desired = crate::controllers::machine_settings(ctx)?.map(|settings| {
            (
                KubeSpanConfigSpec::ID.to_owned(),
                KubeSpanConfigSpec::from_settings(&settings),
            )
        });
        ctx.apply_outputs(desired)?;
        Ok(())
    }
}
