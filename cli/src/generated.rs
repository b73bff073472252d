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
        let man = clap_mangen::Man::new(cmd);
        let mut roff = Vec::new();
        man.render(&mut roff)?;
        out.push((man.get_filename(), roff));
        Ok(())
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(cmd, &mut out)?;
    out.sort();
    Ok(out)
}
