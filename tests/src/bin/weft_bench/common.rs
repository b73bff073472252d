//! What the data-plane benchmarks share: preconditions (root, tools, binaries), processes that are
//! stopped when their guard drops, commands with timeouts, CPU time from `/proc`, and a client of
//! the node API.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use weft_api::config::client::{ClientConfig, Context};
use weft_api::proto::resource::ListRequest;
use weft_api::proto::resource::resource_service_client::ResourceServiceClient;
use weft_api::proto::resource_from_proto;
use weft_api::resource::Resource;
use weft_e2e::{Cluster, Lab, Node};
use weft_lab::prereq;

/// Every error of a benchmark, as a message for the user.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An error with `message`.
pub fn fail<T>(message: impl Into<String>) -> BenchResult<T> {
    Err(message.into().into())
}

/// How long one external command (`ip`, `wg`, `ss`, `ping`) may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopped process gets after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Fails unless this runs as root with a TUN device (namespaces, veth links, TUN need both).
pub fn require_root() -> BenchResult<()> {
    if !prereq::is_root() {
        return fail(
            "needs root: it creates network namespaces, veth links, a bridge and TUN devices",
        );
    }
    if !Path::new("/dev/net/tun").exists() {
        return fail(
            "/dev/net/tun is missing: the userspace WireGuard devices need it (modprobe tun)",
        );
    }
    Ok(())
}

/// Fails naming every missing `(program, Debian package)`.
pub fn require_tools(tools: &[(&str, &str)]) -> BenchResult<()> {
    let missing: Vec<&(&str, &str)> = tools.iter().filter(|(p, _)| !prereq::on_path(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing
        .iter()
        .map(|(p, pkg)| format!("`{p}` (Debian package {pkg})"))
        .collect();
    let mut packages: Vec<&str> = missing.iter().map(|(_, pkg)| *pkg).collect();
    packages.dedup();
    fail(format!(
        "missing tool{}: {}; install with `apt-get install -y {}`",
        if names.len() == 1 { "" } else { "s" },
        names.join(", "),
        packages.join(" ")
    ))
}

/// Fails unless the workspace binaries `names` are next to this executable (`weft_e2e::bin`
/// would panic instead).
pub fn require_binaries(names: &[&str]) -> BenchResult<()> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    for name in names {
        if !dir.join(name).exists() {
            return fail(format!(
                "{} is missing: build the workspace first (`cargo build --release --workspace`)",
                dir.join(name).display()
            ));
        }
    }
    Ok(())
}

/// Runs `program args` with a timeout, failing with its stderr unless it succeeds; returns stdout.
pub fn run(program: &str, args: &[&str]) -> BenchResult<String> {
    let out = run_status(program, args)?;
    if !out.success {
        return fail(format!(
            "{program} {}: {}",
            args.join(" "),
            out.stderr.trim()
        ));
    }
    Ok(out.stdout)
}

/// Runs `program args` with a timeout and returns what it did, success or not.
pub fn run_status(program: &str, args: &[&str]) -> BenchResult<weft_lab::Output> {
    Ok(weft_lab::cmd::run_with(
        program,
        args,
        None,
        COMMAND_TIMEOUT,
    )?)
}

/// `ip netns exec ns args…` with a timeout; fails unless it succeeds; returns stdout.
pub fn in_ns(ns: &str, args: &[&str]) -> BenchResult<String> {
    let mut all = vec!["netns", "exec", ns];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// Polls `check` every `every` until it returns `Some`, for at most `limit`.
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut check: impl FnMut() -> BenchResult<Option<T>>,
) -> BenchResult<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if start.elapsed() > limit {
            return fail(format!(
                "timed out after {}s waiting for {what}",
                limit.as_secs()
            ));
        }
        std::thread::sleep(every);
    }
}

/// A process this benchmark started: SIGTERM, then SIGKILL, when the guard drops, and a UAPI
/// socket it may leave behind removed.
#[derive(Debug)]
pub struct Guarded {
    name: String,
    child: Option<Child>,
    /// A file the process leaves behind when killed (a WireGuard UAPI socket).
    leftover: Option<PathBuf>,
}

impl Guarded {
    /// Starts `command` (stdin closed; stdout and stderr into `log`).
    pub fn spawn(name: &str, command: &mut Command, log: &Path) -> BenchResult<Guarded> {
        let out = fs::File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("starting {name}: {e}"))?;
        Ok(Guarded {
            name: name.to_owned(),
            child: Some(child),
            leftover: None,
        })
    }

    /// Removes `path` too when the guard drops.
    pub fn leaves(mut self, path: PathBuf) -> Guarded {
        self.leftover = Some(path);
        self
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status, if the process has ended.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits at most `limit` for the process to end by itself; kills it and fails after that.
    pub fn wait(&mut self, limit: Duration) -> BenchResult<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_exit() {
                return Ok(status);
            }
            if start.elapsed() > limit {
                self.stop();
                return fail(format!(
                    "{} did not end within {}s; stopped",
                    self.name,
                    limit.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (so it can clean up), SIGKILL after [`STOP_GRACE`], then reaps it.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stderr(Stdio::null())
                .status();
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() && start.elapsed() < STOP_GRACE {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(path) = self.leftover.take() {
            let _ = fs::remove_file(path);
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Fields of a `/proc/.../stat` line after the command name, so `fields[0]` is field 3 (state).
fn stat_fields(text: &str) -> Vec<&str> {
    text.rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default()
}

fn field(fields: &[&str], number: usize) -> u64 {
    fields
        .get(number - 3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime of a process (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f = stat_fields(&text);
    Some(field(&f, 14) + field(&f, 15))
}

/// cutime + cstime of this process: the CPU time of every child it has reaped, in clock ticks.
pub fn reaped_children_ticks() -> u64 {
    fs::read_to_string("/proc/self/stat")
        .map(|t| {
            let f = stat_fields(&t);
            field(&f, 16) + field(&f, 17)
        })
        .unwrap_or(0)
}

/// utime + stime per thread name of a process, in clock ticks.
pub fn thread_ticks(pid: u32) -> Vec<(String, u64)> {
    let mut by_name: Vec<(String, u64)> = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(text) = fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let name = text
            .split_once('(')
            .and_then(|(_, r)| r.rsplit_once(')'))
            .map(|(n, _)| n.to_owned())
            .unwrap_or_default();
        let f = stat_fields(&text);
        let ticks = field(&f, 14) + field(&f, 15);
        match by_name.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += ticks,
            None => by_name.push((name, ticks)),
        }
    }
    by_name
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux when it cannot be asked).
pub fn ticks_per_second() -> f64 {
    run("getconf", &["CLK_TCK"])
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The admin client context of `cluster`.
pub fn admin_context(cluster: &Cluster) -> BenchResult<Context> {
    let cfg = ClientConfig::load_or_default(&cluster.weftconfig)?;
    match cfg.contexts.get(&cfg.context) {
        Some(ctx) => Ok(ctx.clone()),
        None => fail(format!(
            "{} has no context {:?}",
            cluster.weftconfig.display(),
            cfg.context
        )),
    }
}

/// A connected mTLS client of the node API at `addr` (`ip:port`).
pub async fn connect(
    addr: &str,
    ctx: &Context,
    timeout: Duration,
) -> BenchResult<ResourceServiceClient<Channel>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let pem = |what, b64: &str| weft_api::pki::decode_pem(what, b64);
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem("ca", &ctx.ca)?))
        .identity(Identity::from_pem(
            pem("crt", &ctx.crt)?,
            pem("key", &ctx.key)?,
        ))
        .domain_name(host);
    let channel = Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(timeout)
        .timeout(timeout)
        .connect()
        .await?;
    Ok(ResourceServiceClient::new(channel))
}

/// Every resource of `ty` in namespace `kubespan` on the node behind `client`.
pub async fn list_kubespan(
    client: &mut ResourceServiceClient<Channel>,
    ty: &str,
) -> BenchResult<Vec<Resource>> {
    let reply = client
        .list(ListRequest {
            namespace: weft_api::resources::NAMESPACE_KUBESPAN.to_owned(),
            r#type: ty.to_owned(),
        })
        .await?;
    reply
        .into_inner()
        .resources
        .into_iter()
        .map(|r| resource_from_proto(r).map_err(Into::into))
        .collect()
}

/// (peers, peers up) in a node's `KubeSpanPeerStatuses`.
pub fn count_up(statuses: &[Resource]) -> (usize, usize) {
    let up = statuses
        .iter()
        .filter(|r| r.spec["state"].as_str() == Some("up"))
        .count();
    (statuses.len(), up)
}

/// A KubeSpan node of `cluster` in namespace `i` of `lab`, using the discovery service at `url`
/// (not started).
pub fn lab_node(
    cluster: &Cluster,
    lab: &mut Lab,
    name: &str,
    i: u8,
    discovery: &str,
) -> BenchResult<Node> {
    let mut node = cluster.node(name, true);
    let text = fs::read_to_string(&node.config)?;
    let mut cfg: yaml_serde::Value = yaml_serde::from_str(&text)?;
    cfg["cluster"]["discovery"]["registries"]["service"]["endpoint"] =
        yaml_serde::Value::from(discovery);
    cfg["machine"]["network"]["hostname"] = yaml_serde::Value::from(name);
    fs::write(&node.config, yaml_serde::to_string(&cfg)?)?;
    lab.place(&mut node, i);
    Ok(node)
}

/// Fails naming the node and its log when its weftd has ended.
pub fn check_running(node: &mut Node) -> BenchResult<()> {
    match node.try_exit() {
        Some(status) => fail(format!(
            "weftd of {} exited with {status}; its log ({}):\n{}",
            node.name,
            node.log.display(),
            node.log_text()
        )),
        None => Ok(()),
    }
}

/// Whether process `pid` is running (exists and is not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|t| {
        stat_fields(&t)
            .first()
            .is_some_and(|s| *s != "Z" && *s != "X")
    })
}

/// (busy, total) jiffies of all CPUs since boot, from the first line of `/proc/stat`.
pub fn machine_jiffies() -> (u64, u64) {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

/// Cores busy on average between two [`machine_jiffies`] samples.
pub fn cores_busy(before: (u64, u64), after: (u64, u64), cpus: usize) -> f64 {
    let total = after.1.saturating_sub(before.1);
    if total == 0 {
        return 0.0;
    }
    after.0.saturating_sub(before.0) as f64 / total as f64 * cpus as f64
}

/// The number of CPUs.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Warns when the machine is already busy (other work would slow what is measured next).
pub fn warn_if_busy() {
    let before = machine_jiffies();
    std::thread::sleep(Duration::from_millis(500));
    let busy = cores_busy(before, machine_jiffies(), cpus());
    if busy > 0.2 {
        println!(
            "warning: {busy:.2} of {} cores were already busy with other work just before this; the figures below are pessimistic",
            cpus()
        );
    }
}

/// Destroys every TCP socket left in the given namespaces when dropped (`ss -K`), so the
/// [`Lab`] dropped after it can really delete them: an orphaned socket still retransmitting (a
/// stream cut off by an error) would otherwise keep a deleted namespace, and the veth end in the
/// root namespace, alive for minutes. Declare it after the lab and before the processes.
#[derive(Debug)]
pub struct SocketReaper {
    namespaces: Vec<String>,
}

impl SocketReaper {
    pub fn new(namespaces: Vec<String>) -> SocketReaper {
        SocketReaper { namespaces }
    }
}

impl Drop for SocketReaper {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = run_status("ip", &["netns", "exec", ns, "ss", "-K", "-t", "-a"]);
        }
    }
}
