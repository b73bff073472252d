//! weft-discovery: parse, run, map the error to an exit code (1: failure; clap exits 2 on usage
//! errors).

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};
use weft_discovery::app::{self, Options};
use weft_discovery::args::{Args, Switch};
use weft_discovery::conn::ConnLimits;
use weft_discovery::server::Settings;
use weft_discovery::state::Caps;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(message) = args.check() {
        Args::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_DISCOVERY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let options = Options {
        listen: args.listen,
        stun_listen: args.stun_listen,
        tls: args.tls_cert.zip(args.tls_key),
        snapshot_path: (!args.no_snapshots).then_some(args.snapshot_path),
        snapshot_interval: args.snapshot_interval,
        gc_interval: args.gc_interval,
        metrics_listen: args.metrics_listen,
        rate_limit: args.rate_limit == Switch::On,
        caps: Caps {
            max_clusters: args.max_clusters,
            max_affiliates: args.max_affiliates,
        },
        connections: ConnLimits {
            max_connections: args.max_connections,
            max_connections_per_ip: args.max_connections_per_ip,
            handshake_timeout: args.handshake_timeout,
            idle_timeout: args.idle_timeout,
            send_timeout: args.send_timeout,
            ..ConnLimits::default()
        },
        settings: Settings {
            trust_x_real_ip: args.trust_x_real_ip,
            trust_x_forwarded_for: args.trust_x_forwarded_for,
            trusted_proxies: args.trusted_proxy,
            ignore_owner_tokens: args.owned_affiliates == Switch::Off,
            redirect_endpoint: args.redirect_endpoint,
        },
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(app::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}
