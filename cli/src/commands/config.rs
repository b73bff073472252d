//! `weftctl config new|contexts|use-context|merge|remove|info|endpoint|node|add`: the client
//! config, as `talosctl config` does. Every change is written atomically with mode 0600.

use std::io::{IsTerminal as _, Write as _};

use anyhow::{Context as _, bail};
use weft_api::config::client::{ClientConfig, Context};
use weft_api::pki::Role;
use weft_api::proto::machine::GenerateClientConfigurationRequest;
use weft_api::proto::machine::machine_service_client::MachineServiceClient;

use crate::args::{
    AddContextArgs, ConfigNewArgs, GlobalArgs, ListArgs, MergeArgs, RemoveContextArgs,
    UseContextArgs,
};
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

fn save(config: &ClientConfig, path: &std::path::Path) -> anyhow::Result<()> {
    config
        .save(path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Makes `name` the current context.
pub fn use_context(global: &GlobalArgs, args: &UseContextArgs) -> anyhow::Result<()> {
    let path = client::config_path(global);
    let mut config = ClientConfig::load_or_default(&path)?;
    if !config.contexts.contains_key(&args.name) {
        return Err(client::no_such_context(&args.name, &path, &config));
    }
    config.context = args.name.clone();
    save(&config, &path)
}

/// Removes contexts, asking first at a terminal (as talosctl, unless `--noconfirm`). Removing the
/// current one leaves no context current, and says so.
pub fn remove(global: &GlobalArgs, args: &RemoveContextArgs) -> anyhow::Result<()> {
    let path = client::config_path(global);
    let mut config = ClientConfig::load_or_default(&path)?;
    if let Some(missing) = args
        .names
        .iter()
        .find(|n| !config.contexts.contains_key(*n))
    {
        return Err(client::no_such_context(missing, &path, &config));
    }
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if interactive && !args.noconfirm {
        let yes = dialoguer::Confirm::new()
            .with_prompt(format!("Remove context(s) {}?", args.names.join(", ")))
            .default(false)
            .interact()
            .context("asking whether to remove")?;
        if !yes {
            bail!("not removing {}", args.names.join(", "));
        }
    }
    for name in &args.names {
        config.contexts.remove(name);
        if config.context == *name {
            config.context.clear();
            eprintln!(
                "removed the current context {name:?}; choose another with `weftctl config context NAME`"
            );
        }
    }
    save(&config, &path)
}

/// Prints the selected context as `talosctl config info` does.
pub fn info(global: &GlobalArgs) -> anyhow::Result<()> {
    let (name, ctx) = client::selected_context(global)?;
    let cert = weft_api::pki::cert_info(&ctx.crt)
        .map_err(|e| anyhow::anyhow!("context {name:?}: client certificate (crt): {e}"))?;
    let roles: Vec<&str> = cert.roles().iter().map(|r| r.as_str()).collect();
    let expires = cert.not_after;
    let left = expires - time::OffsetDateTime::now_utc();
    let when = if left.is_negative() {
        format!("expired {} days ago", -left.whole_days())
    } else {
        format!("{} days from now", left.whole_days())
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "Current context:     {name}")?;
    writeln!(out, "Nodes:               {}", ctx.nodes.join(", "))?;
    writeln!(out, "Endpoints:           {}", ctx.endpoints.join(", "))?;
    writeln!(out, "Roles:               {}", roles.join(", "))?;
    writeln!(out, "Certificate expires: {when} ({})", expires.date())?;
    Ok(())
}

/// Which list of the selected context `config endpoint`/`config node` sets.
#[derive(Debug, Clone, Copy)]
pub enum ContextList {
    Endpoints,
    Nodes,
}

/// Replaces the selected context's endpoints or nodes.
pub fn set_list(global: &GlobalArgs, which: ContextList, args: &ListArgs) -> anyhow::Result<()> {
    let path = client::config_path(global);
    let mut config = ClientConfig::load_or_default(&path)?;
    let name = global.context.clone().unwrap_or(config.context.clone());
    let values: Vec<String> = args
        .values
        .iter()
        .flat_map(|v| v.split_whitespace())
        .map(str::to_owned)
        .collect();
    for value in &values {
        client::Target::parse(value)?;
    }
    let Some(ctx) = config.contexts.get_mut(&name) else {
        return Err(client::no_such_context(&name, &path, &config));
    };
    match which {
        ContextList::Endpoints => ctx.endpoints = values,
        ContextList::Nodes => ctx.nodes = values,
    }
    save(&config, &path)
}

/// Adds a context from PEM files; refuses a name that is taken and a key that is not the
/// certificate's.
pub fn add(global: &GlobalArgs, args: &AddContextArgs) -> anyhow::Result<()> {
    let path = client::config_path(global);
    let mut config = ClientConfig::load_or_default(&path)?;
    if config.contexts.contains_key(&args.name) {
        bail!(
            "context {:?} is already in {}: remove it first (`weftctl config remove {}`)",
            args.name,
            path.display(),
            args.name
        );
    }
    let read = |file: &std::path::Path, flag: &'static str| -> anyhow::Result<String> {
        let text = weft_api::config::validate::read_text_file(file, flag)?;
        Ok(weft_api::pki::encode_pem(&text))
    };
    let ca = read(&args.ca, "--ca")?;
    let crt = read(&args.crt, "--crt")?;
    let key = read(&args.key, "--key")?;
    weft_api::pki::cert_info(&ca)
        .map_err(|e| anyhow::anyhow!("--ca {}: {e}", args.ca.display()))?;
    weft_api::pki::check_pair(&weft_api::pki::CertAndKey {
        crt: crt.clone(),
        key: key.clone(),
    })
    .map_err(|e| anyhow::anyhow!("--crt/--key: {e}"))?;
    config.contexts.insert(
        args.name.clone(),
        Context {
            endpoints: Vec::new(),
            nodes: Vec::new(),
            ca,
            crt,
            key,
        },
    );
    if config.context.is_empty() {
        config.context = args.name.clone();
    }
    save(&config, &path)
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
    save(&config, &path)
}
