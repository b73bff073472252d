//! Dynamic shell completion, driven through the committed bash script as bash runs it: the script
//! calls the real weftctl back (found on PATH), which answers from the command tree and the client
//! config. Ids from a node are covered end to end in `tests/tests/talosctl.rs`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The candidates bash offers for the last of `words` (completing an empty word when it is "").
fn complete(dir: &Path, weftconfig: &Path, words: &[&str]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../completions/weftctl.bash");
    let bin_dir = Path::new(weftctl_bin()).parent().expect("bin dir");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let driver = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_TYPE=9\n_clap_complete_weftctl weftctl \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &driver])
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
        .expect("bash");
    assert!(out.status.success(), "bash: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_types_outputs_contexts_and_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
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
