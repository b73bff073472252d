//! LocalAffiliateController: config, identities and addresses → this node's affiliate
//! (`Affiliates.cluster.weft.dev`, ns `cluster`, id = node id) — what the discovery clients
//! publish, built as Talos's `local_affiliate.go` builds it.
//!
//! It exists only while the service registry has at least one endpoint (nobody to tell
//! otherwise) and no leave was requested. Fields:
//!
//! - `addresses`: the routed node addresses; `hostname`: `machine.network.hostname`, else the OS
//!   hostname; `nodename`: the hostname's first label, lower-case (a Kubernetes node name);
//!   `operatingSystem`: `Weft (v<version>)`; `machineType`: the config's.
//! - `kubespan` (with KubeSpan enabled and its identity present): the public key, the KubeSpan
//!   address, the excluded networks, the advertised networks (`additionalAddresses`), and the
//!   endpoints:
//!
//! ```text
//! node addresses − the KubeSpan address − SideroLink ULAs
//!   + the public IP a discovery service saw (if new)
//!   → filters.endpoints (if any)  → ip:listenPort
//!   + the public endpoint STUN observed (Weft, if new and the filters pass its IP), placed
//!     before <public IP>:listenPort
//!   + extraAnnouncedEndpoints (if new)
//! ```
//!
//! The STUN-observed endpoint (`KubeSpanNATStatuses`, see `kubespan::nat`) is the port the NAT
//! really maps for WireGuard; KubeSpan's `<public IP>:listenPort` is a guess that holds only when
//! the NAT keeps the port or the port is forwarded, so it stays, after the observed one.
//!
//! Talos fills `additionalAddresses` with the Kubernetes pod CIDRs (`advertiseKubernetesNetworks`);
//! Weft has no Kubernetes, so it takes them from `advertisedNetworks` (Weft's key), and
//! `controlPlane` stays empty.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use weft_api::config::MachineConfig;
use weft_api::config::filter::{IpFilter, filter_ips};
use weft_api::config::validate::check_hostname;
use weft_api::discovery::affiliate::MAX_ENDPOINTS;
use weft_api::resources::cluster::{
    AffiliateSpec, IdentitySpec as NodeIdentity, KubeSpanAffiliateSpec, MachineType,
};
use weft_api::resources::kubespan::IdentitySpec as KubeSpanIdentity;
use weft_api::resources::kubespan::NatStatusSpec;
use weft_api::resources::kubespan::address::{ULA_PURPOSE_SIDEROLINK, is_ula};
use weft_api::resources::{LOCAL_ID, NAMESPACE_CLUSTER, TypedSpec};

use super::node_id;
use crate::resources::cluster::{DISCOVERED_ID, LeaveRequestSpec, NodeAddressSpec, ROUTED_ID};
use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "cluster.LocalAffiliateController";
/// How often the OS hostname is read again when the config does not set one.
pub const HOSTNAME_POLL: Duration = Duration::from_secs(30);
/// The `operatingSystem` this node reports.
pub const OPERATING_SYSTEM: &str = concat!("Weft (v", env!("CARGO_PKG_VERSION"), ")");

/// Where the OS hostname comes from (gethostname in weftd, a fixed name in tests).
pub trait HostnameSource: Send + Sync + 'static {
    fn hostname(&self) -> String;
}

/// The OS hostname.
#[derive(Debug, Default)]
pub struct OsHostname;

impl HostnameSource for OsHostname {
    fn hostname(&self) -> String {
        gethostname::gethostname().to_string_lossy().into_owned()
    }
}

/// What the local affiliate is built from.
#[derive(Debug, Clone)]
pub struct LocalInputs<'a> {
    pub node_id: &'a str,
    /// Already checked (an invalid one is passed as empty).
    pub hostname: &'a str,
    pub machine_type: MachineType,
    pub routed: &'a [IpNet],
    pub public_ip: Option<IpAddr>,
    /// This node's WireGuard socket as a STUN server saw it.
    pub public_endpoint: Option<SocketAddr>,
    /// The KubeSpan config (enabled) and identity, when both exist.
    pub kubespan: Option<(&'a KubeSpanConfigSpec, &'a KubeSpanIdentity)>,
}

/// The node name for a hostname: its first label, lower-case.
pub fn nodename(hostname: &str) -> String {
    hostname
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The endpoints this node advertises (see the module doc), at most [`MAX_ENDPOINTS`].
pub fn endpoints(
    routed: &[IpNet],
    kubespan_address: IpAddr,
    public_ip: Option<IpAddr>,
    public_endpoint: Option<SocketAddr>,
    filters: &[IpFilter],
    listen_port: u16,
    extra: &[SocketAddr],
) -> Vec<SocketAddr> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in routed.iter().map(IpNet::addr) {
        let siderolink = matches!(ip, IpAddr::V6(v6) if is_ula(v6, ULA_PURPOSE_SIDEROLINK));
        if ip != kubespan_address && !siderolink && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    if let Some(ip) = public_ip
        && !ips.contains(&ip)
    {
        ips.push(ip);
    }
    if !filters.is_empty() {
        ips = filter_ips(filters, &ips);
    }
    let mut out: Vec<SocketAddr> = ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, listen_port))
        .collect();
    if let Some(observed) = public_endpoint
        && !out.contains(&observed)
        && (filters.is_empty() || !filter_ips(filters, &[observed.ip()]).is_empty())
    {
        let guess = public_ip.map(|ip| SocketAddr::new(ip, listen_port));
        let at = out
            .iter()
            .position(|ep| Some(*ep) == guess)
            .unwrap_or(out.len());
        out.insert(at, observed);
    }
    for ep in extra {
        if !out.contains(ep) {
            out.push(*ep);
        }
    }
    if out.len() > MAX_ENDPOINTS {
        tracing::warn!(
            count = out.len(),
            limit = MAX_ENDPOINTS,
            "more endpoints than a discovery service keeps; advertising the first ones"
        );
        out.truncate(MAX_ENDPOINTS);
    }
    out
}

/// Pure: this node's affiliate.
pub fn local_affiliate(inputs: &LocalInputs<'_>) -> AffiliateSpec {
    let kubespan = match inputs.kubespan {
        None => KubeSpanAffiliateSpec::default(),
        Some((config, identity)) => {
            let address = IpAddr::V6(identity.address.addr());
            KubeSpanAffiliateSpec {
                public_key: identity.public_key.clone(),
                address: Some(address),
                additional_addresses: config.advertised_networks.clone(),
                endpoints: endpoints(
                    inputs.routed,
                    address,
                    inputs.public_ip,
                    inputs.public_endpoint,
                    &config.endpoint_filters,
                    config.listen_port,
                    &config.extra_endpoints,
                ),
                exclude_advertised_networks: config.exclude_advertised_networks.clone(),
            }
        }
    };
    let mut addresses: Vec<IpAddr> = inputs.routed.iter().map(IpNet::addr).collect();
    addresses.dedup();
    AffiliateSpec {
        node_id: inputs.node_id.to_owned(),
        addresses,
        hostname: inputs.hostname.to_owned(),
        nodename: nodename(inputs.hostname),
        operating_system: OPERATING_SYSTEM.to_owned(),
        machine_type: inputs.machine_type,
        kubespan,
        control_plane: None,
    }
}

/// See the module doc.
pub struct LocalAffiliateController {
    hostname: Box<dyn HostnameSource>,
    /// The last invalid OS hostname warned about, so it is not repeated every poll.
    warned: Option<String>,
}

impl std::fmt::Debug for LocalAffiliateController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAffiliateController")
            .finish_non_exhaustive()
    }
}

impl LocalAffiliateController {
    pub fn new(hostname: Box<dyn HostnameSource>) -> LocalAffiliateController {
        LocalAffiliateController {
            hostname,
            warned: None,
        }
    }
}

impl Controller for LocalAffiliateController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![
            Kind::of::<MachineConfig>(),
            Kind::of::<KubeSpanConfigSpec>(),
            Kind::of::<KubeSpanIdentity>(),
            Kind::of::<NodeIdentity>(),
            Kind::of::<NodeAddressSpec>(),
            Kind::of_in::<NodeAddressSpec>(NAMESPACE_CLUSTER),
            Kind::of::<LeaveRequestSpec>(),
            Kind::of::<NatStatusSpec>(),
        ]
    }

    fn outputs(&self) -> Vec<String> {
        vec![AffiliateSpec::TYPE.to_owned()]
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(HOSTNAME_POLL)
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let desired = self.desired(ctx)?;
        ctx.apply_outputs(desired)?;
        Ok(())
    }
}

impl LocalAffiliateController {
    /// This node's affiliate, by node id, when it is to be announced.
    fn desired(
        &mut self,
        ctx: &ReconcileContext,
    ) -> anyhow::Result<Option<(String, AffiliateSpec)>> {
        let Some(settings) = crate::controllers::machine_settings(ctx)? else {
            return Ok(None);
        };
        let discovery = &settings.cluster.discovery;
        let announced = discovery.enabled
            && discovery.service_registry
            && !discovery.service_endpoints.is_empty();
        let left = ctx.get::<LeaveRequestSpec>(LOCAL_ID)?.is_some();
        let Some(node_id) = node_id(ctx)? else {
            return Ok(None);
        };
        if !announced || left {
            return Ok(None);
        }
        let hostname = match settings.hostname {
            Some(h) => h,
            None => {
                let os = self.hostname.hostname();
                match check_hostname(&os) {
                    Ok(()) => os,
                    Err(why) => {
                        if self.warned.as_deref() != Some(os.as_str()) {
                            tracing::warn!(problem = %why, "the OS hostname cannot be published; set machine.network.hostname");
                            self.warned = Some(os);
                        }
                        String::new()
                    }
                }
            }
        };
        let routed = ctx.get::<NodeAddressSpec>(ROUTED_ID)?.unwrap_or_default();
        let public_ip = ctx
            .get_in::<NodeAddressSpec>(NAMESPACE_CLUSTER, DISCOVERED_ID)?
            .and_then(|s| s.addresses.first().map(IpNet::addr));
        let config = ctx.get::<KubeSpanConfigSpec>(KubeSpanConfigSpec::ID)?;
        let identity = ctx.get::<KubeSpanIdentity>(LOCAL_ID)?;
        let kubespan = match (&config, &identity) {
            (Some(c), Some(i)) if c.enabled => Some((c, i)),
            _ => None,
        };
        let public_endpoint = match &config {
            Some(c) if c.nat_traversal => ctx
                .get::<NatStatusSpec>(LOCAL_ID)?
                .and_then(|s| s.public_endpoint),
            _ => None,
        };
        let spec = local_affiliate(&LocalInputs {
            node_id: &node_id,
            hostname: &hostname,
            machine_type: settings.machine_type.into(),
            routed: &routed.addresses,
            public_ip,
            public_endpoint,
            kubespan,
        });
        Ok(Some((node_id, spec)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=";

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("net")).collect()
    }

    fn eps(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().expect("ep")).collect()
    }

    fn config(filters: &[&str], extra: &[&str]) -> KubeSpanConfigSpec {
        KubeSpanConfigSpec {
            enabled: true,
            endpoint_filters: filters.iter().map(|s| s.parse().expect("filter")).collect(),
            exclude_advertised_networks: nets(&["10.99.0.0/16"]),
            extra_endpoints: eps(extra),
            listen_port: 51821,
            ..KubeSpanConfigSpec::default()
        }
    }

    fn identity() -> KubeSpanIdentity {
        KubeSpanIdentity {
            address: "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169/128"
                .parse()
                .expect("net"),
            subnet: "fd7f:175a:b97c:5602::/64".parse().expect("net"),
            private_key: "secret".into(),
            public_key: KEY.into(),
        }
    }

    #[test]
    fn endpoints_table() {
        let ks: IpAddr = "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169"
            .parse()
            .expect("ip");
        let routed = nets(&[
            "172.20.0.2/24",
            "192.168.1.2/24",
            "2001:db8::2/64",
            "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169/64",
            "fd7f:175a:b97c:5603::2/64",
        ]);
        let filters = |list: &[&str]| -> Vec<IpFilter> {
            list.iter().map(|s| s.parse().expect("filter")).collect()
        };
        let public: Option<IpAddr> = Some("203.0.113.7".parse().expect("ip"));
        // (name, public IP, filters, extra endpoints, expected endpoints)
        type Case = (
            &'static str,
            Option<IpAddr>,
            Vec<IpFilter>,
            Vec<SocketAddr>,
            Vec<SocketAddr>,
        );
        let cases: Vec<Case> = vec![
            (
                "own KubeSpan address and SideroLink ULAs are never endpoints; public IP last",
                public,
                vec![],
                vec![],
                eps(&[
                    "172.20.0.2:51820",
                    "192.168.1.2:51820",
                    "[2001:db8::2]:51820",
                    "203.0.113.7:51820",
                ]),
            ),
            (
                "the public IP is not repeated",
                Some("172.20.0.2".parse().expect("ip")),
                vec![],
                vec![],
                eps(&[
                    "172.20.0.2:51820",
                    "192.168.1.2:51820",
                    "[2001:db8::2]:51820",
                ]),
            ),
            (
                "filters apply in order, after the public IP is added",
                public,
                filters(&["0.0.0.0/0", "!192.168.0.0/16", "::/0"]),
                vec![],
                eps(&[
                    "172.20.0.2:51820",
                    "203.0.113.7:51820",
                    "[2001:db8::2]:51820",
                ]),
            ),
            (
                "only negations select nothing; extra endpoints still come",
                None,
                filters(&["!10.0.0.0/8"]),
                eps(&["198.51.100.1:4000", "198.51.100.1:4000"]),
                eps(&["198.51.100.1:4000"]),
            ),
            (
                "extra endpoints already advertised are not repeated",
                None,
                filters(&["172.20.0.0/16"]),
                eps(&["172.20.0.2:51820", "198.51.100.1:4000"]),
                eps(&["172.20.0.2:51820", "198.51.100.1:4000"]),
            ),
        ];
        for (name, public_ip, filters, extra, want) in cases {
            assert_eq!(
                endpoints(&routed, ks, public_ip, None, &filters, 51820, &extra),
                want,
                "{name}"
            );
        }
        let many: Vec<IpNet> = (0..100u8)
            .map(|i| IpNet::from(IpAddr::from([10, 0, 1, i])))
            .collect();
        assert_eq!(
            endpoints(&many, ks, None, None, &[], 1, &[]).len(),
            MAX_ENDPOINTS
        );
    }

    #[test]
    fn the_stun_observed_endpoint_comes_before_the_guess_and_obeys_the_filters() {
        let routed = nets(&["192.168.1.2/24"]);
        let ks: IpAddr = "fd00::1".parse().expect("ip");
        let public: Option<IpAddr> = Some("203.0.113.7".parse().expect("ip"));
        let observed: Option<SocketAddr> = Some("203.0.113.7:40001".parse().expect("ep"));
        let extra = eps(&["198.51.100.1:4000"]);
        assert_eq!(
            endpoints(&routed, ks, public, observed, &[], 51820, &extra),
            eps(&[
                "192.168.1.2:51820",
                "203.0.113.7:40001",
                "203.0.113.7:51820",
                "198.51.100.1:4000"
            ]),
            "observed, then KubeSpan's guess, then the extra ones"
        );
        let same: Option<SocketAddr> = Some("203.0.113.7:51820".parse().expect("ep"));
        assert_eq!(
            endpoints(&routed, ks, public, same, &[], 51820, &[]),
            eps(&["192.168.1.2:51820", "203.0.113.7:51820"]),
            "a NAT that keeps the port: the guess was right, listed once"
        );
        assert_eq!(
            endpoints(&routed, ks, None, observed, &[], 51820, &[]),
            eps(&["192.168.1.2:51820", "203.0.113.7:40001"]),
            "no Hello address: appended"
        );
        let private_only: Vec<IpFilter> = vec!["192.168.0.0/16".parse().expect("filter")];
        assert_eq!(
            endpoints(&routed, ks, public, observed, &private_only, 51820, &[]),
            eps(&["192.168.1.2:51820"]),
            "filters.endpoints applies to the observed address too"
        );
    }

    #[test]
    fn local_affiliate_with_and_without_kubespan() {
        let routed = nets(&["172.20.0.2/24", "2001:db8::2/64"]);
        let mut config = config(&["0.0.0.0/0"], &["198.51.100.1:4000"]);
        config.advertised_networks = nets(&["10.244.1.0/24", "fd00:10:244:1::/64"]);
        let identity = identity();
        let inputs = LocalInputs {
            node_id: "node-a",
            hostname: "Node-A.example.org",
            machine_type: MachineType::ControlPlane,
            routed: &routed,
            public_ip: Some("203.0.113.7".parse().expect("ip")),
            public_endpoint: None,
            kubespan: Some((&config, &identity)),
        };
        let spec = local_affiliate(&inputs);
        assert_eq!(spec.node_id, "node-a");
        assert_eq!(spec.hostname, "Node-A.example.org");
        assert_eq!(spec.nodename, "node-a");
        assert_eq!(
            spec.operating_system,
            format!("Weft (v{})", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(spec.machine_type, MachineType::ControlPlane);
        assert_eq!(
            spec.addresses,
            vec![
                "172.20.0.2".parse::<IpAddr>().expect("ip"),
                "2001:db8::2".parse().expect("ip")
            ]
        );
        assert_eq!(spec.kubespan.public_key, KEY);
        assert_eq!(
            spec.kubespan.address,
            Some(
                "fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169"
                    .parse()
                    .expect("ip")
            )
        );
        assert_eq!(
            spec.kubespan.endpoints,
            eps(&["172.20.0.2:51821", "203.0.113.7:51821", "198.51.100.1:4000"])
        );
        assert_eq!(
            spec.kubespan.exclude_advertised_networks,
            nets(&["10.99.0.0/16"])
        );
        assert_eq!(
            spec.kubespan.additional_addresses,
            nets(&["10.244.1.0/24", "fd00:10:244:1::/64"])
        );
        assert_eq!(spec.control_plane, None);
        // What peers will accept.
        weft_api::discovery::check_affiliate(&spec).expect("publishable");

        let spec = local_affiliate(&LocalInputs {
            kubespan: None,
            ..inputs
        });
        assert!(spec.kubespan.is_empty());
    }
}

#[cfg(test)]
mod controller_tests {
    use weft_api::config::secrets::SecretsBundle;
    use weft_api::config::validate::parse_machine_config;

    use super::*;
    use crate::config_store::ConfigStore;
    use crate::test_support::{fresh_state, set_node_id};

    struct Named(&'static str);
    impl HostnameSource for Named {
        fn hostname(&self) -> String {
            self.0.to_owned()
        }
    }

    fn config(bundle: &SecretsBundle, discovery: &str) -> String {
        format!(
            "version: v1alpha1\nmachine:\n  type: worker\n  ca: {{crt: {}, key: {}}}\ncluster:\n  id: {}\n  secret: {}\n  discovery: {discovery}\n",
            bundle.certs.os.crt, bundle.certs.os.key, bundle.cluster.id, bundle.cluster.secret
        )
    }

    async fn reconcile(
        state: &crate::runtime::state::State,
        c: &mut LocalAffiliateController,
    ) -> Vec<AffiliateSpec> {
        let mut ctx = ReconcileContext::new(state, c);
        c.reconcile(&mut ctx).await.expect("reconcile");
        state
            .list(NAMESPACE_CLUSTER, AffiliateSpec::TYPE)
            .iter()
            .map(|r| r.decode().expect("spec"))
            .collect()
    }

    #[tokio::test]
    async fn only_with_a_service_endpoint_and_the_os_hostname_checked() {
        let bundle = SecretsBundle::generate().expect("bundle");
        let dir = tempfile::tempdir().expect("tempdir");
        let state = fresh_state();
        set_node_id(&state, "node1");
        let off = parse_machine_config(&config(&bundle, "{enabled: false}"), "t").expect("valid");
        let store = ConfigStore::new(dir.path().join("c.yaml"), off, state.clone()).expect("store");
        let mut c = LocalAffiliateController::new(Box::new(Named("Worker-1.lab")));
        assert!(reconcile(&state, &mut c).await.is_empty(), "nobody to tell");

        let on = config(
            &bundle,
            "{enabled: true, registries: {service: {endpoint: 'http://127.0.0.1:3000/'}}}",
        );
        store.apply(&on, false).expect("apply");
        let got = reconcile(&state, &mut c).await;
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].hostname.as_str(), got[0].nodename.as_str()),
            ("Worker-1.lab", "worker-1")
        );
        assert_eq!(got[0].machine_type, MachineType::Worker);
        assert!(got[0].kubespan.is_empty(), "KubeSpan is off");

        // An OS hostname peers would refuse is not published.
        let mut c = LocalAffiliateController::new(Box::new(Named("bad_host name")));
        let got = reconcile(&state, &mut c).await;
        assert_eq!(
            (got[0].hostname.as_str(), got[0].nodename.as_str()),
            ("", "")
        );
    }
}
