//! weftd's life: load the config, prepare the state directory and identities, start the controller
//! engine and the node API, and stop both cleanly on SIGINT/SIGTERM.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;
use weft_api::config::validate::{ConfigError, load_machine_config};
use weft_api::fsutil;
use weft_api::resource::Resource;
use weft_api::resources::LOCAL_ID;
use weft_api::resources::cluster::identity::{
    IdentitySpec as NodeIdentity, NODE_IDENTITY_FILE_NAME,
};
use weft_api::resources::kubespan::identity::{IDENTITY_FILE_NAME, IdentityFile};

use crate::config_store::ConfigStore;
use crate::controllers::cluster::affiliate_merge::AffiliateMergeController;
use crate::controllers::cluster::discovery_service::DiscoveryServiceController;
use crate::controllers::cluster::external_peer::ExternalPeerController;
use crate::controllers::cluster::local_affiliate::{LocalAffiliateController, OsHostname};
use crate::controllers::cluster::member::MemberController;
use crate::controllers::cluster::node_address::NodeAddressController;
use crate::controllers::kubespan::endpoint::EndpointController;
use crate::controllers::kubespan::manager::ManagerController;
use crate::controllers::kubespan::nat::NatController;
use crate::controllers::kubespan::peer_spec::PeerSpecController;
use crate::controllers::kubespan::{config::ConfigController, identity};
use crate::discovery::GrpcDialer;
use crate::os::addresses::OsAddresses;
use crate::runtime::engine::Engine;
use crate::runtime::state::State;
use crate::server;
use crate::wg::DataPlane as _;
use crate::wg::userspace::{UserspaceDataPlane, UserspaceOptions};
use weft_api::config::validate::Backend;

/// How long shutdown waits for the API and controllers to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Owner of resources weftd writes itself at start (definitions, node identity).
const OWNER_RUNTIME: &str = "runtime";

/// Command-line options.
#[derive(Debug, Clone)]
pub struct Options {
    pub config: PathBuf,
    pub state_dir: Option<PathBuf>,
    pub reset_identity: bool,
    /// The log lines `weftctl logs` reads, filled by the tracing layer `main` installs.
    pub logs: Arc<crate::logs::LogRing>,
}

/// Why weftd stopped with an error; the binary maps these to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Exit code 2: the config is unreadable or invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Exit code 1.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Creates the state directory (0700) if missing.
fn prepare_state_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating the state directory {}", dir.display()))?;
    }
    let mode = std::fs::metadata(dir)
        .with_context(|| format!("state directory {}", dir.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), mode = format!("{:o}", mode & 0o777), "the state directory is readable by others; it holds private keys");
    }
    Ok(())
}

/// Loads (or creates) the identity files before anything runs, so a corrupt file stops weftd with
/// a message naming it. `--reset-identity` replaces the KubeSpan key pair on purpose.
fn check_identities(state_dir: &Path, reset: bool) -> anyhow::Result<NodeIdentity> {
    let (node, created) = NodeIdentity::load_or_create(&state_dir.join(NODE_IDENTITY_FILE_NAME))?;
    if created {
        tracing::info!(node_id = %node.node_id, "generated the node identity");
    }
    let kubespan = state_dir.join(IDENTITY_FILE_NAME);
    if reset {
        let keys = IdentityFile::generate();
        fsutil::write_atomic(
            &kubespan,
            keys.to_yaml().as_bytes(),
            fsutil::SECRET_FILE_MODE,
        )
        .with_context(|| format!("writing {}", kubespan.display()))?;
        tracing::warn!(file = %kubespan.display(), public_key = %keys.public_key, "--reset-identity: generated a new KubeSpan key pair; peers learn it through discovery");
    } else if kubespan.exists() {
        tighten_secret_file(&kubespan)?;
        IdentityFile::load(&kubespan)?;
    }
    Ok(node)
}

/// A file holding a private key must be private. One that others can read (0644 after a copy or a
/// restore from backup) is tightened to 0600 with a warning — refusing to start would take the node
/// off the mesh for something weftd can fix itself; the warning says the key may have leaked. If
/// the mode cannot be changed (another owner, a read-only file system), weftd refuses to start.
fn tighten_secret_file(path: &Path) -> anyhow::Result<()> {
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading the mode of {}", path.display()))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(
        path,
        std::fs::Permissions::from_mode(fsutil::SECRET_FILE_MODE),
    )
    .with_context(|| {
        format!(
            "{} is readable by others (mode {mode:o}) and could not be made private",
            path.display()
        )
    })?;
    tracing::warn!(
        file = %path.display(),
        was = format!("{mode:o}"),
        now = format!("{:o}", fsutil::SECRET_FILE_MODE),
        "the KubeSpan identity file was readable by others; made it private. Its private key may have been read: `weftd --reset-identity` replaces it"
    );
    Ok(())
}

/// Registers every resource type and publishes the definitions as resources (`weftctl get rd`).
fn register_types(state: &State) -> anyhow::Result<()> {
    for definition in crate::resources::all_definitions() {
        state.register_definition(definition)?;
    }
    for definition in state.definitions() {
        state.create(Resource::new(&definition.id(), &definition)?.owned_by(OWNER_RUNTIME))?;
    }
    Ok(())
}

/// The cluster discovery chain: node addresses → this node's affiliate → the discovery services →
/// merged affiliates → members and KubeSpan peer specs.
fn add_discovery_controllers(engine: &mut Engine, state: &State) -> anyhow::Result<()> {
    engine.add(NodeAddressController::new(Box::new(OsAddresses)))?;
    engine.add(LocalAffiliateController::new(Box::new(OsHostname)))?;
    engine.add(DiscoveryServiceController::new(
        state,
        Arc::new(GrpcDialer),
    )?)?;
    engine.add(AffiliateMergeController)?;
    engine.add(MemberController)?;
    engine.add(PeerSpecController::default())?;
    Ok(())
}

/// Runs weftd until a signal.
pub async fn run(options: Options) -> Result<(), AppError> {
    match crate::os::rlimit::raise_nofile() {
        Ok((before, after)) if after > before => {
            tracing::info!(before, after, "raised the open-file limit");
        }
        Ok(_) => {}
        Err(err) => tracing::warn!(%err, "raising the open-file limit"),
    }
    let valid = load_machine_config(&options.config)?;
    let settings = valid.settings.clone();
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let state_dir = options
        .state_dir
        .clone()
        .unwrap_or(settings.state_dir.clone());
    prepare_state_dir(&state_dir)?;
    let node = check_identities(&state_dir, options.reset_identity)?;
    if settings.kubespan.enabled {
        // The KubeSpan address comes from the first Ethernet link's MAC: without one weftd would
        // serve an empty mesh with the reason only in its log. Stop with the reason instead (a
        // service manager restarts weftd once a link exists).
        identity::HardwareAddr::first_mac(&identity::SysfsHardwareAddr).map_err(|e| {
            anyhow::anyhow!(
                "no usable link for KubeSpan: {e:#} (machine.network.kubespan.enabled is true; is weftd started before the network is up, or in an empty network namespace?)"
            )
        })?;
    }

    let state = State::new();
    register_types(&state)?;
    state
        .create(
            Resource::new(LOCAL_ID, &node)
                .context("node identity")?
                .owned_by(OWNER_RUNTIME),
        )
        .context("node identity")?;
    let config = Arc::new(ConfigStore::new(
        options.config.clone(),
        valid,
        state.clone(),
    )?);

    let mut engine = Engine::new(state.clone());
    engine.add(ConfigController).map_err(anyhow::Error::from)?;
    engine
        .add(identity::IdentityController::new(
            state_dir.clone(),
            Box::new(identity::SysfsHardwareAddr),
        ))
        .map_err(anyhow::Error::from)?;
    add_discovery_controllers(&mut engine, &state)?;
    engine
        .add(ExternalPeerController::load(&state_dir, &state)?)
        .map_err(anyhow::Error::from)?;
    let data_plane = Arc::new(data_plane(settings.kubespan.backend)?);
    engine
        .add(ManagerController::new(Arc::clone(&data_plane)))
        .map_err(anyhow::Error::from)?;
    engine
        .add(EndpointController)
        .map_err(anyhow::Error::from)?;
    engine
        .add(NatController::new(Arc::clone(&data_plane)))
        .map_err(anyhow::Error::from)?;

    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    let serving = server::tls::issue(
        &settings.ca,
        &hostname,
        &server::tls::local_addresses(),
        &settings.cert_sans,
    )?;
    tracing::info!(sans = ?serving.sans, node_id = %node.node_id, "weftd starting");

    let shutdown = CancellationToken::new();
    if let Some(addr) = settings.metrics_listen {
        let metrics = crate::metrics::Metrics::new(
            state.clone(),
            &settings.kubespan.interface,
            data_plane.offloads(),
        );
        let at = crate::metrics::start(addr, metrics, shutdown.clone()).await?;
        tracing::info!(%at, "serving metrics on /metrics");
    }
    let engine_task = tokio::spawn(engine.run(shutdown.clone()));
    let server_task = tokio::spawn(server::serve(
        settings.api_listen,
        state,
        config,
        serving,
        Arc::clone(&options.logs),
        shutdown.clone(),
    ));

    let signal = wait_for_signal();
    tokio::pin!(server_task);
    let server_result = tokio::select! {
        name = signal => {
            tracing::info!(signal = name, "shutting down");
            shutdown.cancel();
            None
        }
        result = &mut server_task => {
            shutdown.cancel();
            Some(result)
        }
    };
    let server_result = match server_result {
        Some(r) => r,
        None => tokio::time::timeout(SHUTDOWN_GRACE, server_task)
            .await
            .context("the node API did not stop in time")?,
    };
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, engine_task).await;
    // The userspace device dies with the process anyway; removing it here also removes its routes,
    // rules and UAPI socket, and reports what could not be removed.
    match tokio::time::timeout(SHUTDOWN_GRACE, data_plane.remove()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(%err, "removing the WireGuard interface"),
        Err(_) => tracing::warn!("removing the WireGuard interface took too long"),
    }
    server_result.context("node API task")??;
    Ok(())
}

/// The data plane for `backend`: the embedded userspace WireGuard. The manager always hands it
/// KubeSpan's traffic capture (nftables marks, table 180, rule priority 32500, tunnel packets
/// marked 0x20 by default), which decides the routing, so the backend's own routing option stays
/// at its default.
fn data_plane(backend: Backend) -> anyhow::Result<UserspaceDataPlane> {
    if backend == Backend::Kernel {
        anyhow::bail!(
            "machine.network.kubespan.backend: kernel is not available in this build (no kernel WireGuard to test it against); use auto or userspace"
        );
    }
    UserspaceDataPlane::new(UserspaceOptions::default())
        .context("starting the WireGuard data plane")
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers weftd can only be killed; run until then.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
