//! Every resource spec weftd defines for itself, in one place. They are daemon-side only (weftctl
//! renders them from the definitions the node serves); the specs clients read live in
//! `weft_api::resources`.
//!
//! - [`cluster`]: node addresses, discovery service statuses, the leave request, external peers.
//! - [`kubespan`]: the resolved KubeSpan settings (`KubeSpanConfigs`), typed.
//!
//! Each spec implements [`weft_api::resources::TypedSpec`], so the runtime's typed access
//! (`ctx.get::<S>(id)`, `ctx.apply_outputs::<S>(…)`) knows its type string and namespace.

pub mod cluster;
pub mod kubespan;

use weft_api::resource::ResourceDefinition;
use weft_api::resources::NAMESPACE_CLUSTER;

use cluster::NAMESPACE_NETWORK;

/// The definitions of weftd's own types, registered next to `weft_api::resources`'. (The
/// `KubeSpanConfigs` definition is among `weft_api::resources::definitions()`: clients resolve it.)
pub fn definitions() -> Vec<ResourceDefinition> {
    // Built as `…net.weft.dev`, like Talos's `NodeAddresses.net.talos.dev`, but living in the
    // `network` namespace.
    let mut node_addresses = ResourceDefinition::new("NodeAddresses", "NodeAddress", "net")
        .column("ADDRESSES", "{.addresses}");
    node_addresses.default_namespace = NAMESPACE_NETWORK.to_owned();
    vec![
        node_addresses,
        ResourceDefinition::new(
            "DiscoveryServiceStatuses",
            "DiscoveryServiceStatus",
            NAMESPACE_CLUSTER,
        )
        .column("CONNECTED", "{.connected}")
        .column("ANNOUNCED", "{.announced}")
        .column("AFFILIATES", "{.affiliates}")
        .column("PUBLIC IP", "{.publicIP}"),
        ResourceDefinition::new("LeaveRequests", "LeaveRequest", NAMESPACE_CLUSTER)
            .column("REQUESTED", "{.requested}"),
        ResourceDefinition::new("ExternalPeers", "ExternalPeer", NAMESPACE_CLUSTER)
            .column("PUBLICKEY", "{.publicKey}")
            .column("ENDPOINT", "{.endpoint}")
            .column("ADDRESSES", "{.addresses}"),
    ]
}

/// Every definition weftd registers: the shared ones, then its own.
pub fn all_definitions() -> Vec<ResourceDefinition> {
    weft_api::resources::definitions()
        .into_iter()
        .chain(definitions())
        .collect()
}

#[cfg(test)]
mod tests {
    use weft_api::resources::DISCOVERY_SERVICE_STATUS_TYPE;

    use super::cluster::*;
    use super::*;

    #[test]
    fn definitions_match_constants_and_do_not_clash() {
        let defs = definitions();
        let types: Vec<&str> = defs.iter().map(|d| d.resource_type.as_str()).collect();
        assert_eq!(
            types,
            [
                NODE_ADDRESS_TYPE,
                DISCOVERY_SERVICE_STATUS_TYPE,
                LEAVE_REQUEST_TYPE,
                EXTERNAL_PEER_TYPE
            ]
        );
        assert_eq!(defs[0].default_namespace, NAMESPACE_NETWORK);
        let existing = weft_api::resources::definitions();
        for d in &defs {
            for alias in d.aliases.iter().chain([&d.id()]) {
                assert!(
                    !existing.iter().any(|e| e.matches(alias)),
                    "{alias} of {} is taken",
                    d.resource_type
                );
            }
        }
        assert!(defs[0].matches("na") && defs[1].matches("dss") && defs[2].matches("lr"));
        assert!(defs[3].matches("externalpeers") && defs[3].matches("eps"));
    }
}
