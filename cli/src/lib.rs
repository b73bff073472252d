//! weftctl — the Weft command-line client.
//!
//! - [`args`]: the clap types, and nothing else.
//! - [`commands`]: one module per leaf command (`gen secrets`, `gen config`, `validate`, `version`,
//!   `completion`, `get`, `apply-config`, `config …`, `health`, `logs`, `dashboard`, …).
//! - [`client`]: which nodes to talk to, and mutual-TLS channels to them.
//! - [`complete`]: dynamic shell completion (the scripts call weftctl back).
//! - [`generated`]: the shell completions and man pages committed under `completions/` and `man/`.
//! - [`output`]: the `weftctl get` writers (table, yaml, json, jsonpath), byte-compatible with
//!   talosctl's.
//!
//! Exit codes: 0 success (also when stdout is a closed pipe), 1 failure, 2 usage error.

use std::ffi::OsString;
use std::io::{self, Write as _};
use std::process::ExitCode;

use clap::Parser as _;

pub mod args;
pub mod client;
pub mod commands;
pub mod complete;
mod files;
pub mod generated;
pub mod output;

/// Exit code of a failed command.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code of a usage error (clap's).
pub const EXIT_USAGE: u8 = 2;

/// Runs weftctl with `argv` and returns its exit code.
pub fn run(argv: impl IntoIterator<Item = impl Into<OsString> + Clone>) -> ExitCode {
    let argv: Vec<OsString> = argv.into_iter().map(Into::into).collect();
    if complete::try_complete(&argv) {
        return ExitCode::SUCCESS;
    }
    let cli = match args::Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(mut e) => {
            suggest_subcommand(&mut e);
            let code = e.exit_code();
            // --help and --version land here too, with exit code 0.
            if e.print().is_err() && code == 0 {
                return ExitCode::SUCCESS;
            }
            return ExitCode::from(code as u8);
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            print_error(&err);
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Most edits (one transposition, insertion, deletion or substitution) between a mistyped
/// subcommand and the one suggested.
const MAX_SUGGESTION_EDITS: usize = 2;

/// Suggests the nearest subcommand by edit distance with transpositions (`gte` → `get`): clap's
/// own similarity (Jaro) ranks the one-letter alias `g` first and misses `get`.
fn suggest_subcommand(err: &mut clap::Error) {
    use clap::CommandFactory as _;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::InvalidSubcommand {
        return;
    }
    let Some(ContextValue::String(typed)) = err.get(ContextKind::InvalidSubcommand) else {
        return;
    };
    let typed = typed.clone();
    let cmd = args::Cli::command();
    let nearest = cmd
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set())
        .map(|sub| sub.get_name().to_owned())
        .map(|name| (strsim::osa_distance(&typed, &name), name))
        .filter(|(edits, name)| *edits <= MAX_SUGGESTION_EDITS && *edits < name.len())
        .min();
    if let Some((_, name)) = nearest {
        err.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(vec![name]),
        );
    }
}

/// A reader that went away (`weftctl … | head`) is not a failure.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Prints the error chain, one line per cause.
fn print_error(err: &anyhow::Error) {
    let mut stderr = io::stderr().lock();
    let _ = writeln!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = writeln!(stderr, "  caused by: {cause}");
    }
}
