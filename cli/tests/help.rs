//! Snapshot tests of every `--help` (walked from the clap command tree, so a new subcommand is
//! covered automatically) and of the exit codes: 0 success, 1 failure, 2 usage error.

mod common;

use clap::CommandFactory as _;
use common::*;

fn command_paths(cmd: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.clone();
        path.push(sub.get_name().to_owned());
        command_paths(sub, path, out);
    }
}

#[test]
fn every_help_matches_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut paths = Vec::new();
    command_paths(&weftctl::args::Cli::command(), Vec::new(), &mut paths);
    assert!(paths.len() >= 7, "walked {paths:?}");
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let out = weftctl(dir.path(), &args);
        assert_eq!(out.status.code(), Some(0), "weftctl {args:?}");
        let name = if path.is_empty() {
            "weftctl".to_owned()
        } else {
            format!("weftctl-{}", path.join("-"))
        };
        insta::assert_snapshot!(name, stdout(&out));
    }
}

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secrets = fixture_secrets();
    let secrets = secrets.to_str().expect("utf8 path");
    let cases: &[(&[&str], i32)] = &[
        (&["--version"], 0),
        (&["version"], 0),
        (&["completion", "bash"], 0),
        (
            &[
                "gen",
                "config",
                "c",
                "https://10.0.0.1:6443",
                "--with-secrets",
                secrets,
                "-o",
                "-",
                "-t",
                "worker",
            ],
            0,
        ),
        (&["no-such-command"], 2),
        (&["gen", "config"], 2),
        (
            &["gen", "config", "c", "https://10.0.0.1:6443", "-t", "nope"],
            2,
        ),
        (&["completion", "tcsh"], 2),
        (&["validate"], 2),
        (&["validate", "--config", "missing.yaml"], 1),
        (&["gen", "config", "c", "10.0.0.1"], 1),
        (
            &["gen", "config", "c", "https://10.0.0.1:6443", "-o", "-"],
            1,
        ),
    ];
    for (args, code) in cases {
        let out = weftctl(dir.path(), args);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "weftctl {args:?}: {}",
            stderr(&out)
        );
    }
}

/// `weftctl … | head` must not print an error or fail when the reader goes away.
#[test]
fn closed_stdout_is_success() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = std::process::Command::new(weftctl_bin())
        .args(["completion", "zsh"])
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stderr(&out), "");
}
