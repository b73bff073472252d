//! The resource model shared by weftd (which stores and serves resources) and weftctl (which renders
//! them without knowing their types): COSI's model, as Talos uses it.
//!
//! A resource is [`Metadata`] plus a spec. Specs travel and are stored as a YAML tree
//! ([`yaml_serde::Value`]), keys in the order the typed spec declares them, so `weftctl get` can
//! print any type from its [`ResourceDefinition`] alone. Typed specs (in `crate::resources`) convert
//! to and from that tree only through [`Resource::new`] and [`Resource::decode`], which take the
//! type and namespace from the spec's [`TypedSpec`] impl: nobody spells a pointer by hand, and a
//! spec can never be decoded as another type's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::resources::TypedSpec;

mod definition;

pub use definition::{PrintColumn, ResourceDefinition, derive_aliases};

/// The suffix of every Weft resource type (`KubeSpanPeerStatuses.kubespan.weft.dev`).
pub const TYPE_SUFFIX: &str = "weft.dev";

/// Lifecycle phase of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    #[default]
    Running,
    TearingDown,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Running => "running",
            Phase::TearingDown => "tearingDown",
        })
    }
}

/// Resource metadata. `version` is bumped on every change; `created`/`updated` are UTC, rendered as
/// RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub namespace: String,
    #[serde(rename = "type")]
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    #[serde(default)]
    pub owner: String,
    #[serde(default)]
    pub phase: Phase,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated: OffsetDateTime,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Metadata {
    /// Metadata for a resource about to be created (version 1, created = updated = now).
    pub fn new(namespace: &str, resource_type: &str, id: &str, owner: &str) -> Metadata {
        let now = OffsetDateTime::now_utc();
        Metadata {
            namespace: namespace.to_owned(),
            resource_type: resource_type.to_owned(),
            id: id.to_owned(),
            version: 1,
            owner: owner.to_owned(),
            phase: Phase::Running,
            created: now,
            updated: now,
            labels: BTreeMap::new(),
        }
    }
}

/// A resource of any type: metadata and the spec as a YAML tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    pub metadata: Metadata,
    pub spec: yaml_serde::Value,
}

/// Where a resource lives: namespace, type, id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer {
    pub namespace: String,
    pub resource_type: String,
    pub id: String,
}

impl Resource {
    /// A resource of spec type `S` in `S`'s namespace, ready to write: version 1, no owner yet (the
    /// engine stamps its controller as owner; see [`Resource::owned_by`] for direct writes).
    pub fn new<S: TypedSpec>(id: &str, spec: &S) -> Result<Resource, SpecError> {
        Resource::new_in(S::NAMESPACE, id, spec)
    }

    /// Like [`Resource::new`], in `namespace` instead of `S`'s default one (raw affiliates live in
    /// `cluster-raw`, external ones in `cluster-external`).
    pub fn new_in<S: TypedSpec>(
        namespace: &str,
        id: &str,
        spec: &S,
    ) -> Result<Resource, SpecError> {
        Ok(Resource {
            metadata: Metadata::new(namespace, S::TYPE, id, ""),
            spec: yaml_serde::to_value(spec).map_err(|source| SpecError::Encode {
                resource_type: S::TYPE,
                source,
            })?,
        })
    }

    /// The same resource with `owner` as its owner (for writes that bypass the engine).
    pub fn owned_by(mut self, owner: &str) -> Resource {
        owner.clone_into(&mut self.metadata.owner);
        self
    }

    /// The spec as `S`. Fails when the resource is not of `S`'s type, so a spec can only be read
    /// as what it is, or when the stored tree does not decode.
    pub fn decode<S: TypedSpec>(&self) -> Result<S, SpecError> {
        if self.metadata.resource_type != S::TYPE {
            return Err(SpecError::WrongType {
                expected: S::TYPE,
                found: self.metadata.resource_type.clone(),
                id: self.metadata.id.clone(),
            });
        }
        yaml_serde::from_value(self.spec.clone()).map_err(|source| SpecError::Decode {
            resource_type: S::TYPE,
            id: self.metadata.id.clone(),
            source,
        })
    }

    /// The resource with its spec decoded as `S` (see [`Resource::decode`]).
    pub fn into_typed<S: TypedSpec>(self) -> Result<TypedResource<S>, SpecError> {
        let spec = self.decode()?;
        Ok(TypedResource {
            metadata: self.metadata,
            spec,
        })
    }

    /// Where this resource lives.
    pub fn pointer(&self) -> Pointer {
        Pointer {
            namespace: self.metadata.namespace.clone(),
            resource_type: self.metadata.resource_type.clone(),
            id: self.metadata.id.clone(),
        }
    }
}

impl Pointer {
    /// Where the resource `id` of spec type `S` lives, in `S`'s namespace.
    pub fn to<S: TypedSpec>(id: &str) -> Pointer {
        Pointer::to_in::<S>(S::NAMESPACE, id)
    }

    /// Where the resource `id` of spec type `S` lives in `namespace`.
    pub fn to_in<S: TypedSpec>(namespace: &str, id: &str) -> Pointer {
        Pointer {
            namespace: namespace.to_owned(),
            resource_type: S::TYPE.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// A resource whose spec is decoded: what typed reads return.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedResource<S> {
    pub metadata: Metadata,
    pub spec: S,
}

impl<S> TypedResource<S> {
    /// The resource's id.
    pub fn id(&self) -> &str {
        &self.metadata.id
    }
}

/// Why a typed spec could not be written into or read from a resource.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("resource {id:?} is a {found}, not a {expected}")]
    WrongType {
        expected: &'static str,
        found: String,
        id: String,
    },
    #[error("decoding {resource_type} {id:?}")]
    Decode {
        resource_type: &'static str,
        id: String,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("encoding a {resource_type} spec")]
    Encode {
        resource_type: &'static str,
        #[source]
        source: yaml_serde::Error,
    },
}

/// What happened to a resource, for watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Created,
    Updated,
    Destroyed,
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventKind::Created => "created",
            EventKind::Updated => "updated",
            EventKind::Destroyed => "destroyed",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::cluster::{IdentitySpec as NodeIdentity, MemberSpec};
    use crate::resources::kubespan::PeerSpec;
    use crate::resources::{IDENTITY_TYPE, LOCAL_ID, NAMESPACE_CLUSTER};

    #[test]
    fn a_typed_resource_carries_its_type_and_namespace() {
        let spec = NodeIdentity {
            node_id: "n1".into(),
        };
        let r = Resource::new(LOCAL_ID, &spec).expect("spec").owned_by("me");
        assert_eq!(
            r.pointer(),
            Pointer {
                namespace: NAMESPACE_CLUSTER.into(),
                resource_type: IDENTITY_TYPE.into(),
                id: LOCAL_ID.into(),
            }
        );
        assert_eq!(r.pointer(), Pointer::to::<NodeIdentity>(LOCAL_ID));
        assert_eq!(r.metadata.owner, "me");
        assert_eq!(r.decode::<NodeIdentity>().expect("decode"), spec);
        let raw = Resource::new_in("cluster-raw", "x", &spec).expect("spec");
        assert_eq!(
            raw.pointer(),
            Pointer::to_in::<NodeIdentity>("cluster-raw", "x")
        );
    }

    /// The tree of a node identity would decode as a member (every member field defaults), and
    /// as a peer spec it fails for the wrong reason; both are refused by type first.
    #[test]
    fn a_spec_is_never_decoded_as_another_type() {
        let r = Resource::new(LOCAL_ID, &NodeIdentity::default()).expect("spec");
        let err = r.decode::<MemberSpec>().unwrap_err();
        assert!(
            matches!(&err, SpecError::WrongType { expected, found, .. }
                if *expected == MemberSpec::TYPE && found == IDENTITY_TYPE),
            "{err:?}"
        );
        assert!(matches!(
            r.decode::<PeerSpec>(),
            Err(SpecError::WrongType { .. })
        ));
        assert_eq!(
            err.to_string(),
            format!(
                "resource \"local\" is a {IDENTITY_TYPE}, not a {}",
                MemberSpec::TYPE
            )
        );
    }

    #[test]
    fn a_tree_that_does_not_fit_names_the_type_and_id() {
        let mut r = Resource::new(LOCAL_ID, &NodeIdentity::default()).expect("spec");
        r.spec = yaml_serde::Value::from(7);
        let err = r.decode::<NodeIdentity>().unwrap_err();
        assert!(matches!(err, SpecError::Decode { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("decoding {IDENTITY_TYPE} \"local\"")
        );
    }
}
