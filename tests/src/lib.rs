//! weft-e2e — the end-to-end harness: finds the workspace's real binaries and runs them the way a
//! user does. Later issues add network namespaces, weftd and weft-discovery processes here; every
//! resource a test creates is cleaned up, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Path of a workspace binary (`weftctl`, …), next to the test executable's `deps/` directory.
/// `cargo test --workspace` (the README's test command) builds them before running any test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
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
