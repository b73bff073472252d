//! `weftctl validate --config FILE`: every problem at once, exit 1 when there is any.

use std::io::Write as _;

use weft_api::config::validate::load_machine_config;

use crate::args::ValidateArgs;

pub fn run(args: &ValidateArgs) -> anyhow::Result<()> {
    let valid = load_machine_config(&args.config)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{} is valid", args.config.display())?;
    for warning in valid.settings.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
