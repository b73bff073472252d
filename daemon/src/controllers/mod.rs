//! The controllers, one file each, grouped by area. Each reads its inputs, computes its outputs with
//! a pure function (unit-tested at the bottom of the file) and writes them through the engine.

pub mod cluster;
pub mod kubespan;

use anyhow::Context as _;
use weft_api::config::MachineConfig;
use weft_api::config::validate::{self, Settings};

use crate::runtime::engine::ReconcileContext;

/// The running machine config's settings, from its resource (absent until published).
pub(crate) fn machine_settings(ctx: &ReconcileContext) -> anyhow::Result<Option<Settings>> {
    let Some(resource) = ctx.get(&crate::config_store::pointer()) else {
        return Ok(None);
    };
    let config: MachineConfig = resource
        .typed_spec()
        .context("decoding the MachineConfig resource")?;
    Ok(Some(validate::validate(&config, "running machine config")?))
}
