//! The resource model shared by weftd (which stores and serves resources) and weftctl (which renders
//! them without knowing their types): COSI's model, as Talos uses it.
//!
//! A resource is [`Metadata`] plus a spec. Specs travel and are stored as a YAML tree
//! ([`yaml_serde::Value`]), keys in the order the typed spec declares them, so `weftctl get` can
//! print any type from its [`ResourceDefinition`] alone. Typed specs (in `crate::resources`) convert
//! to and from that tree.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

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
    /// A resource from a typed spec.
    pub fn from_spec<S: Serialize>(
        metadata: Metadata,
        spec: &S,
    ) -> Result<Resource, yaml_serde::Error> {
        Ok(Resource {
            metadata,
            spec: yaml_serde::to_value(spec)?,
        })
    }

    /// The spec as a typed value.
    pub fn typed_spec<S: serde::de::DeserializeOwned>(&self) -> Result<S, yaml_serde::Error> {
        yaml_serde::from_value(self.spec.clone())
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
