//! weft-discovery's command line: usage errors exit 2, start-up failures exit 1 with a message
//! naming the cause. (End-to-end behaviour is in the workspace's `tests/tests/discovery.rs`.)

use std::process::{Command, Output, Stdio};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weft-discovery"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run weft-discovery")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_and_version_exit_0() {
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--stun-listen",
        "--tls-cert",
        "--tls-key",
        "--snapshot-path",
        "--snapshot-interval",
        "--no-snapshots",
        "--gc-interval",
        "--metrics-listen",
        "--trust-x-real-ip",
        "--trust-x-forwarded-for",
        "--trusted-proxy",
        "--redirect-endpoint",
        "--rate-limit",
        "--owned-affiliates",
        "--max-clusters",
        "--max-affiliates",
        "--max-connections",
        "--max-connections-per-ip",
        "--handshake-timeout",
        "--idle-timeout",
        "--send-timeout",
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
    }
    assert_eq!(run(&["--version"]).status.code(), Some(0));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--listen", "not-an-address"][..],
        &["--gc-interval", "0s"],
        &["--snapshot-interval", "ten minutes"],
        &["--tls-cert", "cert.pem"],
        &["--rate-limit", "maybe"],
        &["--stun-listen", "on"],
        &["--trust-x-real-ip", "perhaps"],
        // Proxy headers are believed only from configured proxies.
        &["--trust-x-real-ip"],
        &["--trust-x-forwarded-for", "true"],
        &["--trusted-proxy", "not-a-network"],
        &["--max-affiliates", "0"],
        &["--owned-affiliates", "maybe"],
        &["--no-such-flag"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn address_in_use_exits_1_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = run(&[
        "--no-snapshots",
        "--listen",
        &addr,
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--listen"), "{}", stderr(&out));
}

#[test]
fn stun_address_in_use_exits_1_naming_the_flag() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = run(&[
        "--no-snapshots",
        "--listen",
        "127.0.0.1:0",
        "--stun-listen",
        &addr,
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--stun-listen"), "{}", stderr(&out));
}

#[test]
fn unreadable_snapshot_exits_1_and_is_left_alone() {
    // A directory where the snapshot file should be: reading fails, and it is not corruption,
    // so nothing is renamed and the service refuses to start rather than overwrite it later.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.binpb");
    std::fs::create_dir(&path).expect("mkdir");
    let out = run(&[
        "--snapshot-path",
        path.to_str().expect("utf8"),
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("state.binpb"), "{}", stderr(&out));
    assert!(path.is_dir());
}

#[test]
fn missing_tls_files_exit_1() {
    let out = run(&[
        "--no-snapshots",
        "--tls-cert",
        "/nonexistent/tls.crt",
        "--tls-key",
        "/nonexistent/tls.key",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("/nonexistent/tls.crt"),
        "{}",
        stderr(&out)
    );
}
