//! Helpers shared by the CLI integration tests: run the real `weftctl` binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Path of the weftctl binary under test.
pub fn weftctl_bin() -> &'static str {
    env!("CARGO_BIN_EXE_weftctl")
}

/// Runs weftctl with `args` in `dir` with no terminal attached.
pub fn weftctl(dir: &Path, args: &[&str]) -> Output {
    Command::new(weftctl_bin())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run weftctl")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf8 stdout")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf8 stderr")
}

/// The committed test secrets bundle (a throwaway CA, never used outside tests).
pub fn fixture_secrets() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets.yaml")
}
