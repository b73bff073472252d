//! Node identity (`Identities.cluster.weft.dev`), id `local`: the node id, which is this node's
//! affiliate id at the discovery service. Generated once (32 random bytes, base62 as Talos encodes
//! them) and kept in `node-identity.yaml` on the state directory; regenerated only when that file
//! is gone (a wiped node is a new node).

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::base62;
use crate::resources::identity_file::{self, IdentityFileError};
use crate::resources::{IDENTITY_TYPE, NAMESPACE_CLUSTER, TypedSpec};

/// Name of the node identity file in the state directory (as on Talos's STATE partition).
pub const NODE_IDENTITY_FILE_NAME: &str = "node-identity.yaml";
/// Random bytes in a node id.
pub const NODE_ID_LEN: usize = 32;

/// The node identity spec; also the content of `node-identity.yaml` (`nodeId: <id>`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySpec {
    pub node_id: String,
}

impl TypedSpec for IdentitySpec {
    const TYPE: &'static str = IDENTITY_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_CLUSTER;
}

impl IdentitySpec {
    /// A new random node id.
    pub fn generate() -> IdentitySpec {
        let mut bytes = [0u8; NODE_ID_LEN];
        rand::fill(&mut bytes);
        IdentitySpec {
            node_id: base62::encode(&bytes),
        }
    }

    /// Parses `node-identity.yaml`; `source_name` (usually the path) names it in errors. Refuses a
    /// missing or empty id, and one that is not base62 of 32 bytes.
    pub fn parse(text: &str, source_name: &str) -> Result<IdentitySpec, IdentityFileError> {
        let map = identity_file::parse_mapping(text, source_name)?;
        let node_id = identity_file::required_string(&map, "nodeId", source_name)?;
        let bytes = base62::decode(node_id).map_err(|e| {
            IdentityFileError::invalid(source_name, format!("nodeId: not base62 ({e})"))
        })?;
        if bytes.len() != NODE_ID_LEN {
            return Err(IdentityFileError::invalid(
                source_name,
                format!(
                    "nodeId: decodes to {} bytes, expected {NODE_ID_LEN}",
                    bytes.len()
                ),
            ));
        }
        Ok(IdentitySpec {
            node_id: node_id.to_owned(),
        })
    }

    /// The file's text: `nodeId: <id>`.
    pub fn to_yaml(&self) -> String {
        // Through the serializer: an id that happened to look like a number would get quoted.
        yaml_serde::to_string(self).unwrap_or_else(|_| format!("nodeId: {}\n", self.node_id))
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<IdentitySpec, IdentityFileError> {
        let text = identity_file::read(path)?;
        IdentitySpec::parse(&text, &path.display().to_string())
    }

    /// Writes a new file at `path` (mode 0600); fails if one exists, so the id never changes.
    pub fn create(&self, path: &Path) -> Result<(), IdentityFileError> {
        identity_file::create(path, &self.to_yaml())
    }

    /// Loads the file at `path`, or generates an id and creates it when there is none. Returns the
    /// identity and whether it is new. If another process creates the file first, its id wins.
    pub fn load_or_create(path: &Path) -> Result<(IdentitySpec, bool), IdentityFileError> {
        match IdentitySpec::load(path) {
            Ok(id) => Ok((id, false)),
            Err(e) if e.is_not_found() => {
                let id = IdentitySpec::generate();
                match id.create(path) {
                    Ok(()) => Ok((id, true)),
                    Err(e) if e.is_already_exists() => Ok((IdentitySpec::load(path)?, false)),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The machine id Talos derives from the node id: hex of the first 16 decoded bytes. `None` if
    /// the id does not decode to at least 16 bytes.
    pub fn machine_id(&self) -> Option<String> {
        let bytes = base62::decode(&self.node_id).ok()?;
        let first = bytes.get(..16)?;
        Some(first.iter().fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const TALOS_ID: &str = "Utoh3O0ZneV0kT2IUBrh7TgdouRcUW2yzaaMl4VXnCd";

    #[test]
    fn generated_ids_look_like_talos_ids() {
        let a = IdentitySpec::generate();
        let b = IdentitySpec::generate();
        assert_ne!(a, b);
        for id in [&a, &b] {
            assert!((42..=44).contains(&id.node_id.len()), "{}", id.node_id);
            assert!(id.node_id.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(IdentitySpec::parse(&id.to_yaml(), "f").expect("valid"), *id);
        }
    }

    #[test]
    fn talos_file_round_trips() {
        let text = format!("nodeId: {TALOS_ID}\n");
        let id = IdentitySpec::parse(&text, "node-identity.yaml").expect("valid");
        assert_eq!(id.node_id, TALOS_ID);
        assert_eq!(id.to_yaml(), text);
        let machine_id = id.machine_id().expect("decodes");
        assert_eq!(machine_id.len(), 32);
        assert!(machine_id.bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn refuses_bad_files() {
        for (text, want) in [
            ("", "f.yaml: empty file"),
            ("nodeId: \"\"\n", "f.yaml: nodeId: missing or empty"),
            ("other: x\n", "f.yaml: nodeId: missing or empty"),
            ("nodeId: 12\n", "f.yaml: nodeId: expected a string"),
            (
                "nodeId: abc-def\n",
                "f.yaml: nodeId: not base62 (illegal base62 data at input byte 3)",
            ),
            (
                "nodeId: abcdef\n",
                "f.yaml: nodeId: decodes to 5 bytes, expected 32",
            ),
        ] {
            let err = IdentitySpec::parse(text, "f.yaml").expect_err(want);
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn load_or_create_generates_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(NODE_IDENTITY_FILE_NAME);
        let (first, created) = IdentitySpec::load_or_create(&path).expect("create");
        assert!(created);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, created) = IdentitySpec::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(first, second);
        assert!(
            IdentitySpec::generate()
                .create(&path)
                .expect_err("exists")
                .is_already_exists()
        );
    }
}
