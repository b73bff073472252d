//! weftd's command line, as clap types only (public so its man page is rendered from it).

use std::path::PathBuf;

use clap::Parser;

/// weftd — the Weft node daemon: KubeSpan identity, discovery, the WireGuard mesh and the node API.
#[derive(Debug, Parser)]
#[command(name = "weftd", version)]
pub struct Args {
    /// The machine config
    #[arg(short, long, value_name = "FILE")]
    pub config: PathBuf,
    /// State directory (identities) [default: machine.stateDir, /var/lib/weft]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Generate a new KubeSpan key pair, replacing the stored one (changes the node's public key)
    #[arg(long)]
    pub reset_identity: bool,
}
