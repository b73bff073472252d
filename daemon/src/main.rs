//! weftd: parse, run, map the error to an exit code (2: invalid config, 1: anything else).

use std::process::ExitCode;

use clap::Parser;
use weftd::args::Args;

fn main() -> ExitCode {
    let args = Args::parse();
    let logs = weftd::logs::LogRing::new();
    {
        use tracing_subscriber::Layer as _;
        use tracing_subscriber::layer::SubscriberExt as _;
        use tracing_subscriber::util::SubscriberInitExt as _;
        use weftd::metrics::events::{EngineWarnings, ReconcileErrors};
        let filter = || {
            tracing_subscriber::EnvFilter::try_from_env("WEFTD_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        };
        tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_writer(std::io::stderr)
                    .with_filter(filter()),
            )
            // The same lines, kept for `weftctl logs`.
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(weftd::logs::LogWriter(std::sync::Arc::clone(&logs)))
                    .with_filter(filter()),
            )
            // Counts reconcile errors for the metrics, whatever WEFTD_LOG lets through.
            .with(ReconcileErrors.with_filter(EngineWarnings))
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let options = weftd::app::Options {
        config: args.config,
        state_dir: args.state_dir,
        reset_identity: args.reset_identity,
        logs,
    };
    match runtime.block_on(weftd::app::run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(weftd::app::AppError::Config(err)) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
        Err(weftd::app::AppError::Other(err)) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(1)
        }
    }
}
