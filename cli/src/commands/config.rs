//! `weftctl config new|contexts|use-context|merge`: the client config, as `talosctl config` does.

use std::io::Write as _;

use anyhow::{Context as _, bail};
use weft_api::config::client::{ClientConfig, Context};
use weft_api::pki::Role;
use weft_api::proto::machine::GenerateClientConfigurationRequest;
use weft_api::proto::machine::machine_service_client::MachineServiceClient;

use crate::args::{ConfigNewArgs, GlobalArgs, MergeArgs, UseContextArgs};
use crate::client;
use crate::files;

/// Asks the (first) target node to issue a certificate with `--roles`, and writes a client config
/// with the current context's endpoints around it.
pub async fn new(global: &GlobalArgs, args: &ConfigNewArgs) -> anyhow::Result<()> {
    for role in &args.roles {
        if Role::parse(role).is_none() {
            bail!(
                "--roles: {role:?} is not a role, expected {}",
                Role::ALL.map(|r| r.as_str()).join(" or ")
            );
        }
    }
    files::check_overwrite(std::slice::from_ref(&args.path), args.force)?;
    let (name, ctx) = client::selected_context(global)?;
    let target = client::targets(global, &ctx)?.remove(0);
    let channel = client::channel(&target, &ctx, global.timeout)?;
    let reply = MachineServiceClient::new(channel)
        .generate_client_configuration(GenerateClientConfigurationRequest {
            roles: args.roles.clone(),
            crt_ttl_seconds: args.crt_ttl.as_secs(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", target.name, client::describe_status(&s)))?
        .into_inner();
    let config = ClientConfig {
        context: name.clone(),
        contexts: [(
            name,
            Context {
                endpoints: ctx.endpoints.clone(),
                nodes: ctx.nodes.clone(),
                ca: reply.ca,
                crt: reply.crt,
                key: reply.key,
            },
        )]
        .into(),
    };
    files::write_secret_file(&args.path, &config.to_yaml())
}

/// Lists contexts: CURRENT, NAME, ENDPOINTS, NODES.
pub fn contexts(global: &GlobalArgs) -> anyhow::Result<()> {
    let path = client::config_path(global);
    let config = ClientConfig::load_or_default(&path)?;
    let rows: Vec<[String; 4]> = config
        .contexts
        .iter()
        .map(|(name, ctx)| {
            [
                if *name == config.context { "*" } else { "" }.to_owned(),
                name.clone(),
                ctx.endpoints.join(","),
                ctx.nodes.join(","),
            ]
        })
        .collect();
    let header = ["CURRENT", "NAME", "ENDPOINTS", "NODES"].map(str::to_owned);
    let all: Vec<&[String; 4]> = std::iter::once(&header).chain(rows.iter()).collect();
    let widths: Vec<usize> = (0..4)
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = std::io::stdout().lock();
    for row in all {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                if i + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:<width$}   ", width = widths[i])
                }
            })
            .collect();
        writeln!(out, "{}", line.concat().trim_end())?;
    }
    Ok(())
}

/// Makes `name` the current context.
pub fn use_context(global: &GlobalArgs, args: &UseContextArgs) -> anyhow::Result<()> {
    let path = client::config_path(global);
    let mut config = ClientConfig::load_or_default(&path)?;
    if !config.contexts.contains_key(&args.name) {
        bail!(
            "context {:?} is not in {} (contexts: {})",
            args.name,
            path.display(),
            config
                .contexts
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    config.context = args.name.clone();
    config
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Merges a client config into the default one (or `--weftconfig`), renaming clashing contexts.
pub fn merge(global: &GlobalArgs, args: &MergeArgs) -> anyhow::Result<()> {
    let text = weft_api::config::validate::read_text_file(&args.file, "client config")?;
    let other = ClientConfig::parse(&text, &args.file.display().to_string())?;
    let path = client::config_path(global);
    let mut config = ClientConfig::load_or_default(&path)?;
    for (from, to) in config.merge(other) {
        eprintln!("renamed weftconfig context {from:?} -> {to:?}");
    }
    config
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))
}
