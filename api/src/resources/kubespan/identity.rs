//! KubeSpan identity (`KubeSpanIdentities.kubespan.weft.dev`), id `local`: the node's WireGuard key
//! pair and its KubeSpan address. Sensitive: it holds the private key.
//!
//! The keys are generated once and kept in `kubespan-identity.yaml` on the state directory
//! ([`IdentityFile`]); the address and subnet are recomputed from the cluster id and the first MAC
//! every time the identity is established, never trusted from the file.

use std::fmt;
use std::path::Path;

use ipnet::Ipv6Net;
use serde::{Deserialize, Serialize};

use super::address::kubespan_address;
use super::key::{self, KeyError};
use crate::resources::identity_file::{self, IdentityFileError};
use crate::resources::{KUBESPAN_IDENTITY_TYPE, NAMESPACE_KUBESPAN, TypedSpec};

/// Name of the identity file in the state directory (as on Talos's STATE partition).
pub const IDENTITY_FILE_NAME: &str = "kubespan-identity.yaml";

/// The KubeSpan identity spec. `Debug` never shows the private key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentitySpec {
    /// The node's KubeSpan address, /128.
    pub address: Ipv6Net,
    /// The cluster's KubeSpan subnet, /64 (the `kubespan` link gets `address` with this length).
    pub subnet: Ipv6Net,
    /// WireGuard private key, standard base64.
    pub private_key: String,
    /// WireGuard public key, standard base64: this node's peer id on every other node.
    pub public_key: String,
}

impl TypedSpec for IdentitySpec {
    const TYPE: &'static str = KUBESPAN_IDENTITY_TYPE;
    const NAMESPACE: &'static str = NAMESPACE_KUBESPAN;
}

impl IdentitySpec {
    /// The identity for `keys` in the cluster `cluster_id`, on a node whose first physical NIC has
    /// `mac`.
    pub fn new(keys: &IdentityFile, cluster_id: &str, mac: [u8; 6]) -> IdentitySpec {
        let (subnet, address) = kubespan_address(cluster_id, mac);
        IdentitySpec {
            address,
            subnet,
            private_key: keys.private_key.clone(),
            public_key: keys.public_key.clone(),
        }
    }
}

impl fmt::Debug for IdentitySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentitySpec")
            .field("address", &self.address)
            .field("subnet", &self.subnet)
            .field("private_key", &"<redacted>")
            .field("public_key", &self.public_key)
            .finish()
    }
}

/// `kubespan-identity.yaml`: the key pair, as Talos writes it. Address and subnet are written as
/// empty strings because Talos writes the file right after generating the keys, before it knows
/// them; they are ignored when read. `Debug` never shows the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityFile {
    pub private_key: String,
    pub public_key: String,
}

impl IdentityFile {
    /// A new random key pair.
    pub fn generate() -> IdentityFile {
        let (private_key, public_key) = key::generate_key_pair();
        IdentityFile {
            private_key,
            public_key,
        }
    }

    /// Parses the file's text; `source_name` (usually the path) names it in errors. Refuses a
    /// missing, empty, malformed or all-zero key, and a public key that is not the private key's.
    pub fn parse(text: &str, source_name: &str) -> Result<IdentityFile, IdentityFileError> {
        let map = identity_file::parse_mapping(text, source_name)?;
        // Address and subnet are recomputed on every start; only their type is checked so a
        // corrupt file is not half-accepted.
        for ignored in ["address", "subnet"] {
            identity_file::string_field(&map, ignored, source_name)?;
        }
        let private_key = identity_file::required_string(&map, "privateKey", source_name)?;
        let public_key = identity_file::required_string(&map, "publicKey", source_name)?;
        let key_err = |field: &str, err: KeyError| {
            IdentityFileError::invalid(source_name, format!("{field}: {err}"))
        };
        let derived =
            key::public_key_from_private(private_key).map_err(|e| key_err("privateKey", e))?;
        key::decode_key(public_key).map_err(|e| key_err("publicKey", e))?;
        if derived != public_key {
            return Err(IdentityFileError::invalid(
                source_name,
                "publicKey: does not belong to privateKey",
            ));
        }
        Ok(IdentityFile {
            private_key: private_key.to_owned(),
            public_key: public_key.to_owned(),
        })
    }

    /// The file's text. Written by hand rather than through the YAML serializer so the empty
    /// address and subnet come out as `""`, byte for byte what Talos writes; base64 keys are always
    /// valid plain scalars (no indicator first, never a number, bool or null).
    pub fn to_yaml(&self) -> String {
        format!(
            "address: \"\"\nsubnet: \"\"\nprivateKey: {}\npublicKey: {}\n",
            self.private_key, self.public_key
        )
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<IdentityFile, IdentityFileError> {
        let text = identity_file::read(path)?;
        IdentityFile::parse(&text, &path.display().to_string())
    }

    /// Writes a new file at `path` (mode 0600); fails if one exists, so keys are never replaced.
    pub fn create(&self, path: &Path) -> Result<(), IdentityFileError> {
        identity_file::create(path, &self.to_yaml())
    }

    /// Loads the file at `path`, or generates keys and creates it when there is none. Returns the
    /// keys and whether they are new. If another process creates the file first, its keys win.
    pub fn load_or_create(path: &Path) -> Result<(IdentityFile, bool), IdentityFileError> {
        match IdentityFile::load(path) {
            Ok(keys) => Ok((keys, false)),
            Err(e) if e.is_not_found() => {
                let keys = IdentityFile::generate();
                match keys.create(path) {
                    Ok(()) => Ok((keys, true)),
                    Err(e) if e.is_already_exists() => Ok((IdentityFile::load(path)?, false)),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }
}

impl fmt::Debug for IdentityFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityFile")
            .field("private_key", &"<redacted>")
            .field("public_key", &self.public_key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const PRIVATE: &str = "sF45u5ePau58WeeCUY3T8D9foEKaQ8Opx4cGC8g4XE4=";
    const PUBLIC: &str = "Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=";
    const TALOS_FILE: &str = "address: \"\"\nsubnet: \"\"\nprivateKey: sF45u5ePau58WeeCUY3T8D9foEKaQ8Opx4cGC8g4XE4=\npublicKey: Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=\n";

    fn talos_keys() -> IdentityFile {
        IdentityFile {
            private_key: PRIVATE.to_owned(),
            public_key: PUBLIC.to_owned(),
        }
    }

    #[test]
    fn reads_and_writes_talos_file() {
        let keys = IdentityFile::parse(TALOS_FILE, "kubespan-identity.yaml").expect("valid");
        assert_eq!(keys, talos_keys());
        assert_eq!(keys.to_yaml(), TALOS_FILE);
        // Whatever address a file claims is ignored.
        let stale = TALOS_FILE.replace("address: \"\"", "address: fd00::1/128");
        assert_eq!(IdentityFile::parse(&stale, "f").expect("valid"), keys);
    }

    #[test]
    fn generated_file_round_trips_through_yaml() {
        for _ in 0..32 {
            let keys = IdentityFile::generate();
            let text = keys.to_yaml();
            assert_eq!(IdentityFile::parse(&text, "f").expect("valid"), keys);
            let tree: yaml_serde::Value = yaml_serde::from_str(&text).expect("yaml");
            assert_eq!(tree["privateKey"].as_str(), Some(keys.private_key.as_str()));
            assert_eq!(tree["address"].as_str(), Some(""));
        }
    }

    #[test]
    fn refuses_bad_files_without_leaking_the_key() {
        let zero = STANDARD.encode([0u8; 32]);
        let other_public = IdentityFile::generate().public_key;
        let cases = [
            ("", "f.yaml: empty file"),
            ("address: \"\"\n", "f.yaml: privateKey: missing or empty"),
            (
                &format!("privateKey: {PRIVATE}\npublicKey: \"\"\n"),
                "f.yaml: publicKey: missing or empty",
            ),
            (
                &format!("privateKey: {zero}\npublicKey: {zero}\n"),
                "f.yaml: privateKey: all-zero key",
            ),
            (
                &format!("privateKey: {}!\npublicKey: {PUBLIC}\n", &PRIVATE[..43]),
                "f.yaml: privateKey: not standard base64",
            ),
            (
                &format!("privateKey: [{PRIVATE}]\npublicKey: {PUBLIC}\n"),
                "f.yaml: privateKey: expected a string",
            ),
            (
                &format!("privateKey: {PRIVATE}\npublicKey: {other_public}\n"),
                "f.yaml: publicKey: does not belong to privateKey",
            ),
            (
                &format!("privateKey: {PRIVATE}\npublicKey: {PUBLIC}\n  bad: [\n"),
                "f.yaml: not valid YAML",
            ),
        ];
        for (text, want) in cases {
            let err = IdentityFile::parse(text, "f.yaml").expect_err(want);
            let msg = err.to_string();
            assert!(msg.starts_with(want), "{msg:?} should start with {want:?}");
            assert!(
                !msg.contains(PRIVATE) && !msg.contains(&PRIVATE[..20]),
                "{msg}"
            );
        }
    }

    #[test]
    fn debug_redacts_private_key() {
        let keys = talos_keys();
        let spec = IdentitySpec::new(
            &keys,
            "8XuV9TZHW08DOk3bVxQjH9ih_TBKjnh-j44tsCLSBzo=",
            [0x2e, 0x1a, 0xb6, 0x53, 0x81, 0x69],
        );
        for text in [
            format!("{keys:?}"),
            format!("{spec:?}"),
            format!("{spec:#?}"),
        ] {
            assert!(!text.contains(PRIVATE), "{text}");
            assert!(
                text.contains("<redacted>") && text.contains(PUBLIC),
                "{text}"
            );
        }
    }

    #[test]
    fn spec_yaml_keys_and_address() {
        let spec = IdentitySpec::new(
            &talos_keys(),
            "8XuV9TZHW08DOk3bVxQjH9ih_TBKjnh-j44tsCLSBzo=",
            [0x2e, 0x1a, 0xb6, 0x53, 0x81, 0x69],
        );
        assert_eq!(
            yaml_serde::to_string(&spec).expect("yaml"),
            format!(
                "address: fd7f:175a:b97c:5602:2c1a:b6ff:fe53:8169/128\nsubnet: fd7f:175a:b97c:5602::/64\nprivateKey: {PRIVATE}\npublicKey: {PUBLIC}\n"
            )
        );
        let back: IdentitySpec =
            yaml_serde::from_str(&yaml_serde::to_string(&spec).expect("yaml")).expect("parse");
        assert_eq!(back, spec);
    }

    #[test]
    fn load_or_create_generates_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(IDENTITY_FILE_NAME);
        let (first, created) = IdentityFile::load_or_create(&path).expect("create");
        assert!(created);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, created) = IdentityFile::load_or_create(&path).expect("load");
        assert!(!created);
        assert_eq!(first, second);
        let err = IdentityFile::generate().create(&path).expect_err("exists");
        assert!(err.is_already_exists());
        assert!(err.to_string().contains(IDENTITY_FILE_NAME), "{err}");
        std::fs::write(&path, "privateKey: \"\"\n").expect("corrupt");
        let err = IdentityFile::load_or_create(&path).expect_err("corrupt");
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }
}
