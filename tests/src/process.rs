//! Running the workspace's binaries from a test: finding them, `weftctl` with no terminal, and
//! waiting for a condition with a deadline instead of a fixed sleep.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// failing test takes; the timing promises themselves are tested with paused time in unit tests.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// Pause between two checks of a condition.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Path of a workspace binary (`weftctl`, `weftd`, …) in `target/<profile>/`: next to this
/// executable, or next to its `deps/` directory for a test executable. `cargo test --workspace`
/// (the README's test command) builds them before any test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("executable path");
    let mut dir = exe.parent().expect("executable directory");
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir = dir.parent().expect("target/<profile>");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first (`cargo test --workspace` or `cargo build --workspace`)",
        path.display()
    );
    path
}

/// Runs `weftctl args` in `dir`, with no terminal.
pub fn weftctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin("weftctl"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .env_remove("WEFTCONFIG")
        .output()
        .expect("run weftctl")
}

/// Asserts success and returns stdout.
pub fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf8 stdout")
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `check` until it returns `Some`, or panics after [`DEADLINE`] naming `what`.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(POLL);
    }
}

/// A port nobody listens on right now (bound then released; fine for loopback tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Parses `weftctl get -o yaml` output: documents separated by `---`.
pub fn yaml_docs(text: &str) -> Vec<yaml_serde::Value> {
    text.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| yaml_serde::from_str(d).expect("weftctl printed valid YAML"))
        .collect()
}
