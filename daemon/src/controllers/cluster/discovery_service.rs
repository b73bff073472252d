//! DiscoveryServiceController: runs one discovery client per configured service
//! (`cluster.discovery.registries.service.endpoint` and `extraEndpoints`) and turns what they learn
//! into resources:
//!
//! - every other node as a raw affiliate, ns `cluster-raw`, id `service/<nodeId>` (with several
//!   services, their reports of one node are merged, first service first);
//! - this node's public IP as the first service (in config order) saw it: `NodeAddresses`, ns
//!   `cluster`, id `service` (LocalAffiliateController advertises it as an endpoint);
//! - one `DiscoveryServiceStatuses` per service.
//!
//! Inputs: the machine config (cluster id, secret, endpoints), the node id, this node's affiliate
//! (what the clients announce), the leave request (then they withdraw), and the affiliates of the
//! external peers this node publishes (ns `cluster-external`, see `external_peer`), which every
//! client publishes too — a leave does not withdraw those — and the endpoints harvested from
//! peers (`KubeSpanEndpoints`, only with `harvestExtraEndpoints`), which every client publishes
//! under the peer's id as endpoint-only updates.
//!
//! Unlike the other controllers its reconcile is long-running: after applying its inputs it keeps
//! writing whatever the clients report, and returns only when an input changes, so the engine runs
//! it again at once. (Client reports are not resources, so the engine cannot wake it for them.)
//!
//! Clients are restarted when their cluster id, node id or secret change; a service removed from
//! the config (or discovery turned off) gets a goodbye — the node's affiliate is deleted there.
//! When weftd stops, clients just stop: the affiliate expires with its TTL unless weftd is back.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::watch;
use weft_api::config::MachineConfig;
use weft_api::config::validate::ClusterSecret;
use weft_api::discovery::Cipher;
use weft_api::resources::cluster::{
    AffiliateSpec, DiscoveryServiceStatusSpec, IdentitySpec as NodeIdentity,
};
use weft_api::resources::kubespan::EndpointSpec;
use weft_api::resources::{LOCAL_ID, NAMESPACE_CLUSTER, NAMESPACE_CLUSTER_RAW, TypedSpec};

use super::node_id;
use crate::adapters::cluster::merge::merge_into;
use crate::discovery::client::{Extras, Harvested};
use crate::discovery::{Announcement, ClientHandle, ClientParams, ClientReport, Dialer, Target};
use crate::resources::cluster::{
    DISCOVERED_ID, LeaveRequestSpec, NAMESPACE_CLUSTER_EXTERNAL, NodeAddressSpec,
};
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::{Kind, State, StateError};

/// Controller name (owner of its outputs).
pub const NAME: &str = "cluster.DiscoveryServiceController";
/// Prefix of the raw affiliates this registry writes.
pub const RAW_ID_PREFIX: &str = "service/";

/// What a client is started with; a change restarts it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientKey {
    target: Target,
    cluster_id: String,
    node_id: String,
    secret: ClusterSecret,
}

/// One configured service: a running client, or why there is none.
#[derive(Debug)]
enum Service {
    Running {
        key: ClientKey,
        handle: ClientHandle,
    },
    Invalid(String),
}

/// See the module doc.
pub struct DiscoveryServiceController<D: Dialer> {
    dialer: Arc<D>,
    /// Changes of the input kinds, seen by the long-running reconcile.
    inputs_changed: watch::Receiver<()>,
    news: Arc<watch::Sender<()>>,
    news_rx: watch::Receiver<()>,
    /// By endpoint, in config order.
    services: Vec<(String, Service)>,
}

impl<D: Dialer> std::fmt::Debug for DiscoveryServiceController<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryServiceController")
            .field(
                "services",
                &self.services.iter().map(|(e, _)| e).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn input_kinds() -> Vec<Kind> {
    vec![
        Kind::of::<MachineConfig>(),
        Kind::of::<NodeIdentity>(),
        Kind::of::<AffiliateSpec>(),
        Kind::of::<LeaveRequestSpec>(),
        Kind::of_in::<AffiliateSpec>(NAMESPACE_CLUSTER_EXTERNAL),
        Kind::of::<EndpointSpec>(),
    ]
}

impl<D: Dialer> DiscoveryServiceController<D> {
    /// A controller over `state` (whose types must be registered) dialing with `dialer`.
    pub fn new(state: &State, dialer: Arc<D>) -> Result<Self, StateError> {
        let (news, news_rx) = watch::channel(());
        Ok(DiscoveryServiceController {
            dialer,
            inputs_changed: state.subscribe_changes(&input_kinds())?,
            news: Arc::new(news),
            news_rx,
            services: Vec::new(),
        })
    }

    /// The services the config asks for, in order: endpoint → key or why not.
    fn desired(ctx: &ReconcileContext) -> anyhow::Result<Vec<(String, Result<ClientKey, String>)>> {
        let Some(settings) = crate::controllers::machine_settings(ctx)? else {
            return Ok(Vec::new());
        };
        let Some(node_id) = node_id(ctx)? else {
            return Ok(Vec::new());
        };
        let cluster = &settings.cluster;
        let discovery = &cluster.discovery;
        if !discovery.enabled || !discovery.service_registry {
            return Ok(Vec::new());
        }
        let (Some(cluster_id), Some(secret)) = (&cluster.id, &cluster.secret) else {
            // Validation requires both with discovery on; nothing to do without them.
            return Ok(Vec::new());
        };
        let mut out: Vec<(String, Result<ClientKey, String>)> = Vec::new();
        for url in &discovery.service_endpoints {
            let endpoint = url.to_string();
            if out.iter().any(|(e, _)| *e == endpoint) {
                continue;
            }
            let key = Target::from_url(url)
                .map(|target| ClientKey {
                    target,
                    cluster_id: cluster_id.clone(),
                    node_id: node_id.clone(),
                    secret: secret.clone(),
                })
                .map_err(|e| e.to_string());
            out.push((endpoint, key));
        }
        Ok(out)
    }

    /// Starts, restarts and retires clients to match `desired`.
    fn reconfigure(
        &mut self,
        desired: Vec<(String, Result<ClientKey, String>)>,
        announcement: &Announcement,
    ) {
        let mut old: BTreeMap<String, Service> = self.services.drain(..).collect();
        for (endpoint, wanted) in desired {
            let service = match (wanted, old.remove(&endpoint)) {
                (Err(why), previous) => {
                    if let Some(Service::Running { handle, .. }) = previous {
                        handle.retire();
                    }
                    Service::Invalid(why)
                }
                (
                    Ok(key),
                    Some(Service::Running {
                        key: running,
                        handle,
                    }),
                ) if running == key => Service::Running { key, handle },
                (Ok(key), previous) => {
                    let same_identity = matches!(&previous, Some(Service::Running { key: k, .. })
                        if k.target == key.target && k.cluster_id == key.cluster_id && k.node_id == key.node_id);
                    if let Some(Service::Running { handle, .. }) = previous {
                        // A new secret is the same node in the same cluster: no goodbye, the
                        // new client overwrites the data. Anything else is leaving that place.
                        if same_identity {
                            drop(handle);
                        } else {
                            handle.retire();
                        }
                    }
                    tracing::info!(service = %key.target, "starting the discovery client");
                    let params = ClientParams {
                        target: key.target.clone(),
                        cluster_id: key.cluster_id.clone(),
                        node_id: key.node_id.clone(),
                        cipher: Cipher::new(&key.secret),
                    };
                    let handle = ClientHandle::spawn(
                        self.dialer.clone(),
                        params,
                        announcement.clone(),
                        self.news.clone(),
                    );
                    Service::Running { key, handle }
                }
            };
            self.services.push((endpoint, service));
        }
        for (endpoint, service) in old {
            if let Service::Running { handle, .. } = service {
                tracing::info!(service = %endpoint, "discovery service no longer configured; withdrawing from it");
                handle.retire();
            }
        }
    }

    /// Writes the outputs from the clients' reports.
    fn write_outputs(&self, ctx: &ReconcileContext) -> anyhow::Result<()> {
        let reports: Vec<(&str, Option<ClientReport>, Option<&str>)> = self
            .services
            .iter()
            .map(|(endpoint, service)| match service {
                Service::Running { handle, .. } => (endpoint.as_str(), Some(handle.report()), None),
                Service::Invalid(why) => (endpoint.as_str(), None, Some(why.as_str())),
            })
            .collect();

        let mut merged: BTreeMap<&str, AffiliateSpec> = BTreeMap::new();
        for report in reports.iter().filter_map(|(_, r, _)| r.as_ref()) {
            for (id, spec) in &report.affiliates {
                match merged.get_mut(id.as_str()) {
                    Some(base) => merge_into(base, spec),
                    None => {
                        merged.insert(id, spec.clone());
                    }
                }
            }
        }
        let raw = merged
            .into_iter()
            .map(|(id, spec)| (format!("{RAW_ID_PREFIX}{id}"), spec));
        ctx.apply_outputs_in(NAMESPACE_CLUSTER_RAW, raw)?;

        let public_ip: Option<IpAddr> = reports
            .iter()
            .filter_map(|(_, r, _)| r.as_ref().and_then(|r| r.public_ip))
            .next();
        // In ns `cluster`, not the type's `network`: this is the address as the services see it.
        let discovered = public_ip.map(|ip| {
            let spec = NodeAddressSpec {
                addresses: vec![IpNet::from(ip)],
            };
            (DISCOVERED_ID.to_owned(), spec)
        });
        ctx.apply_outputs_in(NAMESPACE_CLUSTER, discovered)?;

        let mut statuses = Vec::with_capacity(reports.len());
        for (endpoint, report, invalid) in &reports {
            let spec = match report {
                Some(r) => DiscoveryServiceStatusSpec {
                    endpoint: (*endpoint).to_owned(),
                    connected: r.connected,
                    public_ip: r.public_ip,
                    affiliates: r.affiliates.len(),
                    announced: r.announced,
                    left: r.left,
                    last_error: r.last_error.clone().unwrap_or_default(),
                    sessions: r.counters.sessions,
                    updates: r.counters.updates,
                    watch_messages: r.counters.watch_messages,
                },
                None => DiscoveryServiceStatusSpec {
                    endpoint: (*endpoint).to_owned(),
                    last_error: invalid.unwrap_or_default().to_owned(),
                    ..DiscoveryServiceStatusSpec::default()
                },
            };
            statuses.push(((*endpoint).to_owned(), spec));
        }
        ctx.apply_outputs(statuses)?;
        Ok(())
    }
}

impl<D: Dialer> Controller for DiscoveryServiceController<D> {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        input_kinds()
    }

    fn outputs(&self) -> Vec<String> {
        vec![
            AffiliateSpec::TYPE.to_owned(),
            NodeAddressSpec::TYPE.to_owned(),
            DiscoveryServiceStatusSpec::TYPE.to_owned(),
        ]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        // As the engine does: a change from here on ends this reconcile and earns another.
        self.inputs_changed.mark_unchanged();
        let desired = Self::desired(ctx)?;
        let own_id = node_id(ctx)?;
        let left = ctx.get::<LeaveRequestSpec>(LOCAL_ID)?.is_some();
        let local = match &own_id {
            Some(id) => ctx.get::<AffiliateSpec>(id)?,
            None => None,
        };
        let announcement = match (left, local) {
            (true, _) => Announcement::Withdraw,
            (false, Some(spec)) => Announcement::Announce(Box::new(spec)),
            (false, None) => Announcement::Nothing,
        };
        let mut extras = Extras::new();
        for r in ctx.list_in::<AffiliateSpec>(NAMESPACE_CLUSTER_EXTERNAL)? {
            let spec = r.spec;
            // Never under this node's own id (external ids are not base62 node ids anyway).
            if own_id.as_ref() != Some(&spec.node_id) {
                extras.insert(spec.node_id.clone(), spec);
            }
        }
        let mut harvested = Harvested::new();
        for r in ctx.list::<EndpointSpec>()? {
            let spec = r.spec;
            if own_id.as_ref() != Some(&spec.affiliate_id) {
                harvested
                    .entry(spec.affiliate_id)
                    .or_default()
                    .insert(spec.endpoint);
            }
        }
        self.reconfigure(desired, &announcement);
        for (_, service) in &self.services {
            if let Service::Running { handle, .. } = service {
                handle.announce(&announcement);
                handle.publish_extras(&extras);
                handle.publish_endpoints(&harvested);
            }
        }
        loop {
            self.news_rx.mark_unchanged();
            self.write_outputs(ctx)?;
            tokio::select! {
                changed = self.news_rx.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                }
                // An input changed (or the state is gone): let the engine run us again.
                _ = self.inputs_changed.changed() => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use weft_api::config::secrets::SecretsBundle;
    use weft_api::config::validate::parse_machine_config;
    use weft_api::resource::{Pointer, Resource};
    use weft_api::resources::cluster::MemberSpec;
    use weft_api::resources::kubespan::{IdentitySpec as KubeSpanIdentity, PeerSpec};

    use super::*;
    use crate::config_store::ConfigStore;
    use crate::controllers::cluster::affiliate_merge::AffiliateMergeController;
    use crate::controllers::cluster::external_peer::{
        self, ExternalPeerController, ExternalPeerRequest,
    };
    use crate::controllers::cluster::local_affiliate::{HostnameSource, LocalAffiliateController};
    use crate::controllers::cluster::member::MemberController;
    use crate::controllers::cluster::node_address::NodeAddressController;
    use crate::controllers::kubespan::config::ConfigController;
    use crate::controllers::kubespan::identity::{HardwareAddr, IdentityController};
    use crate::controllers::kubespan::peer_spec::PeerSpecController;
    use crate::discovery::fake::{FakeDialer, FakeService};
    use crate::discovery::leave::leave;
    use crate::os::addresses::{AddressSource, InterfaceAddress};
    use crate::runtime::engine::Engine;
    use crate::runtime::testing::{assert_no_resource, assert_resource};
    use crate::test_support::{affiliate, fresh_state, key, set_node_id};

    const ENDPOINT: &str = "http://disco:3000/";

    struct Mac(u8);
    impl HardwareAddr for Mac {
        fn first_mac(&self) -> anyhow::Result<[u8; 6]> {
            Ok([0x02, 0, 0, 0, 0, self.0])
        }
    }

    struct Addresses(u8);
    impl AddressSource for Addresses {
        fn addresses(&self) -> anyhow::Result<Vec<InterfaceAddress>> {
            Ok(vec![InterfaceAddress {
                link: "eth0".into(),
                address: format!("172.20.0.{}/24", self.0).parse()?,
                up: true,
            }])
        }
    }

    struct Hostname;
    impl HostnameSource for Hostname {
        fn hostname(&self) -> String {
            "unused".into()
        }
    }

    fn config_text(bundle: &SecretsBundle, hostname: &str, discovery: &str) -> String {
        format!(
            "version: v1alpha1\nmachine:\n  ca: {{crt: {}, key: {}}}\n  network:\n    hostname: {hostname}\n    kubespan: {{enabled: true}}\ncluster:\n  id: {}\n  secret: {}\n  discovery: {discovery}\n",
            bundle.certs.os.crt, bundle.certs.os.key, bundle.cluster.id, bundle.cluster.secret
        )
    }

    /// One simulated node: its state, config store and running engine.
    struct Node {
        state: State,
        config: ConfigStore,
        shutdown: tokio_util::sync::CancellationToken,
        _dir: tempfile::TempDir,
        public_key: String,
    }

    async fn node(bundle: &SecretsBundle, dialer: &Arc<FakeDialer>, id: &str, n: u8) -> Node {
        let discovery =
            format!("{{enabled: true, registries: {{service: {{endpoint: '{ENDPOINT}'}}}}}}");
        node_with(bundle, dialer, id, n, &discovery).await
    }

    async fn node_with(
        bundle: &SecretsBundle,
        dialer: &Arc<FakeDialer>,
        id: &str,
        n: u8,
        discovery: &str,
    ) -> Node {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = fresh_state();
        set_node_id(&state, id);
        let text = config_text(bundle, id, discovery);
        let valid = parse_machine_config(&text, "test").expect("valid config");
        let config =
            ConfigStore::new(dir.path().join("config.yaml"), valid, state.clone()).expect("store");
        let mut engine = Engine::new(state.clone());
        engine.add(ConfigController).expect("add");
        engine
            .add(IdentityController::new(
                dir.path().to_path_buf(),
                Box::new(Mac(n)),
            ))
            .expect("add");
        engine
            .add(NodeAddressController::new(Box::new(Addresses(n))))
            .expect("add");
        engine
            .add(LocalAffiliateController::new(Box::new(Hostname)))
            .expect("add");
        engine
            .add(DiscoveryServiceController::new(&state, dialer.clone()).expect("new"))
            .expect("add");
        engine
            .add(ExternalPeerController::load(dir.path(), &state).expect("load"))
            .expect("add");
        engine.add(AffiliateMergeController).expect("add");
        engine.add(MemberController).expect("add");
        engine.add(PeerSpecController::default()).expect("add");
        let shutdown = tokio_util::sync::CancellationToken::new();
        tokio::spawn(engine.run(shutdown.clone()));
        let identity = assert_resource(&state, &Pointer::to::<KubeSpanIdentity>(LOCAL_ID), |_| {
            Ok(())
        })
        .await;
        let public_key = identity
            .decode::<KubeSpanIdentity>()
            .expect("identity")
            .public_key;
        Node {
            state,
            config,
            shutdown,
            _dir: dir,
            public_key,
        }
    }

    fn peer_check(
        label: &'static str,
        endpoints: &'static [&'static str],
    ) -> impl FnMut(&Resource) -> anyhow::Result<()> {
        move |r| {
            let spec: PeerSpec = r.decode()?;
            anyhow::ensure!(spec.label == label, "label {}", spec.label);
            let got: Vec<String> = spec.endpoints.iter().map(ToString::to_string).collect();
            anyhow::ensure!(got == endpoints, "endpoints {got:?}");
            anyhow::ensure!(
                spec.allowed_ips.len() == 2,
                "allowed {:?}",
                spec.allowed_ips
            );
            Ok(())
        }
    }

    /// Harvested endpoints (`KubeSpanEndpoints`, written by the EndpointController) are published
    /// under the peer's id as endpoint-only updates, and every node's peer spec for that peer gains
    /// them; an endpoint harvested for this node itself is not published.
    #[tokio::test(start_paused = true)]
    async fn harvested_endpoints_reach_every_node() {
        use weft_api::resources::kubespan::EndpointSpec;
        let bundle = SecretsBundle::generate().expect("bundle");
        let service = FakeService::new("203.0.113.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let a = node(&bundle, &dialer, "nodeA", 1).await;
        let b = node(&bundle, &dialer, "nodeB", 2).await;
        let b_on_a = Pointer::to::<PeerSpec>(&b.public_key);
        assert_resource(
            &a.state,
            &b_on_a,
            peer_check("nodeb", &["172.20.0.2:51820", "203.0.113.1:51820"]),
        )
        .await;
        let before = service.updates_of("nodeB");
        let own_before = service.updates_of("nodeA");
        for (id, affiliate_id, endpoint) in [
            (&b.public_key, "nodeB", "198.51.100.2:40000"),
            (&a.public_key, "nodeA", "198.51.100.1:40000"),
        ] {
            let spec = EndpointSpec {
                affiliate_id: affiliate_id.to_owned(),
                endpoint: endpoint.parse().expect("endpoint"),
            };
            let resource = Resource::new(id, &spec)
                .expect("resource")
                .owned_by(crate::controllers::kubespan::endpoint::NAME);
            a.state.create(resource).expect("create");
        }
        service.wait_updates("nodeB", before + 1).await;
        let update = service.last_update("nodeB").expect("update");
        assert_eq!(update.affiliate_data, None, "endpoint-only");
        assert_resource(
            &a.state,
            &b_on_a,
            peer_check(
                "nodeb",
                &[
                    "172.20.0.2:51820",
                    "203.0.113.1:51820",
                    "198.51.100.2:40000",
                ],
            ),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            service.updates_of("nodeA"),
            own_before,
            "nothing under a's own id"
        );
        drop(b);
    }

    /// The whole chain on two simulated nodes sharing one service: addresses and identity →
    /// local affiliate → published → discovered → raw → merged → members and peer specs; then
    /// one node leaves, and the other stops discovery (a goodbye).
    #[tokio::test(start_paused = true)]
    async fn two_nodes_find_each_other_then_leave() {
        let bundle = SecretsBundle::generate().expect("bundle");
        let service = FakeService::new("203.0.113.1");
        let other = FakeService::new("203.0.113.1");
        let dialer = FakeDialer::new([("disco", service.clone()), ("other", other.clone())]);
        let a = node(&bundle, &dialer, "nodeA", 1).await;
        let b = node(&bundle, &dialer, "nodeB", 2).await;

        // a sees b as a peer: b's routed address, then the public IP the service saw.
        let b_on_a = Pointer::to::<PeerSpec>(&b.public_key);
        assert_resource(
            &a.state,
            &b_on_a,
            peer_check("nodeb", &["172.20.0.2:51820", "203.0.113.1:51820"]),
        )
        .await;
        assert_resource(
            &b.state,
            &Pointer::to::<PeerSpec>(&a.public_key),
            peer_check("nodea", &["172.20.0.1:51820", "203.0.113.1:51820"]),
        )
        .await;
        // The raw affiliate, both members, the public address and the service's status.
        assert_resource(
            &a.state,
            &Pointer::to_in::<AffiliateSpec>(NAMESPACE_CLUSTER_RAW, "service/nodeB"),
            |_| Ok(()),
        )
        .await;
        for name in ["nodea", "nodeb"] {
            let m = assert_resource(&a.state, &Pointer::to::<MemberSpec>(name), |_| Ok(())).await;
            assert_eq!(
                m.decode::<MemberSpec>().expect("member").operating_system,
                super::super::local_affiliate::OPERATING_SYSTEM
            );
        }
        let public = a
            .state
            .get(&Pointer::to_in::<NodeAddressSpec>(
                NAMESPACE_CLUSTER,
                DISCOVERED_ID,
            ))
            .expect("public address");
        assert_eq!(
            public.decode::<NodeAddressSpec>().expect("spec").addresses,
            vec!["203.0.113.1/32".parse::<IpNet>().expect("net")]
        );
        let status = assert_resource(
            &a.state,
            &Pointer::to::<DiscoveryServiceStatusSpec>(ENDPOINT),
            |r| {
                let s: DiscoveryServiceStatusSpec = r.decode()?;
                anyhow::ensure!(s.connected && s.announced && s.affiliates == 1, "{s:?}");
                Ok(())
            },
        )
        .await;
        assert_eq!(status.metadata.owner, NAME);

        // b leaves: its affiliate is deleted from the service and a drops the peer.
        let outcome = leave(&b.state, &[ENDPOINT.to_owned()], Duration::from_secs(15))
            .await
            .expect("leave");
        assert!(outcome[0].deleted, "{outcome:?}");
        assert_no_resource(&a.state, &b_on_a).await;
        assert_no_resource(&a.state, &Pointer::to::<MemberSpec>("nodeb")).await;
        // b no longer has a local affiliate and keeps quiet across refreshes.
        assert_no_resource(&b.state, &Pointer::to::<AffiliateSpec>("nodeB")).await;
        let updates = service.updates_of("nodeB");
        tokio::time::sleep(crate::discovery::client::REFRESH_INTERVAL * 2).await;
        assert_eq!(service.updates_of("nodeB"), updates);
        assert!(service.updates_of("nodeA") > 1, "a refreshed meanwhile");

        // a moves to another service: the old client retires with a goodbye, its status goes,
        // and a announces itself on the new one.
        let moved = config_text(
            &bundle,
            "nodeA",
            "{enabled: true, registries: {service: {endpoint: 'http://other:3000/'}}}",
        );
        a.config.apply(&moved, false).expect("apply");
        assert_no_resource(
            &a.state,
            &Pointer::to::<DiscoveryServiceStatusSpec>(ENDPOINT),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            service.stored(
                &bundle.cluster.id,
                "nodeA",
                &Cipher::new(
                    &weft_api::config::validate::decode_cluster_secret(&bundle.cluster.secret)
                        .expect("secret"),
                )
            ),
            None
        );
        assert_eq!(service.deletes_of("nodeA"), 1);
        other.wait_updates("nodeA", 1).await;
        a.shutdown.cancel();
        b.shutdown.cancel();
    }

    /// An external peer added on one node becomes a peer of every node (without a KubeSpan address:
    /// its announced networks are what is routed to it) and a member; it is refreshed with the
    /// TTL, survives the node's leave, and disappears everywhere when removed.
    #[tokio::test(start_paused = true)]
    async fn an_external_peer_reaches_every_node_until_removed() {
        let bundle = SecretsBundle::generate().expect("bundle");
        let service = FakeService::new("203.0.113.1");
        let dialer = FakeDialer::new([("disco", service.clone())]);
        let a = node(&bundle, &dialer, "nodeA", 1).await;
        let b = node(&bundle, &dialer, "nodeB", 2).await;
        assert_resource(
            &a.state,
            &Pointer::to::<PeerSpec>(&b.public_key),
            |_| Ok(()),
        )
        .await;

        let router_key = key(42);
        let request = ExternalPeerRequest {
            name: "router".into(),
            public_key: router_key.clone(),
            endpoint: "198.51.100.42:51820".into(),
            addresses: vec!["10.99.0.1".into(), "192.168.50.0/24".into()],
        };
        let added = external_peer::add(&a.state, &request).await.expect("add");
        assert_eq!(added.affiliate_id, "external-router");
        let spec_ptr = Pointer::to::<PeerSpec>(&router_key);
        for n in [&a, &b] {
            assert_resource(&n.state, &spec_ptr, |r| {
                let spec: PeerSpec = r.decode()?;
                anyhow::ensure!(spec.label == "router", "label {}", spec.label);
                anyhow::ensure!(spec.address.is_none(), "address {:?}", spec.address);
                let allowed: Vec<String> =
                    spec.allowed_ips.iter().map(ToString::to_string).collect();
                anyhow::ensure!(
                    allowed == ["10.99.0.1/32", "192.168.50.0/24"],
                    "allowed {allowed:?}"
                );
                let eps: Vec<String> = spec.endpoints.iter().map(ToString::to_string).collect();
                anyhow::ensure!(eps == ["198.51.100.42:51820"], "endpoints {eps:?}");
                Ok(())
            })
            .await;
        }
        assert_resource(&b.state, &Pointer::to::<MemberSpec>("router"), |_| Ok(())).await;

        // Kept fresh like the node's own affiliate, also after the node leaves.
        leave(&a.state, &[ENDPOINT.to_owned()], Duration::from_secs(15))
            .await
            .expect("leave");
        let before = service.updates_of("external-router");
        tokio::time::sleep(
            crate::discovery::client::REFRESH_INTERVAL * 2 + Duration::from_secs(60),
        )
        .await;
        let after = service.updates_of("external-router");
        assert!(after >= before + 2, "{before} -> {after}");
        assert_resource(&b.state, &spec_ptr, |_| Ok(())).await;

        external_peer::remove(&a.state, "router")
            .await
            .expect("remove");
        for n in [&a, &b] {
            assert_no_resource(&n.state, &spec_ptr).await;
        }
        assert_no_resource(&b.state, &Pointer::to::<MemberSpec>("router")).await;
        assert_eq!(service.deletes_of("external-router"), 1);
        a.shutdown.cancel();
        b.shutdown.cancel();
    }

    /// Two services at once: what each reports is merged into one raw affiliate per node, the
    /// public IP comes from the first service, and each service has its status.
    #[tokio::test(start_paused = true)]
    async fn several_services_are_merged() {
        let bundle = SecretsBundle::generate().expect("bundle");
        let first = FakeService::new("198.51.100.1");
        let second = FakeService::new("198.51.100.2");
        let dialer = FakeDialer::new([("first", first.clone()), ("second", second.clone())]);
        let cipher = Cipher::new(
            &weft_api::config::validate::decode_cluster_secret(&bundle.cluster.secret)
                .expect("secret"),
        );
        let cluster = bundle.cluster.id.clone();
        let mut x_first = affiliate("x", 7);
        x_first.hostname = "x-first".into();
        let mut x_second = x_first.clone();
        x_second.hostname = "x-second".into();
        x_second.kubespan.endpoints = vec!["198.51.100.7:51820".parse().expect("ep")];
        first.put(&cluster, "x", &cipher, &x_first);
        second.put(&cluster, "x", &cipher, &x_second);
        second.put(&cluster, "y", &cipher, &affiliate("y", 8));
        let a = node_with(
            &bundle,
            &dialer,
            "nodeA",
            1,
            "{enabled: true, registries: {service: {endpoint: 'http://first:3000/', extraEndpoints: ['http://second:3000/']}}}",
        )
        .await;
        let x = assert_resource(
            &a.state,
            &Pointer::to_in::<AffiliateSpec>(NAMESPACE_CLUSTER_RAW, "service/x"),
            |r| {
                let spec: AffiliateSpec = r.decode()?;
                anyhow::ensure!(spec.kubespan.endpoints.len() == 2, "{spec:?}");
                Ok(())
            },
        )
        .await;
        let x: AffiliateSpec = x.decode().expect("spec");
        // Lists unioned in service order; scalars from the later service.
        assert_eq!(x.hostname, "x-second");
        assert_eq!(
            x.kubespan.endpoints,
            [
                x_first.kubespan.endpoints[0],
                x_second.kubespan.endpoints[0]
            ]
        );
        assert_resource(
            &a.state,
            &Pointer::to_in::<AffiliateSpec>(NAMESPACE_CLUSTER_RAW, "service/y"),
            |_| Ok(()),
        )
        .await;
        let public: NodeAddressSpec = a
            .state
            .get(&Pointer::to_in::<NodeAddressSpec>(
                NAMESPACE_CLUSTER,
                DISCOVERED_ID,
            ))
            .expect("public address")
            .decode()
            .expect("spec");
        assert_eq!(
            public.addresses,
            vec!["198.51.100.1/32".parse::<IpNet>().expect("net")]
        );
        for endpoint in ["http://first:3000/", "http://second:3000/"] {
            assert_resource(
                &a.state,
                &Pointer::to::<DiscoveryServiceStatusSpec>(endpoint),
                |r| {
                    let s: DiscoveryServiceStatusSpec = r.decode()?;
                    anyhow::ensure!(s.connected && s.announced, "{s:?}");
                    Ok(())
                },
            )
            .await;
        }
        // This node is announced on both.
        first.wait_updates("nodeA", 1).await;
        second.wait_updates("nodeA", 1).await;
        a.shutdown.cancel();
    }
}
