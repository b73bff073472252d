//! A `weftctl cluster create` lab driven from a test, as a user drives it: created with its own
//! name, CIDR, state directory and client config (nothing of the user's `~/.weft` is touched),
//! impaired with `weftctl cluster chaos`, nodes killed and restarted, peer statuses followed as
//! watch events, and destroyed with `weftctl cluster destroy` when the handle drops — also when
//! the test fails.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::{bin, ok};

/// Lines of each log a failed `cluster create` shows.
const LOG_TAIL_LINES: usize = 40;

/// A running local mesh (see the module doc).
#[derive(Debug)]
pub struct LocalCluster {
    pub name: String,
    /// Node `i` (1-based) is at `<prefix>.<i + 1>`.
    prefix: String,
    pub nodes: u8,
    dir: tempfile::TempDir,
    /// weftd processes this handle restarted (the cluster's state file knows only the first).
    restarted: BTreeMap<u8, Child>,
}

impl LocalCluster {
    /// `weftctl cluster create --name name --cidr <prefix>.0/24 --nodes n` plus `extra`, which
    /// must succeed (every peer up).
    pub fn create(name: &str, prefix: &str, nodes: u8, extra: &[&str]) -> LocalCluster {
        let cluster = LocalCluster {
            name: name.to_owned(),
            prefix: prefix.to_owned(),
            nodes,
            dir: tempfile::tempdir().expect("tempdir"),
            restarted: BTreeMap::new(),
        };
        let cidr = format!("{prefix}.0/24");
        let count = nodes.to_string();
        let mut args = vec![
            "cluster", "create", "--name", name, "--cidr", &cidr, "--nodes", &count,
        ];
        args.extend_from_slice(extra);
        let out = cluster.weftctl_in_cluster(&args);
        if !out.status.success() {
            // The state directory goes with the handle, so what the nodes logged is kept here.
            panic!(
                "cluster create {name} failed ({}): {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr),
                cluster.log_tails(LOG_TAIL_LINES)
            );
        }
        cluster
    }

    /// The last `lines` lines of every log in the cluster's directory (weftd's and the discovery
    /// service's), each under its file name.
    fn log_tails(&self, lines: usize) -> String {
        let mut logs: Vec<PathBuf> = std::fs::read_dir(self.cluster_dir())
            .map(|dir| {
                dir.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "log"))
                    .collect()
            })
            .unwrap_or_default();
        logs.sort();
        let mut text = String::new();
        for log in logs {
            let content = std::fs::read_to_string(&log).unwrap_or_default();
            let all: Vec<&str> = content.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
            text.push_str(&format!(
                "--- {} (last {} lines)\n",
                log.display(),
                tail.len()
            ));
            for line in tail {
                text.push_str(line);
                text.push('\n');
            }
        }
        text
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("clusters")
    }

    /// The client config the cluster's context was merged into.
    pub fn weftconfig(&self) -> PathBuf {
        self.dir.path().join("weftconfig")
    }

    /// Where the cluster keeps its files (node configs, logs, `cluster.yaml`).
    pub fn cluster_dir(&self) -> PathBuf {
        self.state().join(&self.name)
    }

    /// `weftctl args` with this cluster's client config (no terminal).
    pub fn weftctl(&self, args: &[&str]) -> Output {
        Command::new(bin("weftctl"))
            .args(args)
            .env("WEFTCONFIG", self.weftconfig())
            .env_remove("NO_COLOR")
            .stdin(Stdio::null())
            .output()
            .expect("run weftctl")
    }

    /// `weftctl cluster <args…> --state <ours>` (the subcommand's own flag).
    fn weftctl_in_cluster(&self, args: &[&str]) -> Output {
        let state = self.state();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--state", state.to_str().expect("utf8 path")]);
        self.weftctl(&all)
    }

    /// `weftctl cluster chaos --name <ours> args…`, which must succeed.
    pub fn chaos(&self, args: &[&str]) {
        let mut all = vec!["cluster", "chaos", "--name", &self.name];
        all.extend_from_slice(args);
        ok(
            &self.weftctl_in_cluster(&all),
            &format!("cluster chaos {args:?}"),
        );
    }

    /// Node `i`'s address (1-based), what `-n` takes.
    pub fn addr(&self, i: u8) -> String {
        format!("{}.{}", self.prefix, i + 1)
    }

    /// Node `i`'s network namespace.
    pub fn netns(&self, i: u8) -> String {
        format!("weft-{}-{i}", self.name)
    }

    /// Node `i`'s WireGuard link, as its config names it (unique per cluster on the host).
    pub fn link(&self, i: u8) -> String {
        let path = self.cluster_dir().join(format!("node-{i}.yaml"));
        let text = std::fs::read_to_string(&path).expect("node config");
        let config: yaml_serde::Value = yaml_serde::from_str(&text).expect("node config yaml");
        config["machine"]["network"]["kubespan"]["interface"]
            .as_str()
            .expect("interface")
            .to_owned()
    }

    /// Node `i`'s host name, which its peers show as the label of its status.
    pub fn hostname(&self, i: u8) -> String {
        if i == 1 {
            format!("{}-controlplane-1", self.name)
        } else {
            format!("{}-worker-{}", self.name, i - 1)
        }
    }

    /// Node `i`'s log (the first process's; a restarted one logs beside it).
    pub fn log(&self, i: u8) -> String {
        let mut text = std::fs::read_to_string(self.cluster_dir().join(format!("node-{i}.log")))
            .unwrap_or_default();
        if let Ok(more) =
            std::fs::read_to_string(self.cluster_dir().join(format!("node-{i}.restart.log")))
        {
            text.push_str(&more);
        }
        text
    }

    /// The pid `cluster create` recorded for node `i`.
    fn recorded_pid(&self, i: u8) -> u32 {
        let text =
            std::fs::read_to_string(self.cluster_dir().join("cluster.yaml")).expect("state file");
        let state: yaml_serde::Value = yaml_serde::from_str(&text).expect("state yaml");
        let pid = state["pids"][format!("node-{i}").as_str()]
            .as_u64()
            .expect("node pid recorded");
        u32::try_from(pid).expect("pid")
    }

    /// `kill -9` node `i`'s weftd: no goodbye to the discovery service, no teardown.
    pub fn kill(&mut self, i: u8) {
        if let Some(mut child) = self.restarted.remove(&i) {
            let _ = child.kill();
            let _ = child.wait();
            return;
        }
        let pid = self.recorded_pid(i).to_string();
        let out = Command::new("kill")
            .args(["-9", &pid])
            .output()
            .expect("kill");
        assert!(out.status.success(), "kill -9 {pid}");
    }

    /// Starts node `i`'s weftd again, same config and state (so the same keys), in its namespace.
    pub fn restart(&mut self, i: u8) {
        let config = self.cluster_dir().join(format!("node-{i}.yaml"));
        let log = std::fs::File::create(self.cluster_dir().join(format!("node-{i}.restart.log")))
            .expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns(i)])
            .arg(bin("weftd"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start weftd");
        self.restarted.insert(i, child);
    }

    /// Whether node `i`'s API answers this cluster's admin credentials.
    pub fn api_answers(&self, i: u8) -> bool {
        self.weftctl(&["-n", &self.addr(i), "get", "kubespanidentities"])
            .status
            .success()
    }

    /// `weftctl health` for every node of the context; its exit status and output.
    pub fn health(&self, extra: &[&str]) -> Output {
        let mut args = vec!["--context", &self.name, "health"];
        args.extend_from_slice(extra);
        self.weftctl(&args)
    }

    /// Starts following node `i`'s peer statuses as watch events.
    pub fn watch(&self, i: u8) -> StatusWatch {
        StatusWatch::start(&self.weftconfig(), &self.addr(i))
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.restarted) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let out = self.weftctl_in_cluster(&["cluster", "destroy", "--name", &self.name]);
        if !out.status.success() {
            eprintln!(
                "cluster destroy {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// One peer-status event as a watch delivered it, stamped when it arrived.
#[derive(Debug, Clone)]
pub struct StatusEvent {
    pub at: Instant,
    /// `created`, `updated` or `destroyed`.
    pub kind: String,
    /// The peer's public key (the status id).
    pub peer: String,
    pub label: String,
    pub state: String,
}

/// `weftctl -n <node> get kubespanpeerstatuses -w -o yaml`, its events collected as they come.
#[derive(Debug)]
pub struct StatusWatch {
    pub node: String,
    child: Child,
    events: Arc<Mutex<Vec<StatusEvent>>>,
}

impl StatusWatch {
    fn start(weftconfig: &Path, node: &str) -> StatusWatch {
        let mut child = Command::new(bin("weftctl"))
            .args([
                "-n",
                node,
                "get",
                "kubespanpeerstatuses",
                "-w",
                "-o",
                "yaml",
            ])
            .env("WEFTCONFIG", weftconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("weftctl get -w");
        let stdout = child.stdout.take().expect("stdout");
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        std::thread::spawn(move || {
            let mut doc = String::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line != "---" {
                    doc.push_str(&line);
                    doc.push('\n');
                    continue;
                }
                push_event(&sink, &doc);
                doc.clear();
            }
            push_event(&sink, &doc);
        });
        StatusWatch {
            node: node.to_owned(),
            child,
            events,
        }
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<StatusEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The state changes of the peer labelled `label`, from its events: `(when, from, to)`.
    pub fn transitions(&self, label: &str) -> Vec<(Instant, String, String)> {
        transitions(self.events().iter().filter(|e| e.label == label))
    }

    /// Every `up` → anything-else change seen, for any peer: `(label, when, to)`.
    pub fn falls_from_up(&self) -> Vec<(String, Instant, String)> {
        let mut by_peer: BTreeMap<String, Vec<StatusEvent>> = BTreeMap::new();
        for e in self.events() {
            by_peer.entry(e.label.clone()).or_default().push(e);
        }
        let mut falls = Vec::new();
        for (label, events) in by_peer {
            for (at, from, to) in transitions(events.iter()) {
                if from == "up" && to != "up" {
                    falls.push((label.clone(), at, to));
                }
            }
        }
        falls
    }

    /// Waits up to `limit` for an event of the peer labelled `label` in `state` that arrived at or
    /// after `since`; returns when it arrived.
    pub fn wait_for_state(
        &self,
        label: &str,
        state: &str,
        since: Instant,
        limit: Duration,
    ) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            let found = self
                .events()
                .iter()
                .find(|e| e.label == label && e.state == state && e.at >= since)
                .map(|e| e.at);
            if found.is_some() {
                return found;
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for StatusWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn push_event(sink: &Mutex<Vec<StatusEvent>>, doc: &str) {
    if doc.trim().is_empty() {
        return;
    }
    let at = Instant::now();
    let Ok(v) = yaml_serde::from_str::<yaml_serde::Value>(doc) else {
        return;
    };
    let text = |v: &yaml_serde::Value| v.as_str().unwrap_or_default().to_owned();
    let event = StatusEvent {
        at,
        kind: text(&v["event"]),
        peer: text(&v["metadata"]["id"]),
        label: text(&v["spec"]["label"]),
        state: text(&v["spec"]["state"]),
    };
    sink.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(event);
}

/// State changes in a sequence of one peer's events (`destroyed` ends its run).
fn transitions<'a>(
    events: impl Iterator<Item = &'a StatusEvent>,
) -> Vec<(Instant, String, String)> {
    let mut last: Option<String> = None;
    let mut out = Vec::new();
    for e in events {
        if e.kind == "destroyed" {
            last = None;
            continue;
        }
        if let Some(prev) = &last
            && *prev != e.state
        {
            out.push((e.at, prev.clone(), e.state.clone()));
        }
        last = Some(e.state.clone());
    }
    out
}
