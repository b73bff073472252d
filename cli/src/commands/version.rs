//! `weftctl version`: the client's version and, as talosctl prints it, a Server section per target
//! node (asked concurrently); `--client` prints the client alone. Without a client config or nodes
//! there is nothing to ask: one line on stderr says so and the client's section still prints.

use std::io::Write as _;

use weft_api::proto::machine::VersionRequest;
use weft_api::proto::machine::machine_service_client::MachineServiceClient;

use crate::args::{GlobalArgs, VersionArgs};
use crate::client;

/// The version tag, e.g. `v0.1.0`.
pub fn tag() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// `GOOS/GOARCH`-style platform name, as talosctl prints it.
pub fn os_arch() -> String {
    format!(
        "{}/{}",
        std::env::consts::OS,
        go_arch(std::env::consts::ARCH)
    )
}

/// Rust's architecture names as Go spells them (what talosctl users read).
fn go_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// One section (`Client:` or `Server:`) in talosctl's layout.
fn section(
    out: &mut impl std::io::Write,
    title: &str,
    node: Option<&str>,
    tag: &str,
    os_arch: &str,
    short: bool,
) -> std::io::Result<()> {
    writeln!(out, "{title}:")?;
    if let Some(node) = node {
        writeln!(out, "\tNODE:        {node}")?;
    }
    if short {
        writeln!(out, "\tWeft {tag}")
    } else {
        writeln!(out, "\tTag:         {tag}")?;
        writeln!(out, "\tOS/Arch:     {os_arch}")
    }
}

pub async fn run(global: &GlobalArgs, args: &VersionArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    section(&mut out, "Client", None, &tag(), &os_arch(), args.short)?;
    out.flush()?;
    if args.client {
        return Ok(());
    }
    let targets = client::selected_context(global)
        .and_then(|(_, ctx)| Ok((client::targets(global, &ctx)?, ctx)));
    let (targets, ctx) = match targets {
        Ok(t) => t,
        Err(err) => {
            eprintln!("no server version: {err:#} (--client prints the client's alone)");
            return Ok(());
        }
    };
    let calls = targets.iter().map(|target| {
        let ctx = &ctx;
        async move {
            let channel = client::channel(target, ctx, global.timeout)?;
            let reply = MachineServiceClient::new(channel)
                .version(VersionRequest {})
                .await
                .map_err(|s| anyhow::anyhow!("{}", client::describe_status(&s)))?;
            anyhow::Ok(reply.into_inner())
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut failed = 0;
    for (target, result) in targets.iter().zip(results) {
        match result {
            Ok(reply) => {
                let os_arch = match reply.os_arch.split_once('/') {
                    Some((os, arch)) => format!("{os}/{}", go_arch(arch)),
                    None => reply.os_arch.clone(),
                };
                section(
                    &mut out,
                    "Server",
                    Some(&target.name),
                    &reply.tag,
                    &os_arch,
                    args.short,
                )?;
            }
            Err(err) => {
                failed += 1;
                eprintln!("error: {}: {err:#}", target.name);
            }
        }
    }
    client::fail_if_any(failed, targets.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_as_talosctl_lays_them_out() {
        let mut out = Vec::new();
        section(
            &mut out,
            "Server",
            Some("10.5.0.2"),
            "v0.1.0",
            "linux/amd64",
            false,
        )
        .expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "Server:\n\tNODE:        10.5.0.2\n\tTag:         v0.1.0\n\tOS/Arch:     linux/amd64\n"
        );
        assert_eq!(go_arch("x86_64"), "amd64");
        assert_eq!(go_arch("riscv64"), "riscv64");
    }
}
