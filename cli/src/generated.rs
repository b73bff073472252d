//! The generated files committed under `completions/` and `man/`, rendered from the clap command so
//! they can never drift: `cli/tests/generated.rs` compares them and rewrites them on request.

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::args::Cli;

/// Every shell we ship completions for, with the committed file name.
pub const SHELLS: [(Shell, &str); 5] = [
    (Shell::Bash, "weftctl.bash"),
    (Shell::Zsh, "_weftctl"),
    (Shell::Fish, "weftctl.fish"),
    (Shell::PowerShell, "_weftctl.ps1"),
    (Shell::Elvish, "weftctl.elv"),
];

/// The completion script for `shell`: a registration that calls `weftctl` back for candidates
/// (see [`crate::complete`]).
pub fn completion(shell: Shell) -> Vec<u8> {
    crate::complete::registration(shell)
}

/// Every man page: `weftctl.1` and one per subcommand (`weftctl-gen-config.1`, …), as (name, roff).
pub fn man_pages() -> std::io::Result<Vec<(String, Vec<u8>)>> {
    fn collect(cmd: clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
            collect(sub, out)?;
        }
        let examples = examples(&cmd);
        let man = clap_mangen::Man::new(cmd.clone());
        let mut roff = Vec::new();
        man.render_title(&mut roff)?;
        man.render_name_section(&mut roff)?;
        man.render_synopsis_section(&mut roff)?;
        man.render_description_section(&mut roff)?;
        if cmd.get_arguments().any(|a| !a.is_hide_set()) {
            man.render_options_section(&mut roff)?;
        }
        if cmd.has_subcommands() {
            man.render_subcommands_section(&mut roff)?;
        }
        section(&mut roff, "EXAMPLES", &examples);
        section(&mut roff, "ENVIRONMENT", ENVIRONMENT);
        section(&mut roff, "FILES", FILES);
        section(&mut roff, "EXIT STATUS", EXIT_STATUS);
        man.render_version_section(&mut roff)?;
        out.push((man.get_filename(), once_preamble(&roff)));
        Ok(())
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(cmd, &mut out)?;
    out.sort();
    Ok(out)
}

/// Each of clap_mangen's section renderers starts with the same two-line preamble (the `Aq`
/// string); a page needs it once.
fn once_preamble(roff: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(roff);
    let mut lines = text.split_inclusive('\n');
    let preamble: Vec<&str> = lines.by_ref().take(2).collect();
    let mut out = preamble.concat();
    for line in lines {
        if !preamble.contains(&line) {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// (term, text) entries of the ENVIRONMENT section of every page.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "WEFTCONFIG",
        "The client config file, as --weftconfig (default ~/.weft/config).",
    ),
    (
        "TALOSCONFIG",
        "talosctl's name for it, used when WEFTCONFIG is unset.",
    ),
    (
        "WEFTD_LOG",
        "Log filter of the weftd processes `cluster create` starts (e.g. debug, weftd=trace).",
    ),
    (
        "NO_COLOR",
        "When set, no colour in any output (health --matrix colours its grid at a terminal).",
    ),
    (
        "COMPLETE",
        "Set by the shell completion scripts to ask weftctl for candidates.",
    ),
];

const FILES: &[(&str, &str)] = &[
    (
        "~/.weft/config",
        "The default client config: contexts with nodes, endpoints, the CA and a client certificate (mode 0600).",
    ),
    (
        "~/.weft/clusters/NAME/",
        "State of a local cluster made by `cluster create`: cluster.yaml, configs, logs.",
    ),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Success, also when stdout is a closed pipe."),
    (
        "1",
        "Failure, e.g. a node that did not answer or a bad input file.",
    ),
    (
        "2",
        "Usage error: an unknown command or flag, a bad flag value.",
    ),
];

/// The command's examples: its `after_help` ("Examples:" and indented lines), or the general
/// ones on the top page.
fn examples(cmd: &clap::Command) -> Vec<(String, String)> {
    if cmd.get_name() == "weftctl" {
        return [
            (
                "weftctl cluster create",
                "A local mesh of three nodes (needs root).",
            ),
            (
                "weftctl get kubespanpeerstatuses",
                "Peer states on the context's nodes.",
            ),
            (
                "weftctl -n 10.5.0.2 get members -o yaml",
                "One node's cluster members as YAML.",
            ),
            (
                "weftctl health --matrix",
                "What every node sees of every other one.",
            ),
            ("weftctl config info", "The current context."),
            (
                "source <(weftctl completion bash)",
                "Shell completion in bash.",
            ),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .to_vec();
    }
    let Some(after) = cmd.get_after_help().map(|h| h.to_string()) else {
        return Vec::new();
    };
    let Some(body) = after.strip_prefix("Examples:") else {
        return Vec::new();
    };
    // A line ending in a backslash continues on the next.
    body.replace("\\\n", "")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once("  # ") {
            Some((command, comment)) => (command.trim().to_owned(), comment.trim().to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

/// Appends a section of tagged paragraphs (nothing when there are no entries).
fn section<T: AsRef<str>, U: AsRef<str>>(roff: &mut Vec<u8>, title: &str, entries: &[(T, U)]) {
    if entries.is_empty() {
        return;
    }
    let mut text = format!(".SH \"{title}\"\n");
    for (term, body) in entries {
        text.push_str(&format!(".TP\n\\fB{}\\fR\n", escape(term.as_ref())));
        if !body.as_ref().is_empty() {
            text.push_str(&format!("{}\n", escape(body.as_ref())));
        }
    }
    roff.extend_from_slice(text.as_bytes());
}

/// Roff-escapes text: backslashes, hyphens, and a leading dot or quote.
fn escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}
