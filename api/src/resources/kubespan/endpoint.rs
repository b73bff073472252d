//! KubeSpan endpoint (`KubeSpanEndpoints.kubespan.weft.dev`), id = the peer's WireGuard public key:
//! the endpoint a peer that is up was last seen at, published to the discovery service for the
//! peer's affiliate so others learn NAT-punched endpoints (only with `harvestExtraEndpoints`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::resources::{KUBESPAN_ENDPOINT_TYPE, NAMESPACE_KUBESPAN, TypedSpec};

/// A harvested endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// The peer's node id. Talos spells the key `affiliateID`, not camelCase.
    #[serde(rename = "affiliateID")]
    pub affiliate_id: String,
    /// Where WireGuard last saw the peer.
    pub endpoint: SocketAddr,
}

impl TypedSpec for EndpointSpec {
    const TYPE: &'static str = KUBESPAN_ENDPOINT_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_KUBESPAN;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keys_as_talos() {
        let spec = EndpointSpec {
            affiliate_id: "Utoh3O0ZneV0kT2IUBrh7TgdouRcUW2yzaaMl4VXnCd".to_owned(),
            endpoint: "203.0.113.7:41641".parse().expect("ep"),
        };
        let yaml = yaml_serde::to_string(&spec).expect("yaml");
        assert_eq!(
            yaml,
            "affiliateID: Utoh3O0ZneV0kT2IUBrh7TgdouRcUW2yzaaMl4VXnCd\nendpoint: 203.0.113.7:41641\n"
        );
        assert_eq!(
            yaml_serde::from_str::<EndpointSpec>(&yaml).expect("parse"),
            spec
        );
    }
}
