//! `KubeSpanConfigs.kubespan.weft.dev` (ns `config`, id `kubespan`): the resolved KubeSpan
//! settings, typed. Built once, by `controllers::kubespan::config`, from the validated machine
//! config; every KubeSpan and cluster controller reads it instead of the machine config, so nothing
//! parses an address, a filter or the cluster secret twice.
//!
//! Its YAML (what `weftctl get ksc` prints) keeps Talos's field names and plain strings: networks,
//! endpoints and filters as written, the secret in base64.

use std::net::SocketAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use weft_api::config::filter::IpFilter;
use weft_api::config::validate::{ClusterSecret, RoutingSettings, Settings};
use weft_api::config::{DEFAULT_INTERFACE, DEFAULT_MTU, DEFAULT_WIREGUARD_PORT};
use weft_api::resources::{KUBESPAN_CONFIG_ID, KUBESPAN_CONFIG_TYPE, NAMESPACE_CONFIG, TypedSpec};

/// The KubeSpan settings in force. Talos's fields, plus Weft's listenPort, interface, NAT
/// traversal and routing. (The data-plane backend is not here: weftd picks it once, at start,
/// from the machine config; nothing downstream reads it.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSpanConfigSpec {
    pub enabled: bool,
    pub cluster_id: String,
    /// The cluster secret: the discovery data key and the peers' preshared key. `None` when the
    /// config has none. `Debug` never shows it.
    #[serde(with = "secret_text", default)]
    pub shared_secret: Option<ClusterSecret>,
    pub force_routing: bool,
    pub advertise_kubernetes_networks: bool,
    pub harvest_extra_endpoints: bool,
    pub mtu: u32,
    #[serde(with = "filters")]
    pub endpoint_filters: Vec<IpFilter>,
    pub exclude_advertised_networks: Vec<IpNet>,
    pub extra_endpoints: Vec<SocketAddr>,
    /// Weft: networks behind this node, published as `additionalAddresses`.
    #[serde(default)]
    pub advertised_networks: Vec<IpNet>,
    pub listen_port: u16,
    /// WireGuard link name.
    pub interface: String,
    /// Weft: STUN-learned public endpoint and hole punching.
    #[serde(default = "yes")]
    pub nat_traversal: bool,
    /// Weft: routing table, rule priority, marks and nftables table of the traffic capture.
    #[serde(default)]
    pub routing: RoutingSettings,
}

impl TypedSpec for KubeSpanConfigSpec {
    const TYPE: &'static str = KUBESPAN_CONFIG_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CONFIG;
}

impl KubeSpanConfigSpec {
    /// The id of the one config resource.
    pub const ID: &'static str = KUBESPAN_CONFIG_ID;

    /// Pure: the spec for validated `settings`.
    pub fn from_settings(settings: &Settings) -> KubeSpanConfigSpec {
        let ks = &settings.kubespan;
        KubeSpanConfigSpec {
            enabled: ks.enabled,
            cluster_id: settings.cluster.id.clone().unwrap_or_default(),
            shared_secret: settings.cluster.secret.clone(),
            force_routing: !ks.allow_down_peer_bypass,
            advertise_kubernetes_networks: ks.advertise_kubernetes_networks,
            harvest_extra_endpoints: ks.harvest_extra_endpoints,
            mtu: ks.mtu,
            endpoint_filters: ks.endpoint_filters.clone(),
            exclude_advertised_networks: ks.exclude_advertised_networks.clone(),
            extra_endpoints: ks.extra_announced_endpoints.clone(),
            advertised_networks: ks.advertised_networks.clone(),
            listen_port: ks.listen_port,
            interface: ks.interface.clone(),
            nat_traversal: ks.nat_traversal,
            routing: ks.routing.clone(),
        }
    }
}

/// A disabled KubeSpan with the machine config's defaults, so a test sets only what it is about.
impl Default for KubeSpanConfigSpec {
    fn default() -> Self {
        KubeSpanConfigSpec {
            enabled: false,
            cluster_id: String::new(),
            shared_secret: None,
            force_routing: true,
            advertise_kubernetes_networks: false,
            harvest_extra_endpoints: false,
            mtu: DEFAULT_MTU,
            endpoint_filters: Vec::new(),
            exclude_advertised_networks: Vec::new(),
            extra_endpoints: Vec::new(),
            advertised_networks: Vec::new(),
            listen_port: DEFAULT_WIREGUARD_PORT,
            interface: DEFAULT_INTERFACE.to_owned(),
            nat_traversal: true,
            routing: RoutingSettings::default(),
        }
    }
}

fn yes() -> bool {
    true
}

/// Endpoint filters as Talos writes them (`10.0.0.0/8`, `!192.168.0.0/16`).
mod filters {
    use serde::{Deserialize, Deserializer, Serializer, de};
    use weft_api::config::filter::IpFilter;

    pub fn serialize<S: Serializer>(value: &[IpFilter], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(value.iter().map(ToString::to_string))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<IpFilter>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|s| {
                s.parse().map_err(|()| {
                    de::Error::custom(format!(
                        "endpointFilters: {s:?} is not a CIDR, an IP or either prefixed with !"
                    ))
                })
            })
            .collect()
    }
}

/// The cluster secret as the config writes it (standard base64), `""` for none.
mod secret_text {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer, de};
    use weft_api::config::validate::{ClusterSecret, decode_cluster_secret};

    pub fn serialize<S: Serializer>(
        value: &Option<ClusterSecret>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(secret) => serializer.serialize_str(&STANDARD.encode(secret.bytes())),
            None => serializer.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<ClusterSecret>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() {
            return Ok(None);
        }
        // The decoder's message may quote a character of the secret: not ours to show.
        decode_cluster_secret(&text)
            .map(Some)
            .map_err(|_| de::Error::custom("sharedSecret: not 32 bytes in standard base64"))
    }
}

#[cfg(test)]
mod tests {
    use weft_api::config::validate::parse_machine_config;

    use super::*;

    fn settings_for(kubespan: &str) -> (Settings, String) {
        let bundle = weft_api::config::secrets::SecretsBundle::generate().expect("bundle");
        let text = format!(
            "version: v1alpha1\nmachine:\n  ca: {{crt: {}, key: {}}}\n  network:\n    kubespan: {kubespan}\ncluster:\n  id: the-id\n  secret: {}\n  discovery: {{enabled: true}}\n",
            bundle.certs.os.crt, bundle.certs.os.key, bundle.cluster.secret
        );
        let settings = parse_machine_config(&text, "test").expect("valid").settings;
        (settings, bundle.cluster.secret)
    }

    #[test]
    fn defaults_and_overrides() {
        let (settings, secret) = settings_for("{enabled: true}");
        let s = KubeSpanConfigSpec::from_settings(&settings);
        assert!(s.enabled && s.force_routing);
        assert_eq!((s.mtu, s.listen_port), (1420, 51820));
        assert_eq!(s.cluster_id, "the-id");
        assert_eq!(s.shared_secret, settings.cluster.secret);
        // The defaults a test starts from are the config's.
        let default = KubeSpanConfigSpec {
            enabled: true,
            cluster_id: "the-id".into(),
            shared_secret: settings.cluster.secret.clone(),
            ..KubeSpanConfigSpec::default()
        };
        assert_eq!(s, default);
        // The secret renders as written.
        let yaml = yaml_serde::to_string(&s).expect("yaml");
        assert!(
            yaml.contains(&format!("sharedSecret: {secret}\n")),
            "{yaml}"
        );

        let (settings, _) = settings_for(
            "{enabled: true, allowDownPeerBypass: true, mtu: 1380, listenPort: 51821, filters: {endpoints: ['0.0.0.0/0', '!10.0.0.0/8']}, extraAnnouncedEndpoints: ['203.0.113.7:51820']}",
        );
        let s = KubeSpanConfigSpec::from_settings(&settings);
        assert!(!s.force_routing);
        assert_eq!((s.mtu, s.listen_port), (1380, 51821));
        let filters: Vec<String> = s.endpoint_filters.iter().map(ToString::to_string).collect();
        assert_eq!(filters, ["0.0.0.0/0", "!10.0.0.0/8"]);
        assert_eq!(
            s.extra_endpoints,
            ["203.0.113.7:51820".parse::<SocketAddr>().expect("ep")]
        );
    }

    #[test]
    fn yaml_round_trips_as_strings() {
        let (settings, _) = settings_for(
            "{enabled: true, filters: {endpoints: ['10.0.0.0/8', '!10.1.0.0/16']}, extraAnnouncedEndpoints: ['[2001:db8::1]:51820'], advertisedNetworks: ['10.244.1.0/24']}",
        );
        let spec = KubeSpanConfigSpec::from_settings(&settings);
        let yaml = yaml_serde::to_string(&spec).expect("yaml");
        assert!(
            yaml.contains("endpointFilters:\n- 10.0.0.0/8\n- '!10.1.0.0/16'\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("extraEndpoints:\n- '[2001:db8::1]:51820'\n"),
            "{yaml}"
        );
        assert!(
            yaml.contains("advertisedNetworks:\n- 10.244.1.0/24\n"),
            "{yaml}"
        );
        let back: KubeSpanConfigSpec = yaml_serde::from_str(&yaml).expect("parse");
        assert_eq!(back, spec);
    }

    #[test]
    fn a_bad_secret_is_refused_without_showing_it() {
        let yaml = yaml_serde::to_string(&KubeSpanConfigSpec::default())
            .expect("yaml")
            .replace("sharedSecret: ''", "sharedSecret: not-the-secret");
        let err = yaml_serde::from_str::<KubeSpanConfigSpec>(&yaml).unwrap_err();
        assert!(err.to_string().contains("sharedSecret"), "{err}");
        assert!(!err.to_string().contains("not-the-secret"), "{err}");
    }
}
