//! `weftctl gen secrets`: a new secrets bundle, written with mode 0600.

use anyhow::Context as _;
use weft_api::config::secrets::SecretsBundle;

use crate::args::GenSecretsArgs;
use crate::files;

pub fn run(args: &GenSecretsArgs, force: bool) -> anyhow::Result<()> {
    files::check_overwrite(std::slice::from_ref(&args.output_file), force)?;
    let bundle = SecretsBundle::generate().context("generating secrets")?;
    files::write_secret_file(&args.output_file, &bundle.to_yaml())
}
