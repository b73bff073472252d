//! The client config (`weftconfig`, like `talosconfig`): the current context and, per context, the
//! node API endpoints, the CA that signs the nodes' certificates, and the client's own certificate
//! and key (whose Organization carries its role). Written with mode 0600.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A client config.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The current context.
    #[serde(default)]
    pub context: String,
    #[serde(default)]
    pub contexts: BTreeMap<String, Context>,
}

/// One context: how to reach a cluster's nodes. `Debug` never shows the key.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// The cluster CA certificate, base64 PEM.
    #[serde(default)]
    pub ca: String,
    /// The client certificate, base64 PEM.
    #[serde(default)]
    pub crt: String,
    /// The client key, base64 PEM.
    #[serde(default)]
    pub key: String,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("endpoints", &self.endpoints)
            .field("nodes", &self.nodes)
            .field("ca", &self.ca)
            .field("crt", &self.crt)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ClientConfig {
    /// The config as YAML.
    pub fn to_yaml(&self) -> String {
        crate::yaml::to_string(self).expect("a client config always serializes")
    }
}
