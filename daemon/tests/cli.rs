//! weftd's command line: an invalid or unreadable config stops it with exit code 2 and the same
//! messages `weftctl validate` prints.

use std::process::Command;

fn weftd(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_weftd"))
        .args(args)
        .output()
        .expect("run weftd")
}

#[test]
fn invalid_config_exits_2_with_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "version: v1alpha1\nmachine:\n  network:\n    kubespan: {mtu: 1000, enabeld: true}\n",
    )
    .expect("write");
    let out = weftd(&["--config", path.to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = format!(
        "error: {}: invalid machine config, 3 problems:\n  \
         - machine.network.kubespan.enabeld: unknown key, did you mean \"enabled\"?\n  \
         - machine.ca: missing, expected the node API certificate authority {{crt, key}} (base64 PEM) from `weftctl gen secrets`\n  \
         - machine.network.kubespan.mtu: 1000 is below the minimum 1280\n",
        path.display()
    );
    assert_eq!(stderr, want);
}

#[test]
fn missing_config_exits_2() {
    let out = weftd(&["--config", "/nonexistent/weft.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: cannot read /nonexistent/weft.yaml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(weftd(&[]).status.code(), Some(2));
    assert_eq!(weftd(&["--help"]).status.code(), Some(0));
}
