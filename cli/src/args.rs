//! The command line, as clap types only. Flags and names follow talosctl's so scripts carry over.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// weftctl — full-mesh WireGuard networking for clusters that span the edge, the datacenter and the
/// cloud.
#[derive(Debug, Parser)]
#[command(
    name = "weftctl",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
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
    Config(GenConfigArgs),
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
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Path of the machine config to validate
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Print only the version number
    #[arg(long)]
    pub short: bool,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
