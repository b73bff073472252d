//! `weftctl completion <shell>`: completion code for bash, zsh, fish, powershell or elvish.

use std::io::Write as _;

use crate::args::CompletionArgs;
use crate::generated;

pub fn run(args: &CompletionArgs) -> anyhow::Result<()> {
    let script = generated::completion(args.shell);
    let mut out = std::io::stdout().lock();
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}
