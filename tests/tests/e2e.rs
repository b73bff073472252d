//! End-to-end tests: the real binaries, driven as a newcomer would.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};

use weft_api::config::secrets::SecretsBundle;
use weft_api::config::validate::load_machine_config;
use weft_e2e::{bin, ok, weftctl};

/// gen secrets → gen config --with-kubespan → validate, as the README shows.
#[test]
fn newcomer_flow() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    ok(
        &weftctl(d, &["gen", "secrets", "-o", "secrets.yaml"]),
        "gen secrets",
    );
    ok(
        &weftctl(
            d,
            &[
                "gen",
                "config",
                "demo",
                "https://10.5.0.2:6443",
                "--with-kubespan",
                "--with-secrets",
                "secrets.yaml",
                "-o",
                "_out",
            ],
        ),
        "gen config",
    );
    let bundle = SecretsBundle::load(&d.join("secrets.yaml")).expect("bundle");
    for name in ["controlplane.yaml", "worker.yaml"] {
        let path = d.join("_out").join(name);
        let out = ok(
            &weftctl(d, &["validate", "--config", path.to_str().expect("utf8")]),
            "validate",
        );
        assert!(out.ends_with("is valid\n"));
        let valid = load_machine_config(&path).expect("load");
        assert_eq!(
            valid.settings.cluster.id.as_deref(),
            Some(bundle.cluster.id.as_str())
        );
        assert!(valid.settings.kubespan.enabled);
    }
    for name in [
        "secrets.yaml",
        "_out/controlplane.yaml",
        "_out/worker.yaml",
        "_out/weftconfig",
    ] {
        let mode = fs::metadata(d.join(name))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
}

/// kill -9 at random moments while `gen secrets -f` rewrites the bundle: the file is always either
/// the previous complete bundle or a new complete one, never truncated.
#[test]
fn kill_during_write_never_leaves_a_partial_file() {
    const ROUNDS: u64 = 40;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.yaml");
    let started = std::time::Instant::now();
    ok(
        &weftctl(dir.path(), &["gen", "secrets", "-o", "secrets.yaml"]),
        "first gen",
    );
    // How long one run takes here; the kills are spread from 0 to 1.5 times that.
    let run_time = started.elapsed();
    let mut replaced = 0;
    let mut before = fs::read(&path).expect("read");
    for round in 0..ROUNDS {
        let mut child = Command::new(bin("weftctl"))
            .args(["gen", "secrets", "-f", "-o", "secrets.yaml"])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(run_time.mul_f64(1.5 * round as f64 / ROUNDS as f64));
        let _ = child.kill();
        let _ = child.wait();
        let now = fs::read(&path).expect("the file always exists");
        let text = String::from_utf8(now.clone()).expect("utf8");
        SecretsBundle::parse(&text, "secrets.yaml").expect("always a complete bundle");
        if now != before {
            replaced += 1;
            before = now;
        }
    }
    // Both outcomes happened: some runs were killed before the rename, some finished.
    assert!(replaced > 0, "no run ever completed");
    assert!(replaced < ROUNDS, "no run was ever interrupted");
}

/// At a terminal, an existing file is not refused outright: weftctl asks, and does what it is told.
/// `script` (util-linux) gives weftctl a pseudo-terminal.
#[test]
fn overwrite_asks_at_a_terminal() {
    use std::io::{Read as _, Write as _};
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.yaml");
    ok(&weftctl(dir.path(), &["gen", "secrets"]), "first gen");
    for (answer, replaced) in [("n", false), ("y", true)] {
        let before = fs::read(&path).expect("read");
        let cmd = format!("{} gen secrets", bin("weftctl").display());
        let mut child = Command::new("script")
            .args(["-q", "-e", "-c", &cmd, "/dev/null"])
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("script (util-linux) runs");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        // Wait for the question, then answer it.
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("overwrite? [y/N]") {
            let chunk = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no prompt; saw {:?}", String::from_utf8_lossy(&seen)));
            seen.extend(chunk);
        }
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(answer.as_bytes()).expect("answer");
        let status = child.wait().expect("wait");
        let after = fs::read(&path).expect("read");
        assert_eq!(after != before, replaced, "answer {answer}");
        assert_eq!(status.success(), replaced, "answer {answer}: {status}");
    }
}
