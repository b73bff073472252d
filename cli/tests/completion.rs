//! Dynamic shell completion, driven through the committed scripts as the shells run them: bash
//! (the completion function on COMP_WORDS), fish (`complete -C`) and zsh (the completion function
//! with compsys's `_describe` standing in, since zsh has no non-interactive completion). Each
//! script calls the real weftctl back (found on PATH), which answers from the command tree and the
//! client config. Ids from a node are covered end to end in `tests/tests/talosctl.rs`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The candidates bash offers for the last of `words` (completing an empty word when it is "").
fn complete(dir: &Path, weftconfig: &Path, words: &[&str]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../completions/weftctl.bash");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let driver = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_TYPE=9\n_clap_complete_weftctl weftctl \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    run_shell(dir, weftconfig, "bash", &["--norc", "-c", &driver])
}

/// Runs `shell args` with weftctl first on PATH and `weftconfig`; its output lines.
fn run_shell(dir: &Path, weftconfig: &Path, shell: &str, args: &[&str]) -> Vec<String> {
    let bin_dir = Path::new(weftctl_bin()).parent().expect("bin dir");
    let out = Command::new(shell)
        .args(args)
        .current_dir(dir)
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin_dir.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("WEFTCONFIG", weftconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{shell}: {e}"));
    assert!(out.status.success(), "{shell}: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether `shell` can run here; under `CI=true` its absence fails the test (`.ci/run` installs
/// it).
fn have(shell: &str) -> bool {
    let found = Command::new(shell)
        .args(["-c", "true"])
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{shell} is not installed (apt-get install {shell})"
        );
        eprintln!("skipped: {shell} is not installed");
    }
    found
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../completions")
        .join(name)
        .display()
        .to_string()
}

/// fish: `complete -C` on the command line typed so far.
fn complete_fish(dir: &Path, weftconfig: &Path, line: &str) -> Vec<String> {
    let driver = format!("source '{}'; complete -C '{line}'", script("weftctl.fish"));
    run_shell(dir, weftconfig, "fish", &["--no-config", "-c", &driver])
        .into_iter()
        // fish prints `candidate<TAB>description`.
        .map(|l| l.split('\t').next().unwrap_or_default().to_owned())
        .collect()
}

/// zsh: the script's completion function on `words`, with compsys's `_describe` printing the
/// candidates it is handed.
fn complete_zsh(dir: &Path, weftconfig: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let driver = format!(
        "compdef() {{ :; }}\n_describe() {{ print -l -- \"${{(@P)${{@[-1]}}}}\" }}\nsource '{}'\nwords=({})\nCURRENT={}\n_clap_dynamic_completer_weftctl\n",
        script("_weftctl"),
        quoted.join(" "),
        words.len()
    );
    run_shell(dir, weftconfig, "zsh", &["-f", "-c", &driver])
        .into_iter()
        .map(|l| l.split(':').next().unwrap_or_default().to_owned())
        .collect()
}

/// A client config with contexts alpha (nodes 10.5.0.2 and 10.5.0.3) and beta, in `d/config`.
fn two_contexts(d: &Path) -> std::path::PathBuf {
    let cfg = d.join("config");
    let secrets = fixture_secrets();
    for name in ["alpha", "beta"] {
        let out = weftctl(
            d,
            &[
                "gen",
                "config",
                name,
                "https://10.5.0.2:6443",
                "--with-secrets",
                secrets.to_str().expect("utf8"),
                "-t",
                "weftconfig",
                "-o",
                name,
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let merged = Command::new(weftctl_bin())
            .args(["config", "merge", name])
            .current_dir(d)
            .env("WEFTCONFIG", &cfg)
            .output()
            .expect("merge");
        assert!(merged.status.success(), "{}", stderr(&merged));
    }
    let set = Command::new(weftctl_bin())
        .args(["--context", "alpha", "config", "node", "10.5.0.2,10.5.0.3"])
        .env("WEFTCONFIG", &cfg)
        .output()
        .expect("config node");
    assert!(set.status.success(), "{}", stderr(&set));
    cfg
}

#[test]
fn bash_completes_types_outputs_contexts_and_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = two_contexts(d);

    // Subcommands, resource types and their aliases.
    assert!(complete(d, &cfg, &["weftctl", "ver"]).contains(&"version".to_owned()));
    let types = complete(d, &cfg, &["weftctl", "get", "kubespanpeerst"]);
    assert!(
        types.contains(&"kubespanpeerstatuses".to_owned()),
        "{types:?}"
    );
    assert!(
        types.contains(&"kubespanpeerstatus".to_owned()),
        "{types:?}"
    );
    assert!(complete(d, &cfg, &["weftctl", "get", "ks"]).contains(&"ksi".to_owned()));
    // -o values.
    assert_eq!(
        complete(d, &cfg, &["weftctl", "get", "members", "-o", ""]),
        ["table", "yaml", "json", "jsonpath="]
    );
    // Contexts, from the client config (also for config context).
    assert_eq!(
        complete(d, &cfg, &["weftctl", "--context", ""]),
        ["alpha", "beta"]
    );
    assert_eq!(
        complete(d, &cfg, &["weftctl", "config", "context", "b"]),
        ["beta"]
    );
    // Nodes of the selected context (then its endpoints).
    assert_eq!(
        complete(d, &cfg, &["weftctl", "--context", "alpha", "-n", ""]),
        ["10.5.0.2", "10.5.0.3"]
    );
}

#[test]
fn fish_completes_through_its_script() {
    if !have("fish") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = two_contexts(d);
    let types = complete_fish(d, &cfg, "weftctl get kubespanpeerst");
    assert!(
        types.contains(&"kubespanpeerstatuses".to_owned()),
        "{types:?}"
    );
    assert_eq!(
        complete_fish(d, &cfg, "weftctl --context "),
        ["alpha", "beta"]
    );
    assert_eq!(
        complete_fish(d, &cfg, "weftctl --context alpha -n "),
        ["10.5.0.2", "10.5.0.3"]
    );
    let outputs = complete_fish(d, &cfg, "weftctl get members -o ");
    assert_eq!(outputs, ["table", "yaml", "json", "jsonpath="]);
}

#[test]
fn zsh_completes_through_its_script() {
    if !have("zsh") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cfg = two_contexts(d);
    let types = complete_zsh(d, &cfg, &["weftctl", "get", "kubespanpeerst"]);
    assert!(
        types.contains(&"kubespanpeerstatuses".to_owned()),
        "{types:?}"
    );
    assert_eq!(
        complete_zsh(d, &cfg, &["weftctl", "--context", ""]),
        ["alpha", "beta"]
    );
    assert_eq!(
        complete_zsh(d, &cfg, &["weftctl", "get", "members", "-o", ""]),
        ["table", "yaml", "json", "jsonpath="]
    );
}
