//! `weftctl apply-config --file FILE`: sends a machine config to every target node, which
//! validates it, persists it atomically and applies it live (no restart). Checked here first, so
//! a bad file fails with the full problem list before any node is touched.
//!
//! talosctl's `--mode`: weftd applies every config live, so `auto`, `no-reboot` and `reboot` all
//! mean "now"; `staged` and `try` promise something weftd does not do and are refused.

use std::io::Write as _;

use weft_api::config::validate::{self, load_machine_config};
use weft_api::proto::machine::ApplyConfigurationRequest;
use weft_api::proto::machine::machine_service_client::MachineServiceClient;

use crate::args::{ApplyConfigArgs, ApplyMode, GlobalArgs};
use crate::client;

pub async fn run(global: &GlobalArgs, args: &ApplyConfigArgs) -> anyhow::Result<()> {
    match args.mode {
        ApplyMode::Auto | ApplyMode::NoReboot => {}
        ApplyMode::Reboot => {
            eprintln!("--mode reboot ignored: weftd applies the config live, no reboot is needed")
        }
        ApplyMode::Staged => anyhow::bail!(
            "--mode staged is not supported: weftd keeps no config for the next boot, it applies every config live; drop --mode (or use --dry-run to check the config on the nodes)"
        ),
        ApplyMode::Try => anyhow::bail!(
            "--mode try is not supported: weftd has no trial config that rolls back by itself; check with --dry-run, apply without --mode, and apply the old config to undo"
        ),
    }
    load_machine_config(&args.file)?;
    let data = validate::read_text_file(&args.file, "machine config")?;
    let (_, ctx) = client::selected_context(global)?;
    let targets = client::targets(global, &ctx)?;
    let calls = targets.iter().map(|target| {
        let data = data.clone().into_bytes();
        let ctx = &ctx;
        async move {
            let channel = client::channel(target, ctx, global.timeout)?;
            let reply = MachineServiceClient::new(channel)
                .apply_configuration(ApplyConfigurationRequest {
                    data,
                    dry_run: args.dry_run,
                })
                .await
                .map_err(|s| anyhow::anyhow!("{}", client::describe_status(&s)))?;
            anyhow::Ok(reply.into_inner().message)
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for (target, result) in targets.iter().zip(results) {
        match result {
            Ok(message) => writeln!(out, "{}: {message}", target.name)?,
            Err(err) => {
                failed += 1;
                eprintln!("error: {}: {err:#}", target.name);
            }
        }
    }
    client::fail_if_any(failed, targets.len())
}
