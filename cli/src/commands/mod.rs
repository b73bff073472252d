//! One module per leaf command; [`run`] dispatches.

use crate::args::{Cli, Command, GenCommand};

pub mod completion;
pub mod gen_config;
pub mod gen_secrets;
pub mod validate;
pub mod version;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gen(g) => match &g.command {
            GenCommand::Secrets(args) => gen_secrets::run(args, g.force),
            GenCommand::Config(args) => gen_config::run(args, g.force),
        },
        Command::Validate(args) => validate::run(&args),
        Command::Version(args) => version::run(&args),
        Command::Completion(args) => completion::run(&args),
    }
}
