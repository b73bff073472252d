//! One `weft-discovery` process with its own ports and snapshot file, killed on drop.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::process::{bin, free_port, wait_until};

/// Starts of one service before a port taken under it counts as a failure.
const START_ATTEMPTS: usize = 3;

/// What weft-discovery's error says when its port is taken (the OS's text for EADDRINUSE).
const ADDRESS_IN_USE: &str = "Address already in use";

/// One `weft-discovery` process on loopback with its own ports and snapshot file. Killed on drop.
#[derive(Debug)]
pub struct DiscoveryService {
    /// Address the gRPC and metrics listeners bind (127.0.0.1 unless [`DiscoveryService::on`]).
    pub host: String,
    /// gRPC port.
    pub port: u16,
    /// Metrics port.
    pub metrics_port: u16,
    /// The snapshot file (`--snapshot-path`).
    pub snapshot: PathBuf,
    pub log: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    /// Whether the service has listened once: from then on clients know its port, so a restart
    /// must get the same one.
    listened: bool,
}

impl DiscoveryService {
    /// A service whose files live in `dir`, run with `extra` arguments; not started yet.
    pub fn new(dir: &Path, name: &str, extra: &[&str]) -> DiscoveryService {
        DiscoveryService {
            host: "127.0.0.1".to_owned(),
            port: free_port(),
            metrics_port: free_port(),
            snapshot: dir.join(format!("{name}.binpb")),
            log: dir.join(format!("{name}.log")),
            args: extra.iter().map(|s| (*s).to_owned()).collect(),
            child: None,
            listened: false,
        }
    }

    /// Starts the process (appending to its log) and waits until its gRPC port accepts
    /// connections; panics with the log if it exits first. A port taken between `free_port`
    /// choosing it and the service binding it (another process's outgoing connection can get it
    /// from the same ephemeral range) is not the service's fault: then new ports are chosen, up
    /// to [`START_ATTEMPTS`] times — on the first start only, since a restart must keep the port
    /// its clients know.
    pub fn start(&mut self) {
        let attempts = if self.listened { 1 } else { START_ATTEMPTS };
        for _ in 1..attempts {
            match self.try_start() {
                Ok(()) => return,
                Err(log) if log.contains(ADDRESS_IN_USE) => {
                    self.port = free_port();
                    self.metrics_port = free_port();
                }
                Err(log) => panic!("weft-discovery exited before listening: {log}"),
            }
        }
        if let Err(log) = self.try_start() {
            panic!("weft-discovery exited before listening: {log}");
        }
    }

    /// One start; `Err(what it logged)` when the process exited before listening.
    fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "weft-discovery already running");
        let logged_before = self.log_text().len();
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = Command::new(bin("weft-discovery"))
            .arg("--listen")
            .arg(format!("{}:{}", self.host, self.port))
            .arg("--metrics-listen")
            .arg(format!("{}:{}", self.host, self.metrics_port))
            .arg("--snapshot-path")
            .arg(&self.snapshot)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn weft-discovery");
        self.child = Some(child);
        let addr = format!("{}:{}", self.host, self.port);
        wait_until("weft-discovery to listen", || {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                let log = self.log_text();
                let this_run = log.get(logged_before..).unwrap_or(&log);
                return Some(Err(format!("{status}: {this_run}")));
            }
            std::net::TcpStream::connect(&addr).ok().map(|_| Ok(()))
        })
        .inspect(|()| self.listened = true)
        .inspect_err(|_| self.child = None)
    }

    /// `http://<host>:<port>`, for a plaintext gRPC client.
    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// Binds to `host` instead of 127.0.0.1 (e.g. a lab's bridge address).
    pub fn on(mut self, host: &str) -> DiscoveryService {
        self.host = host.to_owned();
        self
    }

    /// SIGTERM, then waits for the process to exit and returns its status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        wait_until("weft-discovery to exit", || child.try_wait().ok().flatten())
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What the service logged so far.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for DiscoveryService {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
