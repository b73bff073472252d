//! `weftctl gen config <cluster-name> <endpoint>`: machine configs for both machine types and a
//! client config, from a secrets bundle (`--with-secrets`) or fresh secrets. `--additional-sans`
//! becomes `machine.certSANs` (checked like any config, so a bad name fails before writing).
//! `--with-docs` and `--with-examples` comment the machine configs as talosctl does
//! ([`weft_api::config::docs`]); unlike talosctl both default to false, so configs stay short.
//!
//! Output (`-o`), as talosctl: a directory when several types are written (default: the current
//! one); a file when one type is; `-` prints the single type to stdout. Every file is written with
//! mode 0600 — unlike talosctl's 0644 — because machine configs carry the cluster secret and CA key.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use weft_api::config::generate::{self, GenerateOptions};
use weft_api::config::secrets::SecretsBundle;
use weft_api::config::validate::{self, ConfigError, MachineType};
use weft_api::config::{MachineConfig, Problem};

use crate::args::{GenConfigArgs, OutputType};
use crate::files;

pub fn run(args: &GenConfigArgs, force: bool) -> anyhow::Result<()> {
    let opts = GenerateOptions {
        cluster_name: args.cluster_name.clone(),
        endpoint: args.endpoint.clone(),
        with_kubespan: args.with_kubespan,
        with_cluster_discovery: args.with_cluster_discovery,
        discovery_endpoints: args.discovery_endpoints.clone(),
    };
    let problems = generate::check_options(&opts);
    if !problems.is_empty() {
        bail!(render_problems(&problems));
    }

    let mut types = args.output_types.clone();
    types.sort();
    types.dedup();
    let targets = targets(args.output.as_deref(), &types)?;
    if let Targets::Files(paths) = &targets {
        let paths: Vec<PathBuf> = paths.iter().map(|(_, p)| p.clone()).collect();
        files::check_overwrite(&paths, force)?;
    }

    let secrets = match &args.with_secrets {
        Some(path) => SecretsBundle::load(path)?,
        None => SecretsBundle::generate().context("generating secrets")?,
    };
    let common = read_patches(&args.config_patch)?;

    // Render everything first, so a bad patch writes nothing.
    let mut rendered = Vec::new();
    for ty in &types {
        let text = match ty {
            OutputType::Controlplane | OutputType::Worker => {
                let (machine_type, own) = if *ty == OutputType::Controlplane {
                    (MachineType::ControlPlane, &args.config_patch_control_plane)
                } else {
                    (MachineType::Worker, &args.config_patch_worker)
                };
                let mut config = generate::machine_config(&opts, &secrets, machine_type);
                if !args.additional_sans.is_empty() {
                    config.machine.cert_sans = Some(args.additional_sans.clone());
                }
                for (source, patch) in common.iter().chain(read_patches(own)?.iter()) {
                    config = generate::apply_patch(&config, patch, source)?;
                }
                check_generated(&config, ty.file_name())?;
                let text =
                    weft_api::yaml::to_string(&config).context("rendering the machine config")?;
                weft_api::config::docs::annotate(
                    &text,
                    args.with_docs.unwrap_or(false),
                    args.with_examples.unwrap_or(false),
                )
            }
            OutputType::Weftconfig => generate::client_config(&opts, &secrets)
                .context("issuing the client certificate")?
                .to_yaml(),
        };
        rendered.push((*ty, text));
    }

    match targets {
        Targets::Stdout => {
            let mut out = std::io::stdout().lock();
            for (_, text) in &rendered {
                out.write_all(text.as_bytes())?;
            }
            out.flush()?;
        }
        Targets::Files(paths) => {
            if let Some(dir) = paths.first().and_then(|(_, p)| p.parent())
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating directory {}", dir.display()))?;
            }
            for ((_, path), (_, text)) in paths.iter().zip(&rendered) {
                files::write_secret_file(path, text)?;
            }
        }
    }
    Ok(())
}

enum Targets {
    Stdout,
    Files(Vec<(OutputType, PathBuf)>),
}

fn targets(output: Option<&Path>, types: &[OutputType]) -> anyhow::Result<Targets> {
    if output == Some(Path::new("-")) {
        if types.len() != 1 {
            bail!("-o - (stdout) needs exactly one output type, e.g. -t controlplane");
        }
        return Ok(Targets::Stdout);
    }
    let into_dir = |dir: &Path| {
        Targets::Files(
            types
                .iter()
                .map(|t| (*t, dir.join(t.file_name())))
                .collect(),
        )
    };
    Ok(match output {
        None => into_dir(Path::new("")),
        Some(path) if types.len() == 1 && !path.is_dir() => {
            Targets::Files(vec![(types[0], path.to_path_buf())])
        }
        Some(dir) => into_dir(dir),
    })
}

/// Reads `--config-patch` values: `@file` or inline YAML, each with a name for messages.
fn read_patches(values: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|value| match value.strip_prefix('@') {
            Some(path) => {
                let text = validate::read_text_file(Path::new(path), "config patch")?;
                Ok((format!("config patch @{path}"), text))
            }
            None => Ok(("config patch (inline)".to_owned(), value.clone())),
        })
        .collect()
}

/// Generated (and patched) configs must validate, or nothing is written.
fn check_generated(config: &MachineConfig, name: &str) -> Result<(), ConfigError> {
    validate::validate(config, &format!("generated {name}")).map(|_| ())
}

fn render_problems(problems: &[Problem]) -> String {
    let mut out = format!(
        "invalid arguments, {} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        out.push_str("\n  - ");
        out.push_str(&p.to_string());
    }
    out
}
