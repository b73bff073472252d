//! `weftctl validate --config FILE`: every problem at once, exit 1 when there is any.

use std::io::Write as _;

use weft_api::config::validate::load_machine_config;

use crate::args::ValidateArgs;

pub fn run(args: &ValidateArgs) -> anyhow::Result<()> {
    let valid = load_machine_config(&args.config)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} is valid", args.config.display())?;
    if valid
        .settings
        .cluster
        .discovery
        .kubernetes_registry_requested
    {
        eprintln!(
            "warning: cluster.discovery.registries.kubernetes is enabled, but Weft has no Kubernetes registry; only the service registry is used"
        );
    }
    Ok(())
}
