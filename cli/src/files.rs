//! Writing output files: the overwrite policy (refuse without --force; ask only when a person is at
//! a terminal) and crash-safe writes with mode 0600 (every file weftctl writes holds a secret).

use std::io::{self, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use weft_api::fsutil::{self, SECRET_FILE_MODE};

/// Checks that every path may be written, before anything is: with `force`, yes; otherwise a path
/// that exists is refused, unless stdin and stderr are a terminal and the user agrees.
pub fn check_overwrite(paths: &[PathBuf], force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    let interactive = io::stdin().is_terminal() && io::stderr().is_terminal();
    for path in paths {
        if !path.exists() {
            continue;
        }
        if !interactive {
            bail!(
                "file {:?} already exists, use --force to overwrite",
                path.display().to_string()
            );
        }
        let yes = dialoguer::Confirm::new()
            .with_prompt(format!("{} already exists, overwrite?", path.display()))
            .default(false)
            .interact()
            .context("asking whether to overwrite")?;
        if !yes {
            bail!("not overwriting {:?}", path.display().to_string());
        }
    }
    Ok(())
}

/// Writes a file atomically with mode 0600 and says so on stderr, as talosctl does.
pub fn write_secret_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    fsutil::write_atomic(path, contents.as_bytes(), SECRET_FILE_MODE)
        .with_context(|| format!("writing {}", path.display()))?;
    let _ = writeln!(io::stderr(), "Created {}", path.display());
    Ok(())
}
