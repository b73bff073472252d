//! `weftctl validate --config FILE`: every problem at once, exit 1 when there is any (with
//! `--strict`, also when there are warnings). talosctl's `--mode` is accepted and ignored.

use std::io::Write as _;

use anyhow::bail;
use weft_api::config::validate::load_machine_config;

use crate::args::ValidateArgs;

pub fn run(args: &ValidateArgs) -> anyhow::Result<()> {
    if let Some(mode) = &args.mode {
        eprintln!("--mode {mode} ignored: Weft's machine config does not depend on the platform");
    }
    let valid = load_machine_config(&args.config)?;
    let warnings = valid.settings.warnings();
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if args.strict && !warnings.is_empty() {
        bail!(
            "{}: {} warning{} (--strict)",
            args.config.display(),
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        );
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} is valid", args.config.display())?;
    Ok(())
}
