//! One module per leaf command; [`run`] dispatches.

use crate::args::{Cli, ClusterCommand, Command, ConfigCommand, ExternalPeerCommand, GenCommand};

pub mod apply_config;
pub mod cluster;
pub mod completion;
pub mod config;
pub mod dashboard;
pub mod external_peer;
pub mod gen_config;
pub mod gen_secrets;
pub mod get;
pub mod health;
pub mod leave;
pub mod logs;
pub mod validate;
pub mod version;

/// A single-threaded runtime: weftctl's concurrency is I/O across nodes, not CPU.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Gen(g) => match &g.command {
            GenCommand::Secrets(args) => gen_secrets::run(args, g.force),
            GenCommand::Config(args) => gen_config::run(args, g.force),
        },
        Command::Validate(args) => validate::run(&args),
        Command::Version(args) => runtime()?.block_on(version::run(&cli.global, &args)),
        Command::Completion(args) => completion::run(&args),
        Command::Get(args) => runtime()?.block_on(get::run(&cli.global, &args)),
        Command::Health(args) => runtime()?.block_on(health::run(&cli.global, &args)),
        Command::ApplyConfig(args) => runtime()?.block_on(apply_config::run(&cli.global, &args)),
        Command::Leave => runtime()?.block_on(leave::run(&cli.global)),
        Command::Logs(args) => runtime()?.block_on(logs::run(&cli.global, &args)),
        Command::Dashboard(args) => runtime()?.block_on(dashboard::run(&cli.global, &args)),
        Command::ExternalPeer(args) => match &args.command {
            ExternalPeerCommand::Add(a) => runtime()?.block_on(external_peer::add(&cli.global, a)),
            ExternalPeerCommand::Remove(a) => {
                runtime()?.block_on(external_peer::remove(&cli.global, a))
            }
        },
        Command::Cluster(args) => match &args.command {
            ClusterCommand::Create(a) => runtime()?.block_on(cluster::create(&cli.global, a)),
            ClusterCommand::Destroy(a) => cluster::destroy(a),
            ClusterCommand::Chaos(a) => cluster::chaos::run_chaos(a),
        },
        Command::Config(args) => match &args.command {
            ConfigCommand::New(a) => runtime()?.block_on(config::new(&cli.global, a)),
            ConfigCommand::Contexts => config::contexts(&cli.global),
            ConfigCommand::UseContext(a) => config::use_context(&cli.global, a),
            ConfigCommand::Merge(a) => config::merge(&cli.global, a),
            ConfigCommand::Remove(a) => config::remove(&cli.global, a),
            ConfigCommand::Info => config::info(&cli.global),
            ConfigCommand::Endpoint(a) => {
                config::set_list(&cli.global, config::ContextList::Endpoints, a)
            }
            ConfigCommand::Node(a) => config::set_list(&cli.global, config::ContextList::Nodes, a),
            ConfigCommand::Add(a) => config::add(&cli.global, a),
        },
    }
}
