//! A test cluster's secrets and client config ([`Cluster`]), and its weftd processes ([`Node`]):
//! each with its own generated machine config, API port and state directory, stopped cleanly
//! (then killed) when its handle drops.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::process::{POLL, bin, free_port, ok, wait_until, weftctl, yaml_docs};

/// `weftctl gen config` for the test cluster `e2e` with its secrets; `-t` and the rest follow.
const GEN_CONFIG: [&str; 6] = [
    "gen",
    "config",
    "e2e",
    "https://127.0.0.1:6443",
    "--with-secrets",
    "secrets.yaml",
];

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
                &[&GEN_CONFIG[..], &["-t", "weftconfig"]].concat(),
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
        let mut args = GEN_CONFIG.to_vec();
        args.extend([
            "--discovery-endpoint",
            "http://127.0.0.1:9",
            "-t",
            "controlplane",
            "-o",
            config.to_str().expect("utf8"),
            "--config-patch",
            &patch,
        ]);
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
            api: format!("127.0.0.1:{port}"),
            netns: None,
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

    /// A KubeSpan node ([`Cluster::node`]) that announces itself to the discovery service at
    /// `discovery` (a URL) under the hostname `name`. Not placed anywhere yet.
    pub fn node_with_discovery(&self, name: &str, discovery: &str) -> Node {
        let node = self.node(name, true);
        edit_config(&node, |cfg| {
            cfg["cluster"]["discovery"]["registries"]["service"]["endpoint"] = discovery.into();
            cfg["machine"]["network"]["hostname"] = name.into();
        });
        node
    }

    /// `weftctl get <resource_type> -o yaml` on `node`, parsed; empty when the call fails (the
    /// node not answering yet is for the caller's [`wait_until`] to handle).
    pub fn get(&self, node: &Node, resource_type: &str) -> Vec<yaml_serde::Value> {
        let out = self.weftctl(&["-n", &node.addr(), "get", resource_type, "-o", "yaml"]);
        if !out.status.success() {
            return Vec::new();
        }
        yaml_docs(&String::from_utf8_lossy(&out.stdout))
    }

    /// `node`'s KubeSpan public key, once it has one.
    pub fn kubespan_public_key(&self, node: &Node) -> String {
        wait_until(&format!("{}'s KubeSpan identity", node.name), || {
            self.get(node, "kubespanidentities")
                .into_iter()
                .next()
                .and_then(|d| d["spec"]["publicKey"].as_str().map(str::to_owned))
        })
    }

    /// Edits `node`'s config file with `edit` and applies it to the running node
    /// (`weftctl apply-config`), panicking if the node refuses it.
    pub fn apply_config(&self, node: &Node, edit: impl FnOnce(&mut yaml_serde::Value)) {
        edit_config(node, edit);
        let file = node.config.to_str().expect("utf8 path");
        let out = self.weftctl(&["-n", &node.addr(), "apply-config", "--file", file]);
        ok(&out, "apply-config");
    }
}

/// Rewrites `node`'s config file through `edit`.
pub fn edit_config(node: &Node, edit: impl FnOnce(&mut yaml_serde::Value)) {
    let text = fs::read_to_string(&node.config).expect("read node config");
    let mut cfg: yaml_serde::Value = yaml_serde::from_str(&text).expect("node config");
    edit(&mut cfg);
    fs::write(&node.config, yaml_serde::to_string(&cfg).expect("yaml")).expect("write node config");
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
    /// The API address weftctl dials (`127.0.0.1:<port>`, or the node's lab address).
    pub api: String,
    /// Network namespace the daemon runs in (`ip netns exec`), if any.
    pub netns: Option<String>,
    child: Option<Child>,
}

impl Node {
    /// Where the node's API is, what `-n` takes.
    pub fn addr(&self) -> String {
        self.api.clone()
    }

    /// Starts weftd with `extra` arguments; does not wait for it to be ready.
    pub fn spawn(&mut self, extra: &[&str]) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = fs::File::create(&self.log).expect("log file");
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(bin("weftd"));
                c
            }
            None => Command::new(bin("weftd")),
        };
        let child = command
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
    /// Stops the daemon the way an operator does (SIGTERM, up to [`STOP_GRACE`]), so it removes
    /// what it set up in the host — its UAPI socket, nftables table and routing rules, which a
    /// node outside any lab namespace puts in the root namespace — and only then kill -9s it.
    /// Tests that want a crash call [`Node::kill`] themselves.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                std::thread::sleep(POLL);
            }
        }
        self.kill();
    }
}

/// How long a dropped node gets to stop cleanly before kill -9.
const STOP_GRACE: Duration = Duration::from_secs(10);
