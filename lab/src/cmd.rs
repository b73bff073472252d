//! Running the lab's external commands (`ip`, `nft`, `tc`, `wg`, …): the one place the lab starts
//! processes, so every command has a time limit and every failure names the command and what it
//! printed.

use std::io::{Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one lab command may take (an `ip` call takes milliseconds; a stuck one must not hang
/// a cluster create or a test).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a running command is checked for exit.
const EXIT_POLL: Duration = Duration::from_millis(5);

/// Why a lab command or step failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The program could not be started (missing, not executable).
    #[error("{command}: cannot run it")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// The program ran past its time limit and was killed.
    #[error("{command}: no exit within {limit:?}")]
    TimedOut { command: String, limit: Duration },
    /// The program exited unsuccessfully.
    #[error("{command}: {stderr}")]
    Failed { command: String, stderr: String },
    /// A namespace could not be entered.
    #[error("entering network namespace {ns}")]
    Enter {
        ns: String,
        #[source]
        source: std::io::Error,
    },
    /// A file of the lab (a sysctl, a socket) could not be written or read.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A command's output did not say what it should have.
    #[error("{what}: unexpected output {output:?}")]
    Unexpected { what: String, output: String },
}

/// What a command printed, and whether it succeeded.
#[derive(Debug, Clone)]
pub struct Output {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `program args…` with [`COMMAND_TIMEOUT`]; see [`run_with`].
pub fn run(program: &str, args: &[&str]) -> Result<Output, LabError> {
    run_with(program, args, None, COMMAND_TIMEOUT)
}

/// Runs `program args…`, feeding it `stdin`, killed after `limit`. stdout and stderr are read on
/// threads while it runs, so a command printing more than a pipe holds cannot block.
pub fn run_with(
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
    limit: Duration,
) -> Result<Output, LabError> {
    let command = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    let reader = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as _));
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A command that exits without reading its input fails below with its own message.
        let _ = pipe.write_all(text.as_bytes());
    }
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(EXIT_POLL),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(LabError::TimedOut { command, limit });
            }
        }
    };
    Ok(Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// Runs `program args…` (feeding `stdin`), which must succeed; its stdout.
pub fn check(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, LabError> {
    let out = run_with(program, args, stdin, COMMAND_TIMEOUT)?;
    if out.success {
        return Ok(out.stdout);
    }
    Err(LabError::Failed {
        command: format!("{program} {}", args.join(" ")),
        stderr: out.stderr.trim().to_owned(),
    })
}

/// `ip args…` (iproute2), which must succeed; its stdout.
pub fn ip(args: &[&str]) -> Result<String, LabError> {
    check("ip", args, None)
}

/// `ip -n ns args…`, or `ip args…` in the root namespace when `ns` is `None`.
pub fn ip_in(ns: Option<&str>, args: &[&str]) -> Result<String, LabError> {
    let mut all = Vec::with_capacity(args.len() + 2);
    if let Some(ns) = ns {
        all.extend(["-n", ns]);
    }
    all.extend_from_slice(args);
    ip(&all)
}

/// `ip -batch -` in `ns` (or the root namespace): `commands`, one per line, in one process.
pub fn ip_batch(ns: Option<&str>, commands: &str) -> Result<(), LabError> {
    let mut all = Vec::with_capacity(4);
    if let Some(ns) = ns {
        all.extend(["-n", ns]);
    }
    all.extend(["-batch", "-"]);
    check("ip", &all, Some(commands)).map(drop)
}

/// Loads an nftables `script` (`nft -f -`) in namespace `ns`, atomically.
pub fn nft(ns: &str, script: &str) -> Result<(), LabError> {
    check("ip", &["netns", "exec", ns, "nft", "-f", "-"], Some(script)).map(drop)
}

/// Runs `program args…` inside namespace `ns` (`ip netns exec`), bounded by `limit`; whether it
/// succeeded is the caller's to judge.
pub fn in_ns(ns: &str, program: &str, args: &[&str], limit: Duration) -> Result<Output, LabError> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run_with("ip", &all, None, limit)
}

/// The MAC address of `link` in `ns` (or the root namespace).
pub fn link_mac(ns: Option<&str>, link: &str) -> Result<String, LabError> {
    let out = ip_in(ns, &["-br", "link", "show", "dev", link])?;
    out.split_whitespace()
        .nth(2)
        .filter(|mac| mac.len() == 17)
        .map(str::to_owned)
        .ok_or_else(|| LabError::Unexpected {
            what: format!("the MAC address of {link}"),
            output: out.clone(),
        })
}

/// Whether a link named `link` exists in `ns` (or the root namespace).
pub fn link_exists(ns: Option<&str>, link: &str) -> bool {
    ip_in(ns, &["link", "show", "dev", link]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_failure_and_timeout_are_told_apart() {
        let out = run("sh", &["-c", "echo out; echo err >&2"]).expect("runs");
        assert!(out.success);
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out\n", "err\n")
        );
        let err = check("sh", &["-c", "echo nope >&2; exit 3"], None).expect_err("fails");
        assert_eq!(err.to_string(), "sh -c echo nope >&2; exit 3: nope");
        let err = run_with("sleep", &["5"], None, Duration::from_millis(50)).expect_err("killed");
        assert!(matches!(err, LabError::TimedOut { .. }), "{err}");
        let err = run("/nonexistent/weft-lab-tool", &[]).expect_err("missing");
        assert!(matches!(err, LabError::Spawn { .. }), "{err}");
    }

    #[test]
    fn input_reaches_the_command_and_large_output_does_not_block() {
        let out = check("cat", &[], Some("line\n")).expect("cat");
        assert_eq!(out, "line\n");
        // Far more than a pipe's 64 KiB buffer.
        let out = check("head", &["-c", "1000000", "/dev/zero"], None).expect("head");
        assert_eq!(out.len(), 1_000_000);
    }
}
