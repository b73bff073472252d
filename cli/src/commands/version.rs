//! `weftctl version`: the client's version, laid out like `talosctl version --client`.

use std::io::Write as _;

use crate::args::VersionArgs;

/// The version tag, e.g. `v0.1.0`.
pub fn tag() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

/// `GOOS/GOARCH`-style platform name, as talosctl prints it.
pub fn os_arch() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("{}/{arch}", std::env::consts::OS)
}

pub fn run(args: &VersionArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "Client:")?;
    if args.short {
        writeln!(out, "\tWeft {}", tag())?;
    } else {
        writeln!(out, "\tTag:         {}", tag())?;
        writeln!(out, "\tOS/Arch:     {}", os_arch())?;
    }
    Ok(())
}
