//! Fixtures the controller tests of every area share (cluster, KubeSpan, discovery): a state with
//! every type registered, test nodes, and typed writes that bypass the engine. Test-only, so no
//! area's tests import another area's test module.

use std::net::IpAddr;

use weft_api::resource::{Pointer, Resource};
use weft_api::resources::cluster::{
    AffiliateSpec, IdentitySpec as NodeIdentity, KubeSpanAffiliateSpec, MachineType,
};
use weft_api::resources::kubespan::IdentitySpec as KubeSpanIdentity;
use weft_api::resources::{LOCAL_ID, TypedSpec};

use crate::resources::kubespan::KubeSpanConfigSpec;
use crate::runtime::state::State;

/// Owner of what the fixtures write.
pub const OWNER: &str = "test";

/// A state with every type registered.
pub fn fresh_state() -> State {
    let state = State::new();
    for d in crate::resources::all_definitions() {
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

/// Creates or updates `r` as its owner.
pub fn upsert(state: &State, r: Resource) {
    if state.get(&r.pointer()).is_some() {
        state.update(&r.metadata.owner.clone(), r).expect("update");
    } else {
        state.create(r).expect("create");
    }
}

/// Creates or updates resource `id` of spec type `S` in `S`'s namespace, owned by [`OWNER`].
pub fn put<S: TypedSpec>(state: &State, id: &str, spec: &S) {
    put_in(state, S::NAMESPACE, id, spec, OWNER);
}

/// Creates or updates resource `id` of spec type `S` in `namespace`, owned by `owner`.
pub fn put_in<S: TypedSpec>(state: &State, namespace: &str, id: &str, spec: &S, owner: &str) {
    upsert(
        state,
        Resource::new_in(namespace, id, spec)
            .expect("spec")
            .owned_by(owner),
    );
}

/// The spec of resource `id` of type `S` in `S`'s namespace, if it exists.
pub fn spec<S: TypedSpec>(state: &State, id: &str) -> Option<S> {
    state
        .get(&Pointer::to::<S>(id))
        .map(|r| r.decode().expect("spec"))
}

/// Creates the node identity.
pub fn set_node_id(state: &State, id: &str) {
    put(
        state,
        LOCAL_ID,
        &NodeIdentity {
            node_id: id.to_owned(),
        },
    );
}

/// Sets the KubeSpan config (enabled or not) and, with `public_key`, a KubeSpan identity.
pub fn set_kubespan(state: &State, enabled: bool, public_key: Option<&str>) {
    let config = KubeSpanConfigSpec {
        enabled,
        cluster_id: "c".into(),
        ..KubeSpanConfigSpec::default()
    };
    put(state, KubeSpanConfigSpec::ID, &config);
    if let Some(public_key) = public_key {
        let identity = KubeSpanIdentity {
            address: "fd00::ff/128".parse().expect("net"),
            subnet: "fd00::/64".parse().expect("net"),
            private_key: "unused".into(),
            public_key: public_key.to_owned(),
        };
        put(state, LOCAL_ID, &identity);
    }
}
