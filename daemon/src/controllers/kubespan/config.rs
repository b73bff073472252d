//! KubeSpanConfigController: MachineConfig → `KubeSpanConfigs.kubespan.weft.dev` (ns `config`, id
//! `kubespan`, sensitive: it carries the cluster secret, as Talos's does). The resolved KubeSpan
//! settings every other KubeSpan controller reads, so they never parse the machine config.

use serde::{Deserialize, Serialize};
use weft_api::config::validate::{RoutingSettings, Settings};
use weft_api::resource::{Metadata, Resource};
use weft_api::resources::{
    KUBESPAN_CONFIG_ID, KUBESPAN_CONFIG_TYPE, MACHINE_CONFIG_TYPE, NAMESPACE_CONFIG,
};

use crate::runtime::engine::{Controller, ReconcileContext};
use crate::runtime::state::Kind;

/// Controller name (owner of its outputs).
pub const NAME: &str = "kubespan.ConfigController";

/// The KubeSpan settings in force. Talos's fields, plus Weft's listenPort and backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeSpanConfigSpec {
    pub enabled: bool,
    pub cluster_id: String,
    pub shared_secret: String,
    pub force_routing: bool,
    pub advertise_kubernetes_networks: bool,
    pub harvest_extra_endpoints: bool,
    pub mtu: u32,
    pub endpoint_filters: Vec<String>,
    pub exclude_advertised_networks: Vec<String>,
    pub extra_endpoints: Vec<String>,
    /// Weft: networks behind this node, published as `additionalAddresses`.
    #[serde(default)]
    pub advertised_networks: Vec<String>,
    pub listen_port: u16,
    pub backend: String,
    /// WireGuard link name.
    pub interface: String,
    /// Weft: STUN-learned public endpoint and hole punching.
    #[serde(default = "yes")]
    pub nat_traversal: bool,
    /// Weft: routing table, rule priority, marks and nftables table of the traffic capture.
    #[serde(default)]
    pub routing: RoutingSettings,
}

fn yes() -> bool {
    true
}

/// Pure: the spec for `settings` and the secret as written in the config.
pub fn spec(settings: &Settings, secret_text: &str) -> KubeSpanConfigSpec {
    let ks = &settings.kubespan;
    KubeSpanConfigSpec {
        enabled: ks.enabled,
        cluster_id: settings.cluster.id.clone().unwrap_or_default(),
        shared_secret: secret_text.to_owned(),
        force_routing: !ks.allow_down_peer_bypass,
        advertise_kubernetes_networks: ks.advertise_kubernetes_networks,
        harvest_extra_endpoints: ks.harvest_extra_endpoints,
        mtu: ks.mtu,
        endpoint_filters: ks
            .endpoint_filters
            .iter()
            .map(ToString::to_string)
            .collect(),
        exclude_advertised_networks: ks
            .exclude_advertised_networks
            .iter()
            .map(ToString::to_string)
            .collect(),
        extra_endpoints: ks
            .extra_announced_endpoints
            .iter()
            .map(ToString::to_string)
            .collect(),
        advertised_networks: ks
            .advertised_networks
            .iter()
            .map(ToString::to_string)
            .collect(),
        listen_port: ks.listen_port,
        backend: ks.backend.as_str().to_owned(),
        interface: ks.interface.clone(),
        nat_traversal: ks.nat_traversal,
        routing: ks.routing.clone(),
    }
}

/// See the module doc.
#[derive(Debug, Default)]
pub struct ConfigController;

impl Controller for ConfigController {
    fn name(&self) -> &str {
        NAME
    }

    fn inputs(&self) -> Vec<Kind> {
        vec![Kind::new(NAMESPACE_CONFIG, MACHINE_CONFIG_TYPE)]
    }

    fn outputs(&self) -> Vec<String> {
        vec![KUBESPAN_CONFIG_TYPE.to_owned()]
    }

    async fn reconcile(&mut self, ctx: &mut ReconcileContext) -> anyhow::Result<()> {
        let mut desired = Vec::new();
        if let Some(settings) = super::super::machine_settings(ctx)? {
            let secret = ctx
                .get(&crate::config_store::pointer())
                .and_then(|r| r.typed_spec::<weft_api::config::MachineConfig>().ok())
                .and_then(|c| c.cluster.secret)
                .unwrap_or_default();
            let metadata = Metadata::new(
                NAMESPACE_CONFIG,
                KUBESPAN_CONFIG_TYPE,
                KUBESPAN_CONFIG_ID,
                NAME,
            );
            desired.push(Resource::from_spec(metadata, &spec(&settings, &secret))?);
        }
        ctx.apply_outputs(KUBESPAN_CONFIG_TYPE, desired)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weft_api::config::validate::parse_machine_config;

    fn settings(kubespan: &str) -> Settings {
        let bundle = weft_api::config::secrets::SecretsBundle::generate().expect("bundle");
        let text = format!(
            "version: v1alpha1\nmachine:\n  ca: {{crt: {}, key: {}}}\n  network:\n    kubespan: {kubespan}\ncluster:\n  id: the-id\n  secret: {}\n  discovery: {{enabled: true}}\n",
            bundle.certs.os.crt, bundle.certs.os.key, bundle.cluster.secret
        );
        parse_machine_config(&text, "test").expect("valid").settings
    }

    #[test]
    fn defaults_and_overrides() {
        let s = spec(&settings("{enabled: true}"), "c2VjcmV0");
        assert!(s.enabled && s.force_routing);
        assert_eq!(
            (s.mtu, s.listen_port, s.backend.as_str()),
            (1420, 51820, "auto")
        );
        assert_eq!(s.cluster_id, "the-id");
        assert_eq!(s.shared_secret, "c2VjcmV0");

        let s = spec(
            &settings(
                "{enabled: true, allowDownPeerBypass: true, mtu: 1380, listenPort: 51821, filters: {endpoints: ['0.0.0.0/0', '!10.0.0.0/8']}, extraAnnouncedEndpoints: ['203.0.113.7:51820']}",
            ),
            "",
        );
        assert!(!s.force_routing);
        assert_eq!((s.mtu, s.listen_port), (1380, 51821));
        assert_eq!(s.endpoint_filters, ["0.0.0.0/0", "!10.0.0.0/8"]);
        assert_eq!(s.extra_endpoints, ["203.0.113.7:51820"]);
    }
}
