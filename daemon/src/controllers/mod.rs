//! The controllers, one file each, grouped by area. Each reads its inputs, computes its outputs with
//! a pure function (unit-tested at the bottom of the file) and writes them through the engine.

pub mod cluster;
pub mod kubespan;

use weft_api::config::MachineConfig;
use weft_api::config::validate::{self, Settings};
use weft_api::resources::MACHINE_CONFIG_ID;

use crate::runtime::engine::ReconcileContext;

/// The running machine config's settings, from its resource (absent until published).
pub(crate) fn machine_settings(ctx: &ReconcileContext) -> anyhow::Result<Option<Settings>> {
    let Some(config) = ctx.get::<MachineConfig>(MACHINE_CONFIG_ID)? else {
        return Ok(None);
    };
    Ok(Some(validate::validate(&config, "running machine config")?))
}
