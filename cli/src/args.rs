//! The command line, as clap types only. Flags and names follow talosctl's so scripts carry over.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCandidates;
use ipnet::IpNet;

use crate::client::parse_duration;
use crate::commands::cluster::chaos::{
    parse_bandwidth, parse_fraction, parse_loss_percent, parse_pair,
};
use crate::commands::external_peer::{parse_address, parse_endpoint, parse_name, parse_public_key};

// The about line does not repeat the name: the man page's NAME line is `weftctl - <about>`.
/// Full-mesh WireGuard networking for clusters that span the edge, the datacenter and the cloud
#[derive(Debug, Parser)]
#[command(
    name = "weftctl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts, for talking to nodes; listed under their own heading in every
/// `--help` so a command's own flags stand out.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Target nodes, comma-separated (host or host:port, default port 50000), dialed directly;
    /// for `cluster create`, one number: the total number of nodes
    #[arg(
        short = 'n',
        long,
        global = true,
        value_delimiter = ',',
        value_name = "NODES",
        add = ArgValueCandidates::new(crate::complete::nodes)
    )]
    pub nodes: Vec<String>,
    /// Endpoints to use when no nodes are given, comma-separated (weftctl has no API proxy: with
    /// nodes, they are ignored)
    #[arg(
        short = 'e',
        long,
        global = true,
        value_delimiter = ',',
        value_name = "ENDPOINTS"
    )]
    pub endpoints: Vec<String>,
    /// Context to use instead of the client config's current one
    #[arg(long, global = true, add = ArgValueCandidates::new(crate::complete::contexts))]
    pub context: Option<String>,
    /// Client config file [default: $TALOSCONFIG, else ~/.weft/config]
    #[arg(
        long,
        visible_alias = "talosconfig",
        global = true,
        env = "WEFTCONFIG",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub weftconfig: Option<PathBuf>,
    /// Connection and request timeout
    #[arg(long, global = true, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate secrets and configuration files
    Gen(Box<GenArgs>),
    /// Validate a machine config
    Validate(ValidateArgs),
    /// Print the version
    Version(VersionArgs),
    /// Output shell completion code for the given shell
    Completion(CompletionArgs),
    /// Get a specific resource or list of resources
    #[command(visible_alias = "g")]
    Get(GetArgs),
    /// Apply a new machine config to nodes, immediately (no restart)
    ApplyConfig(ApplyConfigArgs),
    /// Manage the client config (contexts, credentials)
    Config(ConfigArgs),
    /// Create or destroy a local mesh of nodes in network namespaces (needs root)
    Cluster(ClusterArgs),
    /// Check that every node is healthy: API, KubeSpan identity, discovery, every peer up
    #[command(
        long_about = "Check that every node is healthy: API, KubeSpan identity, discovery, every peer up.\n\nFor every target node (-n, else the context's nodes): its API answers with this client's\ncredentials; it has a KubeSpan identity; at least one discovery service is connected; every\npeer spec has a peer status and it is up, and every other target node is one of its peers.\nOne line per check and node, then a summary. Exit code 0 only when every check passes.\n\nWith --matrix: a node × node grid of what each node sees of each other one (state, handshake\nage, endpoint), from every node's peer statuses fetched concurrently; cells where two nodes\ndisagree (A sees B up, B does not see A up) are marked with `!`.",
        after_help = "Examples:\n  weftctl health\n  weftctl -n 10.5.0.2,10.5.0.3 health --wait-timeout 2m\n  weftctl health --matrix\n  weftctl health -o json | jq '.nodes[] | select(.healthy | not) | .node'"
    )]
    Health(HealthArgs),
    /// Withdraw nodes from the cluster's discovery services (needs os:admin)
    #[command(
        long_about = "Withdraw nodes from the cluster's discovery services (needs os:admin).\n\nEach node deletes its affiliate from every configured discovery service and stops announcing\nitself, so the other nodes drop it as a peer. It keeps running, and announces itself again\nwhen weftd restarts.",
        after_help = "Examples:\n  weftctl -n 10.5.0.3 leave"
    )]
    Leave,
    /// Publish WireGuard devices that run no weftd as cluster members (needs os:admin)
    #[command(
        long_about = "Publish WireGuard devices that run no weftd as cluster members (needs os:admin).\n\nA router or an appliance running plain WireGuard joins the mesh: the target node publishes\nit to its discovery services as an affiliate (external-NAME), encrypted with the cluster\nsecret like its own, and keeps it fresh until it is removed, also across restarts. Every node\nthen peers with it. List them with `weftctl get externalpeers`.\n\nThe device is configured by hand: its key and listen port, an address routed to it here, and\nevery node as a peer (public key and ULA from `weftctl get kubespanidentities`, the node's\nendpoint, the cluster secret as preshared key)."
    )]
    ExternalPeer(ExternalPeerArgs),
    /// Print weftd's recent log lines, or follow them (needs os:admin)
    #[command(
        long_about = "Print weftd's recent log lines, or follow them (needs os:admin).\n\nweftd keeps its last 2000 log lines in memory, each at most 2 KiB, one line per event (control\ncharacters escaped), secrets never in them. With several nodes, the lines of all of them are\ninterleaved as they arrive, each prefixed with its node, as talosctl does.",
        after_help = "Examples:\n  weftctl -n 10.5.0.2 logs --tail 20\n  weftctl -n 10.5.0.2,10.5.0.3 logs -f"
    )]
    Logs(LogsArgs),
    /// A live view of the mesh: node × node grid, peer traffic, handshakes, discovery
    #[command(
        long_about = "A live view of the mesh: node × node grid, peer traffic, handshakes, discovery.\n\nEvery target node is asked for its peer statuses, peer specs and discovery statuses (what\n`weftctl health` reads) every --update-interval; the screen shows what each node sees of each\nother one (state and handshake age, `!` where two nodes disagree), each peer's receive and\ntransmit rates since the last refresh, and each node's discovery services. q, Esc or Ctrl-C\nquits. It needs a terminal: with stdout redirected it exits 1 and says so.",
        after_help = "Examples:\n  weftctl dashboard\n  weftctl -n 10.5.0.2,10.5.0.3 dashboard --update-interval 1s"
    )]
    Dashboard(DashboardArgs),
}

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// How often to refresh (at least 250ms)
    #[arg(
        short = 'd',
        long,
        default_value = "3s",
        value_name = "DURATION",
        value_parser = crate::commands::dashboard::parse_interval
    )]
    pub update_interval: Duration,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Stream new lines as they are logged, until interrupted
    #[arg(short, long)]
    pub follow: bool,
    /// Print only the last N lines kept (at most 2000); -1: every line kept
    #[arg(
        long,
        value_name = "N",
        default_value_t = weft_api::logs::ALL_LINES,
        allow_negative_numbers = true,
        value_parser = crate::commands::logs::parse_tail
    )]
    pub tail: i32,
}

#[derive(Debug, Args)]
pub struct ExternalPeerArgs {
    #[command(subcommand)]
    pub command: ExternalPeerCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExternalPeerCommand {
    /// Publish a WireGuard device as a member (adding an existing name replaces it)
    #[command(
        after_help = "Examples:\n  weftctl -n 10.5.0.2 external-peer add router --public-key $(wg pubkey < router.key) \\\n      --endpoint 192.0.2.7:51820 --address fd7f:175a:b97c:5602::ee --address 192.168.50.0/24"
    )]
    Add(ExternalPeerAddArgs),
    /// Stop publishing an external peer; every node drops it
    #[command(after_help = "Examples:\n  weftctl -n 10.5.0.2 external-peer remove router")]
    Remove(ExternalPeerRemoveArgs),
}

#[derive(Debug, Args)]
pub struct ExternalPeerAddArgs {
    /// Its name, a DNS label: its hostname and node name (affiliate id external-NAME)
    #[arg(value_parser = parse_name)]
    pub name: String,
    /// Its WireGuard public key (as `wg pubkey` prints it)
    #[arg(long, value_name = "KEY", value_parser = parse_public_key)]
    pub public_key: String,
    /// Where it listens; without one it must call the nodes first
    #[arg(long, value_name = "IP:PORT", value_parser = parse_endpoint)]
    pub endpoint: Option<SocketAddr>,
    /// Address or network routed to it, its tunnel address included (repeatable or
    /// comma-separated); a single address in the KubeSpan subnet becomes its KubeSpan address
    #[arg(
        long = "address",
        value_name = "ADDR",
        required = true,
        value_delimiter = ',',
        value_parser = parse_address
    )]
    pub addresses: Vec<IpNet>,
}

#[derive(Debug, Args)]
pub struct ExternalPeerRemoveArgs {
    /// Its name
    #[arg(value_parser = parse_name)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Resource type: plural, singular or alias, case-insensitive (`weftctl get rd` lists them)
    #[arg(value_name = "TYPE", add = ArgValueCandidates::new(crate::complete::resource_types))]
    pub resource_type: String,
    /// Resource id
    #[arg(add = ArgValueCandidates::new(crate::complete::ids))]
    pub id: Option<String>,
    /// Namespace [default: the type's own]
    #[arg(long)]
    pub namespace: Option<String>,
    /// Output format: table, yaml, json or jsonpath=EXPR
    #[arg(short, long, default_value = "table", add = ArgValueCandidates::new(crate::complete::get_outputs))]
    pub output: String,
    /// Watch for changes
    #[arg(short, long)]
    pub watch: bool,
    /// talosctl's maintenance-mode flag; refused (weftd has no maintenance mode, every call is
    /// authenticated)
    #[arg(short, long)]
    pub insecure: bool,
}

/// What `weftctl health` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HealthOutput {
    /// Aligned lines for people (the matrix as a bordered grid)
    Table,
    /// One JSON object for scripts; its fields are only ever added to, never renamed
    Json,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Print the node × node grid of peer states instead of the checks
    #[arg(long, conflicts_with = "wait_timeout")]
    pub matrix: bool,
    /// Output format
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: HealthOutput,
    /// Re-check until healthy or this long has passed [default: check once]
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub wait_timeout: Option<Duration>,
}

#[derive(Debug, Args)]
pub struct ApplyConfigArgs {
    /// The machine config to apply
    #[arg(short, long, value_name = "FILE")]
    pub file: PathBuf,
    /// Check the config on the node without applying it
    #[arg(long)]
    pub dry_run: bool,
    /// talosctl's apply mode: weftd applies every config live, so auto, no-reboot and reboot
    /// all apply it now; staged and try are refused (weftd keeps no staged or trial config)
    #[arg(short, long, value_enum, default_value = "auto")]
    pub mode: ApplyMode,
}

/// talosctl's `apply-config --mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApplyMode {
    /// Apply now (what weftd always does)
    Auto,
    /// Apply now, no reboot (what weftd always does)
    NoReboot,
    /// Apply now; weftd needs no reboot, so none happens
    Reboot,
    /// Refused: weftd keeps no staged config for the next boot
    Staged,
    /// Refused: weftd has no trial config that rolls back by itself
    Try,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Issue a client certificate on a node and write a client config around it (needs os:admin)
    New(ConfigNewArgs),
    /// List the contexts of the client config
    Contexts,
    /// Make a context the current one
    #[command(visible_alias = "context")]
    UseContext(UseContextArgs),
    /// Merge a client config (e.g. from gen config) into the default one
    Merge(MergeArgs),
    /// Remove contexts from the client config
    Remove(RemoveContextArgs),
    /// Show the current context: nodes, endpoints, roles, certificate expiry
    Info,
    /// Set the current context's endpoints
    #[command(visible_alias = "endpoints")]
    Endpoint(ListArgs),
    /// Set the current context's nodes
    #[command(visible_alias = "nodes")]
    Node(ListArgs),
    /// Add a context from CA, client certificate and key files (PEM)
    Add(AddContextArgs),
}

#[derive(Debug, Args)]
pub struct RemoveContextArgs {
    /// The contexts to remove
    #[arg(required = true, add = ArgValueCandidates::new(crate::complete::contexts))]
    pub names: Vec<String>,
    /// Do not ask for confirmation (it is asked only at a terminal)
    #[arg(short = 'y', long)]
    pub noconfirm: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The new list (space- or comma-separated); none clears it
    #[arg(value_delimiter = ',')]
    pub values: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AddContextArgs {
    /// Name of the new context
    pub name: String,
    /// The CA certificate file (PEM)
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,
    /// The client certificate file (PEM)
    #[arg(long, value_name = "FILE")]
    pub crt: PathBuf,
    /// The client key file (PEM)
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConfigNewArgs {
    /// Where to write the new client config
    #[arg(default_value = "weftconfig")]
    pub path: PathBuf,
    /// Roles of the new certificate, comma-separated (os:admin, os:reader)
    #[arg(long, value_delimiter = ',', default_value = "os:admin")]
    pub roles: Vec<String>,
    /// Validity of the certificate
    #[arg(long, default_value = "8760h", value_parser = parse_duration, value_name = "DURATION")]
    pub crt_ttl: Duration,
    /// Overwrite an existing file
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct UseContextArgs {
    /// The context
    #[arg(add = ArgValueCandidates::new(crate::complete::contexts))]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The client config to merge
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Overwrite existing files
    #[arg(short, long, global = true)]
    pub force: bool,
    #[command(subcommand)]
    pub command: GenCommand,
}

#[derive(Debug, Subcommand)]
pub enum GenCommand {
    /// Generate a secrets bundle: cluster id and secret, and the node API CA
    Secrets(GenSecretsArgs),
    /// Generate machine configs and a client config for a new cluster
    #[command(
        after_help = "Examples:\n  weftctl gen config my-cluster https://10.5.0.2:6443 --with-kubespan\n  weftctl gen secrets -o secrets.yaml && weftctl gen config my-cluster https://cp.example.com:6443 --with-secrets secrets.yaml --with-kubespan -o _out"
    )]
    Config(Box<GenConfigArgs>),
}

#[derive(Debug, Args)]
pub struct GenSecretsArgs {
    /// Path of the secrets bundle to write
    #[arg(short = 'o', long = "output-file", default_value = "secrets.yaml")]
    pub output_file: PathBuf,
}

/// What `gen config` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum OutputType {
    /// controlplane.yaml
    Controlplane,
    /// worker.yaml
    Worker,
    /// weftconfig, the client config
    #[value(alias = "talosconfig")]
    Weftconfig,
}

impl OutputType {
    /// The file name written for this type.
    pub fn file_name(self) -> &'static str {
        match self {
            OutputType::Controlplane => "controlplane.yaml",
            OutputType::Worker => "worker.yaml",
            OutputType::Weftconfig => "weftconfig",
        }
    }
}

#[derive(Debug, Args)]
pub struct GenConfigArgs {
    /// Name of the cluster (also the client config's context name)
    pub cluster_name: String,
    /// Cluster endpoint, an https:// URL with a port (e.g. https://10.5.0.2:6443)
    pub endpoint: String,
    /// Enable KubeSpan (and cluster discovery)
    #[arg(long)]
    pub with_kubespan: bool,
    /// Enable cluster discovery
    #[arg(
        long,
        value_name = "true|false",
        default_value_t = true,
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub with_cluster_discovery: bool,
    /// Use the secrets bundle at this path instead of generating new secrets
    #[arg(long, value_name = "FILE")]
    pub with_secrets: Option<PathBuf>,
    /// Discovery service URL (repeatable); the first replaces the default
    /// https://discovery.talos.dev/, the others are added
    #[arg(long = "discovery-endpoint", value_name = "URL")]
    pub discovery_endpoints: Vec<String>,
    /// Output: a directory, a file (with one output type), or - for stdout (with one output type)
    #[arg(short, long, value_name = "DIR|FILE|-")]
    pub output: Option<PathBuf>,
    /// Types of output to generate
    #[arg(
        short = 't',
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "controlplane,worker,weftconfig"
    )]
    pub output_types: Vec<OutputType>,
    /// Patch applied to every machine config: @file or inline YAML (repeatable)
    #[arg(long, value_name = "@FILE|YAML")]
    pub config_patch: Vec<String>,
    /// Patch applied to the controlplane config only (repeatable)
    #[arg(long, value_name = "@FILE|YAML")]
    pub config_patch_control_plane: Vec<String>,
    /// Patch applied to the worker config only (repeatable)
    #[arg(long, value_name = "@FILE|YAML")]
    pub config_patch_worker: Vec<String>,
    /// Extra names and addresses of the node API certificate, comma-separated
    /// (machine.certSANs)
    #[arg(long, value_delimiter = ',', value_name = "SANS")]
    pub additional_sans: Vec<String>,
    /// Describe every field of the machine configs in comments, as talosctl does (default false,
    /// unlike talosctl)
    #[arg(
        long,
        value_name = "true|false",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub with_docs: Option<bool>,
    /// Add commented examples of the optional fields the machine configs leave out, as talosctl
    /// does (default false, unlike talosctl)
    #[arg(
        long,
        value_name = "true|false",
        action = ArgAction::Set,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub with_examples: Option<bool>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Path of the machine config to validate
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// talosctl's platform mode (metal, cloud, container); accepted and ignored: Weft's config
    /// does not depend on the platform
    #[arg(short, long, value_parser = ["metal", "cloud", "container"])]
    pub mode: Option<String>,
    /// Fail on warnings too
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the version number
    #[arg(long)]
    pub short: bool,
    /// Print the client's version only, without asking any node
    #[arg(long)]
    pub client: bool,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Build a local mesh: a network namespace per node on a bridge, a discovery service, weftd on
    /// every node; wait until it is healthy (as `weftctl health`); print the peer statuses
    Create(ClusterCreateArgs),
    /// Remove a local mesh: processes, namespaces, links and files (also after a crash)
    Destroy(ClusterDestroyArgs),
    /// Change the network impairments of a running local mesh: loss, bandwidth, partitions
    #[command(
        long_about = "Change the network impairments of a running local mesh: loss, bandwidth, partitions.\n\nEach applies to a node's underlay link (eth0 in its namespace weft-<name>-<i>), in both\ndirections: loss and partitions with nftables (table inet weftlab in the node's namespace,\nreplaced whole in one transaction), bandwidth with tc tbf on both ends of the link. The\nimpairments are recorded in the cluster's state file; repeating a command changes nothing.",
        after_help = "Examples:\n  weftctl cluster chaos --node 2 --loss 30\n  weftctl cluster chaos --loss 20                  # every node\n  weftctl cluster chaos --partition 1,2            # 1 and 2 still reach the others and the host\n  weftctl cluster chaos --heal 1,2\n  weftctl cluster chaos --node 3 --bandwidth 1000  # kbit/s\n  weftctl cluster chaos --clear                    # everything, every node"
    )]
    Chaos(ClusterChaosArgs),
}

#[derive(Debug, Args)]
pub struct ClusterCreateArgs {
    /// Cluster name (also the client context's name)
    #[arg(long, default_value = "weft-default")]
    pub name: String,
    /// Number of worker nodes besides the control-plane node (as talosctl's `--workers`; -n
    /// overrides it)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=31))]
    pub workers: u8,
    /// Discovery service: `embedded` (a weft-discovery started for the cluster) or a URL
    #[arg(long, default_value = "embedded", value_name = "embedded|URL")]
    pub discovery: String,
    /// IPv4 network for the nodes; the host side takes the first address
    #[arg(long, default_value = "10.5.0.0/24")]
    pub cidr: String,
    /// Where cluster state lives [default: ~/.weft/clusters]
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// How long to wait for the mesh to be healthy (the checks of `weftctl health`)
    #[arg(long, default_value = "120s", value_parser = parse_duration, value_name = "DURATION")]
    pub wait_timeout: Duration,
    #[command(flatten)]
    pub chaos: NetworkChaosArgs,
}

/// talosctl's network chaos flags (its QEMU provisioner's, same names and units), applied here
/// to every node's link in both directions.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Network chaos")]
pub struct NetworkChaosArgs {
    /// Enable the network chaos flags (as in talosctl, they are refused without it)
    #[arg(long)]
    pub with_network_chaos: bool,
    /// Random packet loss on every node's link, each direction, as a fraction: 0.2 = 20 %
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction)]
    pub with_network_packet_loss: Option<f64>,
    /// Bandwidth limit of every node's link, each direction, in kbit/s
    #[arg(long, value_name = "KBPS", value_parser = parse_bandwidth)]
    pub with_network_bandwidth: Option<u32>,
    /// Latency on every node's link (needs the kernel's netem, sch_netem)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub with_network_latency: Option<Duration>,
    /// Jitter of that latency (needs sch_netem)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub with_network_jitter: Option<Duration>,
    /// Reordered packets, as a fraction (needs sch_netem and a latency)
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction)]
    pub with_network_packet_reorder: Option<f64>,
    /// Corrupted packets, as a fraction (needs sch_netem)
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction)]
    pub with_network_packet_corrupt: Option<f64>,
}

#[derive(Debug, Args)]
pub struct ClusterDestroyArgs {
    /// Cluster name
    #[arg(long, default_value = "weft-default")]
    pub name: String,
    /// Where cluster state lives [default: ~/.weft/clusters]
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("change")
        .required(true)
        .multiple(true)
        .args(["loss", "bandwidth", "partition", "heal", "clear"])
))]
pub struct ClusterChaosArgs {
    /// Cluster name
    #[arg(long, default_value = "weft-default")]
    pub name: String,
    /// Where cluster state lives [default: ~/.weft/clusters]
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// The node --loss, --bandwidth and --clear apply to, by index (i of weft-<name>-<i>)
    /// [default: every node]
    #[arg(long, value_name = "I", value_parser = clap::value_parser!(u8).range(1..))]
    pub node: Option<u8>,
    /// Random loss on the node's link, each direction, in percent (0 removes it)
    #[arg(long, value_name = "PERCENT", value_parser = parse_loss_percent)]
    pub loss: Option<f64>,
    /// Bandwidth limit of the node's link, each direction, in kbit/s (0 removes it)
    #[arg(long, value_name = "KBPS", value_parser = parse_bandwidth)]
    pub bandwidth: Option<u32>,
    /// Drop everything between nodes I and J, both directions; both still reach the others and
    /// the host (repeatable)
    #[arg(long, value_name = "I,J", value_parser = parse_pair)]
    pub partition: Vec<(usize, usize)>,
    /// Undo --partition I,J (repeatable)
    #[arg(long, value_name = "I,J", value_parser = parse_pair)]
    pub heal: Vec<(usize, usize)>,
    /// Remove every impairment of --node, its partitions included, or of every node
    #[arg(long, conflicts_with_all = ["loss", "bandwidth", "partition", "heal"])]
    pub clear: bool,
}
