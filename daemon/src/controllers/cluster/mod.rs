//! Cluster discovery controllers: from the OS and the config to this node's affiliate, from the
//! discovery services to the other nodes' affiliates, merged, and to members.
//!
//! ```text
//! NodeAddressController ──► NodeAddresses network/routed ─┐
//! DiscoveryServiceController ─► NodeAddresses cluster/service (public IP)
//!                          │                              ▼
//!                          │        LocalAffiliateController ─► Affiliate cluster/<own id>
//!                          │                                        │ (announced)
//!                          └─► Affiliates cluster-raw/service/<id> ◄┘
//!                                  │ AffiliateMergeController
//!                                  ▼
//!                              Affiliates cluster/<id> ─► MemberController ─► Members
//!                                  └─► kubespan::PeerSpecController ─► KubeSpanPeerSpecs
//!
//! ExternalPeers cluster/<name> ─► ExternalPeerController ─► Affiliates cluster-external/…
//!                                   (persisted first)          └─► DiscoveryServiceController
//! ```
//!
//! - [`resources`]: the daemon-side resource types these controllers use.
//! - [`node_address`], [`local_affiliate`], [`discovery_service`], [`affiliate_merge`],
//!   [`member`]: one controller each.
//! - [`external_peer`]: WireGuard devices without weftd that this node publishes as members
//!   (`weftctl external-peer`): their validation, file, affiliates, and controller.

pub mod affiliate_merge;
pub mod discovery_service;
pub mod external_peer;
pub mod local_affiliate;
pub mod member;
pub mod node_address;
pub mod resources;

use anyhow::Context as _;
use weft_api::resource::Pointer;
use weft_api::resources::cluster::IdentitySpec as NodeIdentity;
use weft_api::resources::{IDENTITY_TYPE, LOCAL_ID, NAMESPACE_CLUSTER};

use crate::runtime::engine::ReconcileContext;

/// Where the node identity (node id) lives.
pub fn node_identity_pointer() -> Pointer {
    Pointer {
        namespace: NAMESPACE_CLUSTER.to_owned(),
        resource_type: IDENTITY_TYPE.to_owned(),
        id: LOCAL_ID.to_owned(),
    }
}

/// This node's id, once its identity resource exists.
pub(crate) fn node_id(ctx: &ReconcileContext) -> anyhow::Result<Option<String>> {
    ctx.get(&node_identity_pointer())
        .map(|r| r.typed_spec::<NodeIdentity>())
        .transpose()
        .context("decoding the node identity")
        .map(|id| id.map(|i| i.node_id))
}

/// A typed resource at `pointer`, if it exists.
pub(crate) fn typed<S: serde::de::DeserializeOwned>(
    ctx: &ReconcileContext,
    pointer: &Pointer,
) -> anyhow::Result<Option<S>> {
    ctx.get(pointer)
        .map(|r| r.typed_spec::<S>())
        .transpose()
        .with_context(|| format!("decoding {}/{}", pointer.resource_type, pointer.id))
}

/// A pointer.
pub(crate) fn ptr(namespace: &str, resource_type: &str, id: &str) -> Pointer {
    Pointer {
        namespace: namespace.to_owned(),
        resource_type: resource_type.to_owned(),
        id: id.to_owned(),
    }
}

/// Helpers shared by the cluster and KubeSpan controller tests.
#[cfg(test)]
pub(crate) mod tests {
    use std::net::IpAddr;

    use weft_api::resource::{Metadata, Resource};
    use weft_api::resources::cluster::{AffiliateSpec, KubeSpanAffiliateSpec, MachineType};
    use weft_api::resources::kubespan::IdentitySpec as KubeSpanIdentity;
    use weft_api::resources::{
        KUBESPAN_CONFIG_ID, KUBESPAN_CONFIG_TYPE, KUBESPAN_IDENTITY_TYPE, NAMESPACE_CONFIG,
        NAMESPACE_KUBESPAN,
    };

    use super::*;
    use crate::controllers::kubespan::config::KubeSpanConfigSpec;
    use crate::runtime::state::State;

    const OWNER: &str = "test";

    /// A state with every type registered.
    pub fn fresh_state() -> State {
        let state = State::new();
        for d in weft_api::resources::definitions()
            .into_iter()
            .chain(super::resources::definitions())
        {
            state.register_definition(d).expect("register");
        }
        state
    }

    /// The public key of test node `n`.
    pub fn key(n: u8) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([n; 32])
    }

    /// Node `id`: address 10.0.0.n, KubeSpan key `key(n)`, ULA fd00::n, one endpoint.
    pub fn affiliate(id: &str, n: u8) -> AffiliateSpec {
        AffiliateSpec {
            node_id: id.to_owned(),
            hostname: id.to_owned(),
            nodename: id.to_owned(),
            machine_type: MachineType::Worker,
            operating_system: "Weft (v0.1.0)".to_owned(),
            addresses: vec![IpAddr::from([10, 0, 0, n])],
            kubespan: KubeSpanAffiliateSpec {
                public_key: key(n),
                address: Some(format!("fd00::{n}").parse().expect("ip")),
                endpoints: vec![format!("10.0.0.{n}:51820").parse().expect("ep")],
                ..KubeSpanAffiliateSpec::default()
            },
            ..AffiliateSpec::default()
        }
    }

    fn upsert(state: &State, r: Resource) {
        if state.get(&r.pointer()).is_some() {
            state.update(&r.metadata.owner.clone(), r).expect("update");
        } else {
            state.create(r).expect("create");
        }
    }

    /// Creates the node identity.
    pub fn set_node_id(state: &State, id: &str) {
        let spec = NodeIdentity {
            node_id: id.to_owned(),
        };
        let p = node_identity_pointer();
        upsert(
            state,
            Resource::from_spec(
                Metadata::new(&p.namespace, &p.resource_type, &p.id, OWNER),
                &spec,
            )
            .expect("spec"),
        );
    }

    /// Sets the KubeSpan config (enabled or not) and, with `public_key`, a KubeSpan identity.
    pub fn set_kubespan(state: &State, enabled: bool, public_key: Option<&str>) {
        let config = KubeSpanConfigSpec {
            enabled,
            cluster_id: "c".into(),
            shared_secret: String::new(),
            force_routing: true,
            advertise_kubernetes_networks: false,
            harvest_extra_endpoints: false,
            mtu: 1420,
            endpoint_filters: vec![],
            exclude_advertised_networks: vec![],
            extra_endpoints: vec![],
            advertised_networks: Vec::new(),
            listen_port: 51820,
            backend: "auto".into(),
            interface: "kubespan".into(),
            nat_traversal: true,
            routing: Default::default(),
        };
        upsert(
            state,
            Resource::from_spec(
                Metadata::new(
                    NAMESPACE_CONFIG,
                    KUBESPAN_CONFIG_TYPE,
                    KUBESPAN_CONFIG_ID,
                    OWNER,
                ),
                &config,
            )
            .expect("spec"),
        );
        if let Some(public_key) = public_key {
            let identity = KubeSpanIdentity {
                address: "fd00::ff/128".parse().expect("net"),
                subnet: "fd00::/64".parse().expect("net"),
                private_key: "unused".into(),
                public_key: public_key.to_owned(),
            };
            upsert(
                state,
                Resource::from_spec(
                    Metadata::new(NAMESPACE_KUBESPAN, KUBESPAN_IDENTITY_TYPE, LOCAL_ID, OWNER),
                    &identity,
                )
                .expect("spec"),
            );
        }
    }
}
