//! Dynamic shell completion: the shells' scripts (bash, zsh, fish, powershell, elvish) call
//! weftctl back with `COMPLETE=<shell>` (clap_complete's environment engine), so completions
//! follow the command tree of the binary installed, and values come from where they live: resource
//! types and aliases from Weft's definitions, ids from the node, contexts and nodes from the client
//! config, `-o` from the writers.
//!
//! A value completer sees only the word being completed, so the words before it (`-n`,
//! `--context`, `--weftconfig`, the type after `get`) are read from the command line the shell
//! passed, after clap_complete's `--`.

use std::ffi::OsString;
use std::time::Duration;

use clap_complete::engine::CompletionCandidate;
use weft_api::config::client::ClientConfig;

use crate::args::GlobalArgs;
use crate::client;

/// The environment variable the scripts set to ask for completions (clap_complete's default).
pub const COMPLETE_VAR: &str = "COMPLETE";

/// How long completing ids may wait for the node: a shell waits on it while the user types.
pub const ID_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers a completion request and returns true, or returns false for a normal run.
pub fn try_complete(argv: &[OsString]) -> bool {
    let cwd = std::env::current_dir().ok();
    clap_complete::CompleteEnv::with_factory(|| {
        use clap::CommandFactory as _;
        crate::args::Cli::command()
    })
    .var(COMPLETE_VAR)
    .try_complete(argv.iter().cloned(), cwd.as_deref())
    .unwrap_or_else(|e| e.exit())
}

/// The registration script for `shell`: what `weftctl completion <shell>` prints and what
/// `completions/` holds.
pub fn registration(shell: clap_complete::Shell) -> Vec<u8> {
    use clap_complete::env::{Bash, Elvish, EnvCompleter, Fish, Powershell, Zsh};
    let completer: &dyn EnvCompleter = match shell {
        clap_complete::Shell::Bash => &Bash,
        clap_complete::Shell::Zsh => &Zsh,
        clap_complete::Shell::Fish => &Fish,
        clap_complete::Shell::PowerShell => &Powershell,
        _ => &Elvish,
    };
    let mut out = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = completer.write_registration(COMPLETE_VAR, "weftctl", "weftctl", "weftctl", &mut out);
    out
}

/// What the command line being completed says so far (the words clap_complete passes after
/// `--`, the program name first).
#[derive(Debug, Default, PartialEq, Eq)]
struct Line {
    nodes: Vec<String>,
    context: Option<String>,
    weftconfig: Option<String>,
    /// The first word after `get`/`g` that is not a flag.
    resource_type: Option<String>,
}

/// Flags of `get` and the global ones that take a value (so their value is not a positional).
const VALUE_FLAGS: [&str; 12] = [
    "-n",
    "--nodes",
    "-e",
    "--endpoints",
    "--context",
    "--weftconfig",
    "--talosconfig",
    "--timeout",
    "-o",
    "--output",
    "--namespace",
    "-c",
];

fn parse_line(words: &[String]) -> Line {
    let mut line = Line::default();
    let mut in_get = false;
    let mut i = 1;
    // The last word is the one being completed.
    let done = words.len().saturating_sub(1);
    while i < done {
        let word = words[i].as_str();
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_owned())),
            _ => (word, None),
        };
        if VALUE_FLAGS.contains(&flag) {
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    words.get(i).cloned().unwrap_or_default()
                }
            };
            match flag {
                "-n" | "--nodes" => line.nodes = value.split(',').map(str::to_owned).collect(),
                "--context" => line.context = Some(value),
                "--weftconfig" | "--talosconfig" => line.weftconfig = Some(value),
                _ => {}
            }
        } else if !word.starts_with('-') {
            if in_get && line.resource_type.is_none() {
                line.resource_type = Some(word.to_owned());
            } else if word == "get" || word == "g" {
                in_get = true;
            }
        }
        i += 1;
    }
    line
}

/// The command line being completed, from this process's arguments.
fn current_line() -> Line {
    let args: Vec<String> = std::env::args().collect();
    let words = match args.iter().position(|a| a == "--") {
        Some(i) => &args[i + 1..],
        None => &args[..],
    };
    parse_line(words)
}

fn global_args(line: &Line) -> GlobalArgs {
    GlobalArgs {
        nodes: line.nodes.clone(),
        endpoints: Vec::new(),
        context: line.context.clone(),
        // clap reads WEFTCONFIG when it parses; here nothing is parsed.
        weftconfig: line
            .weftconfig
            .clone()
            .or_else(|| std::env::var("WEFTCONFIG").ok().filter(|v| !v.is_empty()))
            .map(Into::into),
        timeout: ID_TIMEOUT,
    }
}

fn client_config(line: &Line) -> ClientConfig {
    ClientConfig::load_or_default(&client::config_path(&global_args(line))).unwrap_or_default()
}

/// Resource types: every definition's id and aliases.
pub fn resource_types() -> Vec<CompletionCandidate> {
    let mut names: Vec<String> = weft_api::resources::definitions()
        .iter()
        .flat_map(|d| std::iter::once(d.id()).chain(d.aliases.iter().cloned()))
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// `get -o` values.
pub fn get_outputs() -> Vec<CompletionCandidate> {
    ["table", "yaml", "json", "jsonpath="]
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// The client config's contexts.
pub fn contexts() -> Vec<CompletionCandidate> {
    client_config(&current_line())
        .contexts
        .into_keys()
        .map(CompletionCandidate::new)
        .collect()
}

/// The selected context's nodes and endpoints.
pub fn nodes() -> Vec<CompletionCandidate> {
    let line = current_line();
    let config = client_config(&line);
    let name = line.context.unwrap_or(config.context.clone());
    let Some(ctx) = config.contexts.get(&name) else {
        return Vec::new();
    };
    let mut all: Vec<&String> = Vec::new();
    for name in ctx.nodes.iter().chain(&ctx.endpoints) {
        if !all.contains(&name) {
            all.push(name);
        }
    }
    all.into_iter().map(CompletionCandidate::new).collect()
}

/// Ids of the type after `get`, listed by the first target node (nothing when it does not answer
/// within [`ID_TIMEOUT`]).
pub fn ids() -> Vec<CompletionCandidate> {
    let line = current_line();
    let Some(resource_type) = line.resource_type.clone() else {
        return Vec::new();
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    let global = global_args(&line);
    let ids = runtime.block_on(async {
        tokio::time::timeout(
            ID_TIMEOUT,
            crate::commands::get::ids(&global, &resource_type),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default()
    });
    ids.into_iter().map(CompletionCandidate::new).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn reads_the_line_before_the_word_being_completed() {
        let cases = [
            ("weftctl get ", Line::default()),
            (
                "weftctl -n 10.5.0.2,10.5.0.3 --context lab get -o yaml ksps ",
                Line {
                    nodes: vec!["10.5.0.2".into(), "10.5.0.3".into()],
                    context: Some("lab".into()),
                    resource_type: Some("ksps".into()),
                    ..Line::default()
                },
            ),
            (
                "talosctl --talosconfig=./tc g members n",
                Line {
                    weftconfig: Some("./tc".into()),
                    resource_type: Some("members".into()),
                    ..Line::default()
                },
            ),
            // The word being completed is not the type yet.
            ("weftctl get kubespan", Line::default()),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(&words(line)), want, "{line}");
        }
    }
}
