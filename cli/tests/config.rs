//! `weftctl config merge|contexts|use-context` on a client config file (no node needed).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

use common::*;
use weft_api::config::client::ClientConfig;

fn run(cfg: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(weftctl_bin())
        .args(args)
        .current_dir(dir)
        .env("WEFTCONFIG", cfg)
        .stdin(Stdio::null())
        .output()
        .expect("weftctl")
}

#[test]
fn merge_contexts_and_use_context() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let secrets = fixture_secrets();
    let secrets = secrets.to_str().expect("utf8");
    for (name, endpoint, out) in [
        ("alpha", "https://10.0.0.1:6443", "a"),
        ("beta", "https://10.0.0.2:6443", "b"),
        ("alpha", "https://10.0.0.3:6443", "c"),
    ] {
        let o = weftctl(
            d,
            &[
                "gen",
                "config",
                name,
                endpoint,
                "--with-secrets",
                secrets,
                "-t",
                "weftconfig",
                "-o",
                out,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let cfg = d.join("home/.weft/config");
    for file in ["a", "b"] {
        let o = run(&cfg, d, &["config", "merge", file]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(stderr(&o), "");
    }
    // A different context under a taken name is renamed, and becomes the current one.
    let o = run(&cfg, d, &["config", "merge", "c"]);
    assert_eq!(
        stderr(&o),
        "renamed weftconfig context \"alpha\" -> \"alpha-1\"\n"
    );
    assert_eq!(
        fs::metadata(&cfg).expect("stat").permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(cfg.parent().expect("dir"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777,
        0o700
    );

    let o = run(&cfg, d, &["config", "contexts"]);
    assert_eq!(
        stdout(&o),
        "CURRENT   NAME      ENDPOINTS   NODES\n\
         \x20         alpha     10.0.0.1\n\
         *         alpha-1   10.0.0.3\n\
         \x20         beta      10.0.0.2\n"
    );

    let o = run(&cfg, d, &["config", "use-context", "beta"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let loaded = ClientConfig::load_or_default(&cfg).expect("load");
    assert_eq!(loaded.context, "beta");
    assert_eq!(loaded.contexts.len(), 3);

    let o = run(&cfg, d, &["config", "use-context", "gamma"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("context \"gamma\" is not in"),
        "{}",
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("(contexts: alpha, alpha-1, beta)"),
        "{}",
        stderr(&o)
    );

    // --context picks another context for one command; a missing one is a clear error.
    let o = run(&cfg, d, &["--context", "nope", "get", "identities"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("context \"nope\" is not in"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn no_client_config_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("missing");
    let o = run(&cfg, dir.path(), &["get", "identities"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "error: no context in {}: run `weftctl config merge <weftconfig>` or pass --weftconfig\n",
            cfg.display()
        )
    );
}

/// `~/.weft/config` kept in a dotfiles repository as a symbolic link: `config merge` and
/// `use-context` write the file it points to and leave the link in place (also a link whose
/// target does not exist yet, and a chain of two links).
#[test]
fn merge_writes_through_a_symlinked_config() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let secrets = fixture_secrets();
    let secrets = secrets.to_str().expect("utf8");
    for (name, out) in [("alpha", "a"), ("beta", "b")] {
        let o = weftctl(
            d,
            &[
                "gen",
                "config",
                name,
                "https://10.0.0.1:6443",
                "--with-secrets",
                secrets,
                "-t",
                "weftconfig",
                "-o",
                out,
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let home = d.join("home");
    fs::create_dir_all(home.join(".weft")).expect("mkdir");
    fs::create_dir_all(d.join("dotfiles")).expect("mkdir");
    let link = home.join(".weft/config");
    // config -> ../../dotfiles/weft -> weft-config (relative links, the target not there yet).
    symlink("../../dotfiles/weft", &link).expect("symlink");
    symlink("weft-config", d.join("dotfiles/weft")).expect("symlink");
    let target = d.join("dotfiles/weft-config");
    let run_home = |args: &[&str]| {
        Command::new(weftctl_bin())
            .args(args)
            .current_dir(d)
            .env("HOME", &home)
            .env_remove("WEFTCONFIG")
            .stdin(Stdio::null())
            .output()
            .expect("weftctl")
    };
    for file in ["a", "b"] {
        let o = run_home(&["config", "merge", file]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = run_home(&["config", "use-context", "alpha"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for l in [&link, &d.join("dotfiles/weft")] {
        assert!(
            fs::symlink_metadata(l)
                .expect("lstat")
                .file_type()
                .is_symlink(),
            "{} is still a link",
            l.display()
        );
    }
    let loaded = ClientConfig::load_or_default(&target).expect("the link's target");
    assert_eq!(loaded.context, "alpha");
    assert_eq!(loaded.contexts.len(), 2);
    assert_eq!(
        fs::metadata(&target).expect("stat").permissions().mode() & 0o777,
        0o600
    );
    let names: Vec<String> = fs::read_dir(d.join("dotfiles"))
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
}
