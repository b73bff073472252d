//! The client config (`weftconfig`, like `talosconfig`): the current context and, per context, the
//! node API endpoints, the CA that signs the nodes' certificates, and the client's own certificate
//! and key (whose Organization carries its role). Written with mode 0600.

use std::collections::BTreeMap;
use std::fmt;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::validate::{self, ConfigError, Problem};
use crate::fsutil;

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

    /// Parses a client config; `source` names the text's origin in messages.
    pub fn parse(text: &str, source: &str) -> Result<ClientConfig, ConfigError> {
        let value = validate::parse_yaml(text, source)?;
        if value.is_null() {
            return Ok(ClientConfig::default());
        }
        yaml_serde::from_value(value).map_err(|e| ConfigError::Invalid {
            source_name: source.to_owned(),
            what: "client config",
            problems: vec![Problem::new("", e.to_string())],
        })
    }

    /// Reads the client config at `path`; a missing file is an empty config.
    pub fn load_or_default(path: &Path) -> Result<ClientConfig, ConfigError> {
        if !path.exists() {
            return Ok(ClientConfig::default());
        }
        let text = validate::read_text_file(path, "client config")?;
        ClientConfig::parse(&text, &path.display().to_string())
    }

    /// Writes the config atomically with mode 0600, creating the directory (0700) if needed. A
    /// symbolic link at `path` is written through (its target is replaced, the link stays).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let path = &fsutil::resolve_links(path)?;
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        fsutil::write_atomic(path, self.to_yaml().as_bytes(), fsutil::SECRET_FILE_MODE)
    }

    /// Merges `other`'s contexts into this config, as `talosctl config merge` does: an identical
    /// context is kept once; a different one with a taken name is renamed `<name>-1`, `<name>-2`, …
    /// The current context becomes `other`'s (under its final name). Returns the renames made.
    pub fn merge(&mut self, other: ClientConfig) -> Vec<(String, String)> {
        let mut renames = Vec::new();
        let mut current = other.context.clone();
        for (name, ctx) in other.contexts {
            let mut final_name = name.clone();
            let mut n = 0;
            loop {
                match self.contexts.get(&final_name) {
                    None => {
                        self.contexts.insert(final_name.clone(), ctx);
                        break;
                    }
                    Some(existing) if *existing == ctx => break,
                    Some(_) => {
                        n += 1;
                        final_name = format!("{name}-{n}");
                    }
                }
            }
            if final_name != name {
                renames.push((name.clone(), final_name.clone()));
            }
            if name == other.context {
                current = final_name;
            }
        }
        if !current.is_empty() {
            self.context = current;
        }
        renames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(endpoint: &str) -> Context {
        Context {
            endpoints: vec![endpoint.to_owned()],
            ..Context::default()
        }
    }

    #[test]
    fn merge_renames_conflicts_and_switches_context() {
        let mut base = ClientConfig {
            context: "a".into(),
            contexts: [("a".to_owned(), ctx("1")), ("b".to_owned(), ctx("2"))].into(),
        };
        let other = ClientConfig {
            context: "b".into(),
            contexts: [("a".to_owned(), ctx("1")), ("b".to_owned(), ctx("3"))].into(),
        };
        let renames = base.merge(other);
        assert_eq!(renames, [("b".to_owned(), "b-1".to_owned())]);
        assert_eq!(base.context, "b-1");
        assert_eq!(base.contexts.len(), 3);
        assert_eq!(base.contexts["b-1"], ctx("3"));
    }

    #[test]
    fn save_is_private_and_round_trips() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/config");
        let cfg = ClientConfig {
            context: "a".into(),
            contexts: [("a".to_owned(), ctx("1"))].into(),
        };
        cfg.save(&path).expect("save");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().expect("dir"))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert_eq!(ClientConfig::load_or_default(&path).expect("load"), cfg);
    }
}
