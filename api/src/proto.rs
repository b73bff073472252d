//! The generated gRPC types — the node API (`weft.resource.v1alpha1`, `weft.machine.v1alpha1`) and
//! the discovery API (`sidero.discovery.*`) — and conversions between the node API's messages and
//! the resource model. Specs cross the wire as YAML text.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::resource::{self as model, EventKind, Phase, PrintColumn};

/// `weft.resource.v1alpha1`.
#[allow(missing_debug_implementations, clippy::all)]
pub mod resource {
    tonic::include_proto!("weft.resource.v1alpha1");
}

/// `weft.machine.v1alpha1`.
#[allow(missing_debug_implementations, clippy::all)]
pub mod machine {
    tonic::include_proto!("weft.machine.v1alpha1");
}

/// The discovery API (Sidero-compatible): `sidero.discovery.server` and `sidero.discovery.client`.
pub mod discovery {
    /// `sidero.discovery.server`: the service and its messages.
    #[allow(missing_debug_implementations, clippy::all)]
    pub mod server {
        tonic::include_proto!("sidero.discovery.server");
    }

    /// `sidero.discovery.client`: the plaintext of affiliate data and endpoints.
    #[allow(missing_debug_implementations, clippy::all)]
    pub mod client {
        tonic::include_proto!("sidero.discovery.client");
    }
}

/// A message from the wire that does not make a valid resource.
#[derive(Debug, thiserror::Error)]
pub enum ConversionError {
    #[error("resource has no metadata")]
    NoMetadata,
    #[error("metadata.{field}: {value:?} is not an RFC 3339 time")]
    Time { field: &'static str, value: String },
    #[error("metadata.phase: {0:?} is not running or tearingDown")]
    Phase(String),
    #[error("spec of {id}: {err}")]
    Spec { id: String, err: yaml_serde::Error },
}

fn format_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn parse_time(field: &'static str, s: &str) -> Result<OffsetDateTime, ConversionError> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|_| ConversionError::Time {
        field,
        value: s.to_owned(),
    })
}

/// A model resource as a wire message.
pub fn resource_to_proto(r: &model::Resource) -> Result<resource::Resource, yaml_serde::Error> {
    let m = &r.metadata;
    Ok(resource::Resource {
        metadata: Some(resource::Metadata {
            namespace: m.namespace.clone(),
            r#type: m.resource_type.clone(),
            id: m.id.clone(),
            version: m.version,
            owner: m.owner.clone(),
            phase: m.phase.to_string(),
            created: format_time(m.created),
            updated: format_time(m.updated),
            labels: m.labels.clone().into_iter().collect(),
        }),
        spec_yaml: yaml_serde::to_string(&r.spec)?,
    })
}

/// A wire message as a model resource.
pub fn resource_from_proto(r: resource::Resource) -> Result<model::Resource, ConversionError> {
    let m = r.metadata.ok_or(ConversionError::NoMetadata)?;
    let phase = match m.phase.as_str() {
        "running" | "" => Phase::Running,
        "tearingDown" => Phase::TearingDown,
        other => return Err(ConversionError::Phase(other.to_owned())),
    };
    let spec = yaml_serde::from_str(&r.spec_yaml).map_err(|err| ConversionError::Spec {
        id: m.id.clone(),
        err,
    })?;
    Ok(model::Resource {
        metadata: model::Metadata {
            created: parse_time("created", &m.created)?,
            updated: parse_time("updated", &m.updated)?,
            namespace: m.namespace,
            resource_type: m.r#type,
            id: m.id,
            version: m.version,
            owner: m.owner,
            phase,
            labels: m.labels.into_iter().collect::<BTreeMap<_, _>>(),
        },
        spec,
    })
}

/// A definition as a wire message.
pub fn definition_to_proto(d: &model::ResourceDefinition) -> resource::ResourceDefinition {
    resource::ResourceDefinition {
        r#type: d.resource_type.clone(),
        display_type: d.display_type.clone(),
        default_namespace: d.default_namespace.clone(),
        aliases: d.aliases.clone(),
        print_columns: d
            .print_columns
            .iter()
            .map(|c| resource::PrintColumn {
                name: c.name.clone(),
                json_path: c.json_path.clone(),
            })
            .collect(),
        sensitive: d.sensitive,
    }
}

/// A wire definition as a model definition.
pub fn definition_from_proto(d: resource::ResourceDefinition) -> model::ResourceDefinition {
    model::ResourceDefinition {
        resource_type: d.r#type,
        display_type: d.display_type,
        default_namespace: d.default_namespace,
        aliases: d.aliases,
        print_columns: d
            .print_columns
            .into_iter()
            .map(|c| PrintColumn {
                name: c.name,
                json_path: c.json_path,
            })
            .collect(),
        sensitive: d.sensitive,
    }
}

/// Model event kind → wire event type.
pub fn event_to_proto(kind: EventKind) -> resource::EventType {
    match kind {
        EventKind::Created => resource::EventType::Created,
        EventKind::Updated => resource::EventType::Updated,
        EventKind::Destroyed => resource::EventType::Destroyed,
    }
}

/// Wire event type → model event kind (`None` for the bootstrapped marker and unknown values).
pub fn event_from_proto(event: i32) -> Option<EventKind> {
    match resource::EventType::try_from(event).ok()? {
        resource::EventType::Created => Some(EventKind::Created),
        resource::EventType::Updated => Some(EventKind::Updated),
        resource::EventType::Destroyed => Some(EventKind::Destroyed),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_round_trip() {
        let mut metadata = model::Metadata::new(
            "kubespan",
            "KubeSpanIdentities.kubespan.weft.dev",
            "local",
            "o",
        );
        metadata.labels.insert("a".into(), "b".into());
        let r = model::Resource {
            metadata,
            spec: yaml_serde::from_str("address: fd00::1/128\npublicKey: abc\n").expect("spec"),
        };
        let back =
            resource_from_proto(resource_to_proto(&r).expect("to proto")).expect("from proto");
        assert_eq!(back, r);
    }
}
