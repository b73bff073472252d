//! The secrets bundle (`weftctl gen secrets`): everything a cluster's configs are generated from —
//! cluster id and secret, and the node-API CA. Layout follows Talos's `secrets.yaml`
//! (`cluster: {id, secret}`, `certs: {os: {crt, key}}`). Always written with mode 0600.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::validate::{self, ConfigError, Problem};
use super::{CLUSTER_ID_LEN, CLUSTER_SECRET_LEN, schema};
use crate::pki::{self, CertAndKey, PkiError};

/// The secrets bundle.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsBundle {
    #[serde(default)]
    pub cluster: ClusterSecrets,
    #[serde(default)]
    pub certs: Certs,
}

/// `cluster`: id and secret, both base64 of 32 random bytes. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSecrets {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub secret: String,
}

impl fmt::Debug for ClusterSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterSecrets")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `certs`: the node-API CA (`os`, as in Talos).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certs {
    #[serde(default)]
    pub os: CertAndKey,
}

/// 32 random bytes in standard base64.
pub fn random_base64_32() -> String {
    const _: () = assert!(CLUSTER_ID_LEN == CLUSTER_SECRET_LEN);
    let mut bytes = [0u8; CLUSTER_SECRET_LEN];
    rand::fill(&mut bytes);
    STANDARD.encode(bytes)
}

impl SecretsBundle {
    /// A new bundle: random cluster id and secret, a new CA.
    pub fn generate() -> Result<SecretsBundle, PkiError> {
        Ok(SecretsBundle {
            cluster: ClusterSecrets {
                id: random_base64_32(),
                secret: random_base64_32(),
            },
            certs: Certs {
                os: pki::generate_ca()?,
            },
        })
    }

    /// Parses and checks a bundle; `source` names the text's origin in messages.
    pub fn parse(text: &str, source: &str) -> Result<SecretsBundle, ConfigError> {
        let mut problems = Vec::new();
        let bundle: SecretsBundle = validate::parse_document(
            text,
            source,
            schema::SECRETS_KEYS,
            "secrets bundle",
            &mut problems,
        )?;
        let reported =
            |problems: &Vec<Problem>, path: &str| problems.iter().any(|p| p.path == path);
        if bundle.cluster.id.is_empty() {
            if !reported(&problems, "cluster.id") {
                problems.push(Problem::new("cluster.id", "missing"));
            }
        } else if let Err(msg) = validate::check_cluster_id(&bundle.cluster.id) {
            problems.push(Problem::new("cluster.id", msg));
        }
        if bundle.cluster.secret.is_empty() {
            if !reported(&problems, "cluster.secret") {
                problems.push(Problem::new("cluster.secret", "missing"));
            }
        } else if let Err(msg) = validate::decode_cluster_secret(&bundle.cluster.secret) {
            problems.push(Problem::new("cluster.secret", msg));
        }
        let ca = &bundle.certs.os;
        if ca.crt.is_empty() && ca.key.is_empty() {
            if !reported(&problems, "certs.os") {
                problems.push(Problem::new(
                    "certs.os",
                    "missing, expected the node API CA {crt, key}",
                ));
            }
        } else if let Err(msg) = pki::check_pair(ca) {
            problems.push(Problem::new("certs.os", msg));
        }
        if problems.is_empty() {
            Ok(bundle)
        } else {
            Err(ConfigError::Invalid {
                source_name: source.to_owned(),
                what: "secrets bundle",
                problems,
            })
        }
    }

    /// Reads and checks the bundle at `path`.
    pub fn load(path: &Path) -> Result<SecretsBundle, ConfigError> {
        let text = validate::read_text_file(path, "secrets bundle")?;
        SecretsBundle::parse(&text, &path.display().to_string())
    }

    /// The bundle as YAML.
    pub fn to_yaml(&self) -> String {
        crate::yaml::to_string(self).expect("a secrets bundle always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_parse_round_trip() {
        let bundle = SecretsBundle::generate().expect("generate");
        assert_eq!(STANDARD.decode(&bundle.cluster.id).expect("id").len(), 32);
        assert_eq!(
            STANDARD
                .decode(&bundle.cluster.secret)
                .expect("secret")
                .len(),
            32
        );
        assert_ne!(bundle.cluster.id, bundle.cluster.secret);
        let back = SecretsBundle::parse(&bundle.to_yaml(), "secrets.yaml").expect("parse");
        assert_eq!(back, bundle);
        assert!(!format!("{bundle:?}").contains(&bundle.cluster.secret));
    }

    #[test]
    fn problems_are_all_reported() {
        let err = SecretsBundle::parse("cluster:\n  secret: c2hvcnQ=\n  idd: x\n", "s.yaml")
            .expect_err("invalid");
        let text: Vec<String> = err.problems().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            text,
            [
                "cluster.idd: unknown key, did you mean \"id\"?",
                "cluster.id: missing",
                "cluster.secret: decodes to 5 bytes, expected exactly 32 (`openssl rand -base64 32`)",
                "certs.os: missing, expected the node API CA {crt, key}",
            ]
        );
    }
}
