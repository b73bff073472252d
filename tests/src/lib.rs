//! weft-e2e — the end-to-end harness: finds the workspace's real binaries and runs them the way a
//! user does — `weftctl` commands, `weftd` processes on loopback with their own ports and state
//! directories. Every process a test starts is killed when its handle drops, also when the test
//! fails; waits are conditions with deadlines, never fixed sleeps.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Deadline for a daemon to come up or a condition to hold.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Pause between two checks of a condition.
const POLL: Duration = Duration::from_millis(50);

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

/// A test cluster: secrets, the admin client config, and a directory for node files.
#[derive(Debug)]
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub secrets: PathBuf,
    pub weftconfig: PathBuf,
}

impl Cluster {
    /// New secrets and an admin `weftconfig`.
    pub fn new() -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        ok(&weftctl(dir.path(), &["gen", "secrets"]), "gen secrets");
        ok(
            &weftctl(
                dir.path(),
                &[
                    "gen",
                    "config",
                    "e2e",
                    "https://127.0.0.1:6443",
                    "--with-secrets",
                    "secrets.yaml",
                    "-t",
                    "weftconfig",
                ],
            ),
            "gen config weftconfig",
        );
        Cluster {
            secrets: dir.path().join("secrets.yaml"),
            weftconfig: dir.path().join("weftconfig"),
            dir,
        }
    }

    /// Writes a node's machine config (KubeSpan on or off, its own API port and state directory,
    /// discovery pointed at a local address so nothing leaves the machine) and returns the node.
    pub fn node(&self, name: &str, kubespan: bool) -> Node {
        let port = free_port();
        let state_dir = self.dir.path().join(format!("{name}-state"));
        let config = self.dir.path().join(format!("{name}.yaml"));
        let patch = format!(
            "{{machine: {{api: {{listenAddress: '127.0.0.1:{port}'}}, stateDir: '{}'}}}}",
            state_dir.display()
        );
        let mut args = vec![
            "gen",
            "config",
            "e2e",
            "https://127.0.0.1:6443",
            "--with-secrets",
            "secrets.yaml",
            "--discovery-endpoint",
            "http://127.0.0.1:9",
            "-t",
            "controlplane",
            "-o",
            config.to_str().expect("utf8"),
            "--config-patch",
            &patch,
        ];
        if kubespan {
            args.push("--with-kubespan");
        }
        ok(&weftctl(self.dir.path(), &args), "gen config node");
        Node {
            name: name.to_owned(),
            port,
            config,
            state_dir,
            log: self.dir.path().join(format!("{name}.log")),
            child: None,
        }
    }

    /// Runs weftctl with this cluster's client config.
    pub fn weftctl(&self, args: &[&str]) -> Output {
        Command::new(bin("weftctl"))
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env("WEFTCONFIG", &self.weftconfig)
            .output()
            .expect("run weftctl")
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster::new()
    }
}

/// One weftd process on loopback. Killed on drop.
#[derive(Debug)]
pub struct Node {
    pub name: String,
    pub port: u16,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub log: PathBuf,
    child: Option<Child>,
}

impl Node {
    /// `127.0.0.1:<port>`, what `-n` takes.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts weftd with `extra` arguments; does not wait for it to be ready.
    pub fn spawn(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = fs::File::create(&self.log).expect("log file");
        let child = Command::new(bin("weftd"))
            .arg("--config")
            .arg(&self.config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn weftd");
        self.child = Some(child);
    }

    /// Starts weftd and waits until its API answers `cluster` clients.
    pub fn start(&mut self, cluster: &Cluster) {
        self.spawn(&[]);
        let addr = self.addr();
        wait_until(
            &format!("{} to serve its API (log: {})", self.name, self.log_text()),
            || {
                if let Some(status) = self.try_exit() {
                    panic!("{} exited with {status}: {}", self.name, self.log_text());
                }
                cluster
                    .weftctl(&["-n", &addr, "get", "identities"])
                    .status
                    .success()
                    .then_some(())
            },
        );
    }

    /// The exit status, if the process has ended.
    pub fn try_exit(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits for the process to end by itself and returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let status = wait_until(&format!("{} to exit", self.name), || self.try_exit());
        self.child = None;
        status
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.wait_exit()
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the daemon logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
