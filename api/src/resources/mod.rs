//! Weft's resource types: their definitions (what `weftctl get` resolves and prints) and typed specs.
//!
//! - [`kubespan`]: the node's WireGuard identity and ULA address, peer specs (desired) and statuses
//!   (observed), harvested endpoints.
//! - [`cluster`]: the node identity (affiliate id), affiliates and members.
//! - [`fields`]: serde adapters for Talos's zero values (`""` for an unset address, the zero time).
//! - [`identity_file`]: the error type and helpers for the identity files on the state directory.
//!
//! Types, namespaces, display names, print columns and sensitivity are Talos's, with the `weft.dev`
//! suffix instead of `talos.dev`; aliases are derived as COSI derives them (see
//! [`ResourceDefinition::new`]). [`definitions`] lists every type the daemon registers.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::resource::ResourceDefinition;

pub mod cluster;
pub mod fields;
pub mod identity_file;
pub mod kubespan;

/// Namespace of the KubeSpan resources (identity, peers, endpoints).
pub const NAMESPACE_KUBESPAN: &str = "kubespan";
/// Namespace of the merged cluster view (identity, affiliates, members).
pub const NAMESPACE_CLUSTER: &str = "cluster";
/// Namespace of the per-registry affiliates before merging (ids `service/<nodeId>`, `k8s/<nodeId>`).
pub const NAMESPACE_CLUSTER_RAW: &str = "cluster-raw";
/// Namespace of configuration resources (the machine config and what is derived from it).
pub const NAMESPACE_CONFIG: &str = "config";
/// Namespace of the resource definitions.
pub const NAMESPACE_META: &str = "meta";

/// `KubeSpanIdentities.kubespan.weft.dev`: the node's WireGuard keys and KubeSpan address.
pub const KUBESPAN_IDENTITY_TYPE: &str = "KubeSpanIdentities.kubespan.weft.dev";
/// `KubeSpanPeerSpecs.kubespan.weft.dev`: desired WireGuard peers.
pub const KUBESPAN_PEER_SPEC_TYPE: &str = "KubeSpanPeerSpecs.kubespan.weft.dev";
/// `KubeSpanPeerStatuses.kubespan.weft.dev`: observed WireGuard peers.
pub const KUBESPAN_PEER_STATUS_TYPE: &str = "KubeSpanPeerStatuses.kubespan.weft.dev";
/// `KubeSpanEndpoints.kubespan.weft.dev`: endpoints harvested from peers that are up.
pub const KUBESPAN_ENDPOINT_TYPE: &str = "KubeSpanEndpoints.kubespan.weft.dev";
/// `KubeSpanNATStatuses.kubespan.weft.dev` (Weft): this node's public WireGuard endpoint, by STUN.
pub const KUBESPAN_NAT_STATUS_TYPE: &str = "KubeSpanNATStatuses.kubespan.weft.dev";
/// `KubeSpanConfigs.kubespan.weft.dev`: the resolved KubeSpan settings. Its group is `kubespan` but
/// it lives in the `config` namespace, as in Talos.
pub const KUBESPAN_CONFIG_TYPE: &str = "KubeSpanConfigs.kubespan.weft.dev";
/// `MachineConfigs.config.weft.dev`: the machine config the daemon runs on.
pub const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.weft.dev";
/// `Affiliates.cluster.weft.dev`: nodes of the cluster as the registries report them.
pub const AFFILIATE_TYPE: &str = "Affiliates.cluster.weft.dev";
/// `Members.cluster.weft.dev`: affiliates that are Kubernetes nodes (have a node name).
pub const MEMBER_TYPE: &str = "Members.cluster.weft.dev";
/// `Identities.cluster.weft.dev`: the node id (affiliate id).
pub const IDENTITY_TYPE: &str = "Identities.cluster.weft.dev";
/// `DiscoveryServiceStatuses.cluster.weft.dev`: each discovery service as a node sees it. weftd
/// registers its definition with its own types; clients read the spec.
pub const DISCOVERY_SERVICE_STATUS_TYPE: &str = "DiscoveryServiceStatuses.cluster.weft.dev";
/// `ResourceDefinitions.meta.weft.dev`: the definitions themselves (`weftctl get rd`).
pub const RESOURCE_DEFINITION_TYPE: &str = "ResourceDefinitions.meta.weft.dev";

/// Id of singleton resources that describe this node (both identities).
pub const LOCAL_ID: &str = "local";
/// Id of the singleton KubeSpan config resource.
pub const KUBESPAN_CONFIG_ID: &str = "kubespan";
/// Id of the singleton machine config resource (the config version).
pub const MACHINE_CONFIG_ID: &str = crate::config::VERSION_V1ALPHA1;

/// A typed spec: which resource type it is the spec of, and that type's default namespace.
pub trait TypedSpec: Serialize + DeserializeOwned {
    /// The full resource type (`KubeSpanPeerSpecs.kubespan.weft.dev`).
    const TYPE: &'static str;
    /// The namespace resources of this type live in unless stated otherwise.
    const NAMESPACE: &'static str;
}

/// The running machine config is stored as a resource (id [`MACHINE_CONFIG_ID`]).
impl TypedSpec for crate::config::MachineConfig {
    const TYPE: &'static str = MACHINE_CONFIG_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CONFIG;
}

/// Definitions are resources too (`weftctl get rd`), id = the type they define.
impl TypedSpec for ResourceDefinition {
    const TYPE: &'static str = RESOURCE_DEFINITION_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_META;
}

/// Every resource type Weft serves, in the order `weftctl get rd` lists them.
pub fn definitions() -> Vec<ResourceDefinition> {
    vec![
        ResourceDefinition::new("KubeSpanIdentities", "KubeSpanIdentity", NAMESPACE_KUBESPAN)
            .column("ADDRESS", "{.address}")
            .column("PUBLICKEY", "{.publicKey}")
            // It holds the WireGuard private key.
            .sensitive(),
        ResourceDefinition::new("KubeSpanPeerSpecs", "KubeSpanPeerSpec", NAMESPACE_KUBESPAN)
            .column("LABEL", "{.label}")
            .column("ENDPOINTS", "{.endpoints}"),
        ResourceDefinition::new(
            "KubeSpanPeerStatuses",
            "KubeSpanPeerStatus",
            NAMESPACE_KUBESPAN,
        )
        .column("LABEL", "{.label}")
        .column("ENDPOINT", "{.endpoint}")
        .column("STATE", "{.state}")
        .column("RX", "{.receiveBytes}")
        .column("TX", "{.transmitBytes}"),
        ResourceDefinition::new("KubeSpanEndpoints", "KubeSpanEndpoint", NAMESPACE_KUBESPAN)
            .column("ENDPOINT", "{.endpoint}")
            .column("AFFILIATE ID", "{.affiliateID}"),
        ResourceDefinition::new(
            "KubeSpanNATStatuses",
            "KubeSpanNATStatus",
            NAMESPACE_KUBESPAN,
        )
        .column("PUBLIC ENDPOINT", "{.publicEndpoint}")
        .column("BEHIND NAT", "{.behindNAT}")
        .column("PORT PRESERVED", "{.portPreserved}")
        .column("SERVER", "{.server}"),
        // The type keeps its `kubespan` group (and so its aliases) but defaults to the `config`
        // namespace, as Talos's does: it is derived from the machine config. Sensitive because it
        // carries the cluster secret.
        in_namespace(
            ResourceDefinition::new("KubeSpanConfigs", "KubeSpanConfig", NAMESPACE_KUBESPAN),
            NAMESPACE_CONFIG,
        )
        .sensitive(),
        // Holds the CA key and the cluster secret.
        ResourceDefinition::new("MachineConfigs", "MachineConfig", NAMESPACE_CONFIG).sensitive(),
        ResourceDefinition::new("Affiliates", "Affiliate", NAMESPACE_CLUSTER)
            .column("HOSTNAME", "{.hostname}")
            .column("MACHINE TYPE", "{.machineType}")
            .column("ADDRESSES", "{.addresses}"),
        ResourceDefinition::new("Members", "Member", NAMESPACE_CLUSTER)
            .column("HOSTNAME", "{.hostname}")
            .column("MACHINE TYPE", "{.machineType}")
            .column("OS", "{.operatingSystem}")
            .column("ADDRESSES", "{.addresses}"),
        ResourceDefinition::new("Identities", "Identity", NAMESPACE_CLUSTER)
            .column("NODE ID", "{.nodeId}"),
        resource_definitions(),
    ]
}

/// The definition of the definitions. COSI names it `ResourceDefinitions.meta.cosi.dev`; the derived
/// aliases already include `rd` (its capitals) and `rds`, and COSI adds `api-resources` by hand,
/// which is how `talosctl get rd` and `talosctl get api-resources` both list the types. Both are
/// spelled out here so they survive a change to the derivation rules.
fn resource_definitions() -> ResourceDefinition {
    let mut rd =
        ResourceDefinition::new("ResourceDefinitions", "ResourceDefinition", NAMESPACE_META)
            .column("ALIASES", "{.aliases}");
    for alias in ["rd", "api-resources"] {
        if !rd.aliases.iter().any(|a| a == alias) {
            rd.aliases.push(alias.to_owned());
        }
    }
    rd
}

fn in_namespace(mut rd: ResourceDefinition, namespace: &str) -> ResourceDefinition {
    rd.default_namespace = namespace.to_owned();
    rd
}

/// The definition of `resource_type`, if Weft has such a type.
pub fn definition(resource_type: &str) -> Option<ResourceDefinition> {
    definitions()
        .into_iter()
        .find(|rd| rd.resource_type == resource_type)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn find(resource_type: &str) -> ResourceDefinition {
        definition(resource_type).unwrap_or_else(|| panic!("{resource_type} is defined"))
    }

    #[test]
    fn type_constants_match_definitions() {
        let types: Vec<String> = definitions()
            .into_iter()
            .map(|rd| rd.resource_type)
            .collect();
        assert_eq!(
            types,
            [
                KUBESPAN_IDENTITY_TYPE,
                KUBESPAN_PEER_SPEC_TYPE,
                KUBESPAN_PEER_STATUS_TYPE,
                KUBESPAN_ENDPOINT_TYPE,
                KUBESPAN_NAT_STATUS_TYPE,
                KUBESPAN_CONFIG_TYPE,
                MACHINE_CONFIG_TYPE,
                AFFILIATE_TYPE,
                MEMBER_TYPE,
                IDENTITY_TYPE,
                RESOURCE_DEFINITION_TYPE,
            ]
        );
    }

    #[test]
    fn namespaces_and_sensitivity() {
        let expect = [
            (KUBESPAN_IDENTITY_TYPE, NAMESPACE_KUBESPAN, true),
            (KUBESPAN_PEER_SPEC_TYPE, NAMESPACE_KUBESPAN, false),
            (KUBESPAN_PEER_STATUS_TYPE, NAMESPACE_KUBESPAN, false),
            (KUBESPAN_ENDPOINT_TYPE, NAMESPACE_KUBESPAN, false),
            (KUBESPAN_CONFIG_TYPE, NAMESPACE_CONFIG, true),
            (MACHINE_CONFIG_TYPE, NAMESPACE_CONFIG, true),
            (AFFILIATE_TYPE, NAMESPACE_CLUSTER, false),
            (MEMBER_TYPE, NAMESPACE_CLUSTER, false),
            (IDENTITY_TYPE, NAMESPACE_CLUSTER, false),
            (RESOURCE_DEFINITION_TYPE, NAMESPACE_META, false),
        ];
        for (ty, ns, sensitive) in expect {
            let rd = find(ty);
            assert_eq!(rd.default_namespace, ns, "{ty}");
            assert_eq!(rd.sensitive, sensitive, "{ty}");
        }
    }

    #[test]
    fn display_types_and_columns() {
        let columns = |ty: &str| -> Vec<(String, String)> {
            find(ty)
                .print_columns
                .into_iter()
                .map(|c| (c.name, c.json_path))
                .collect()
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert_eq!(
            find(KUBESPAN_PEER_STATUS_TYPE).display_type,
            "KubeSpanPeerStatus"
        );
        assert_eq!(find(IDENTITY_TYPE).display_type, "Identity");
        assert_eq!(
            columns(KUBESPAN_IDENTITY_TYPE),
            pairs(&[("ADDRESS", "{.address}"), ("PUBLICKEY", "{.publicKey}")])
        );
        assert_eq!(
            columns(KUBESPAN_PEER_STATUS_TYPE),
            pairs(&[
                ("LABEL", "{.label}"),
                ("ENDPOINT", "{.endpoint}"),
                ("STATE", "{.state}"),
                ("RX", "{.receiveBytes}"),
                ("TX", "{.transmitBytes}"),
            ])
        );
        assert_eq!(
            columns(KUBESPAN_ENDPOINT_TYPE),
            pairs(&[
                ("ENDPOINT", "{.endpoint}"),
                ("AFFILIATE ID", "{.affiliateID}")
            ])
        );
        assert_eq!(
            columns(MEMBER_TYPE),
            pairs(&[
                ("HOSTNAME", "{.hostname}"),
                ("MACHINE TYPE", "{.machineType}"),
                ("OS", "{.operatingSystem}"),
                ("ADDRESSES", "{.addresses}"),
            ])
        );
        assert!(columns(MACHINE_CONFIG_TYPE).is_empty());
    }

    #[test]
    fn talos_aliases() {
        let has = |ty: &str, aliases: &[&str]| {
            let rd = find(ty);
            for a in aliases {
                assert!(rd.aliases.iter().any(|x| x == a), "{ty} lacks alias {a}");
            }
        };
        has(
            KUBESPAN_IDENTITY_TYPE,
            &["kubespanidentity", "ksi", "ksis", "kubespanidentities"],
        );
        has(
            KUBESPAN_PEER_SPEC_TYPE,
            &["kubespanpeerspec", "kubespanpeerspecs", "ksps"],
        );
        has(
            KUBESPAN_PEER_STATUS_TYPE,
            &["kubespanpeerstatus", "kubespanpeerstatuses", "ksps"],
        );
        has(
            KUBESPAN_ENDPOINT_TYPE,
            &["kubespanendpoint", "kse", "kses", "kubespanendpoints"],
        );
        has(KUBESPAN_CONFIG_TYPE, &["kubespanconfig", "ksc", "kscs"]);
        has(
            MACHINE_CONFIG_TYPE,
            &["machineconfig", "mc", "mcs", "machineconfigs"],
        );
        has(AFFILIATE_TYPE, &["affiliate", "affiliates"]);
        has(MEMBER_TYPE, &["member", "members"]);
        has(IDENTITY_TYPE, &["identity", "identities"]);
        has(
            RESOURCE_DEFINITION_TYPE,
            &["resourcedefinition", "rd", "rds", "api-resources"],
        );
    }

    /// Every name `weftctl get` accepts (ids and aliases) picks one type, except `ksps`, which COSI's
    /// derivation gives to both peer specs and peer statuses (Talos has the same ambiguity).
    #[test]
    fn aliases_are_unique_except_ksps() {
        let defs = definitions();
        let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for rd in &defs {
            let mut names = rd.aliases.clone();
            names.push(rd.id());
            names.sort();
            names.dedup();
            for name in names {
                owners
                    .entry(name)
                    .or_default()
                    .push(rd.resource_type.clone());
            }
        }
        let shared: Vec<_> = owners.iter().filter(|(_, o)| o.len() > 1).collect();
        assert_eq!(shared.len(), 1, "{shared:?}");
        let (name, types) = shared[0];
        assert_eq!(name, "ksps");
        assert_eq!(types, &[KUBESPAN_PEER_SPEC_TYPE, KUBESPAN_PEER_STATUS_TYPE]);
        // And `matches` agrees: every other name resolves to exactly one definition.
        for name in owners.keys().filter(|n| *n != "ksps") {
            assert_eq!(
                defs.iter().filter(|rd| rd.matches(name)).count(),
                1,
                "{name}"
            );
        }
    }

    #[test]
    fn typed_specs_name_defined_types() {
        fn check<S: TypedSpec>() {
            let rd = find(S::TYPE);
            assert_eq!(rd.default_namespace, S::NAMESPACE, "{}", S::TYPE);
        }
        check::<kubespan::IdentitySpec>();
        check::<kubespan::PeerSpec>();
        check::<kubespan::PeerStatusSpec>();
        check::<kubespan::EndpointSpec>();
        check::<kubespan::NatStatusSpec>();
        check::<cluster::AffiliateSpec>();
        check::<cluster::MemberSpec>();
        check::<cluster::IdentitySpec>();
        check::<crate::config::MachineConfig>();
        check::<ResourceDefinition>();
    }
}
