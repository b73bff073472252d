//! The node-API PKI. One Ed25519 CA per cluster (in the secrets bundle and every machine config)
//! issues the node serving certificates and the client certificates; a client's roles ride in its
//! certificate's Organization entries (`os:admin`, `os:reader`), exactly as Talos does, so no
//! separate authorization database exists.
//!
//! Certificates and keys travel as standard base64 of their PEM text (Talos's `crt`/`key` fields).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// Validity of a newly generated cluster CA (Talos: 10 years).
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Default validity of a client certificate (`weftconfig`, `config new --crt-ttl`): 8760h.
pub const CLIENT_CERT_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// Backdating of `notBefore`, so clocks slightly behind the issuer still accept a new certificate.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(10 * 60);

/// An error building or parsing certificates.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{what} is not standard base64: {source}")]
    Base64 {
        what: &'static str,
        source: base64::DecodeError,
    },
    #[error("{what} is not PEM text")]
    NotPem { what: &'static str },
    #[error("{what}: {source}")]
    Rcgen {
        what: &'static str,
        source: rcgen::Error,
    },
}

/// A client role, carried in the certificate's Organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including sensitive resources and configuration changes.
    Admin,
    /// Read everything except sensitive resources.
    Reader,
}

impl Role {
    /// All roles, in the order they are listed to users.
    pub const ALL: [Role; 2] = [Role::Admin, Role::Reader];

    /// The Organization string (`os:admin`, `os:reader`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "os:admin",
            Role::Reader => "os:reader",
        }
    }

    /// Parses `os:admin` / `os:reader`.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A certificate and its private key, each as base64 of PEM. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertAndKey {
    #[serde(default)]
    pub crt: String,
    #[serde(default)]
    pub key: String,
}

impl fmt::Debug for CertAndKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertAndKey")
            .field("crt", &self.crt)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl CertAndKey {
    /// The certificate as PEM text.
    pub fn crt_pem(&self) -> Result<String, PkiError> {
        decode_pem("certificate", &self.crt)
    }

    /// The private key as PEM text.
    pub fn key_pem(&self) -> Result<String, PkiError> {
        decode_pem("private key", &self.key)
    }
}

/// Decodes base64 of PEM text, checking only that the result looks like PEM.
pub fn decode_pem(what: &'static str, b64: &str) -> Result<String, PkiError> {
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|source| PkiError::Base64 { what, source })?;
    let text = String::from_utf8(bytes).map_err(|_| PkiError::NotPem { what })?;
    if !text.trim_start().starts_with("-----BEGIN ") {
        return Err(PkiError::NotPem { what });
    }
    Ok(text)
}

/// Base64 of PEM text, the form of `crt`/`key` fields.
pub fn encode_pem(pem: &str) -> String {
    STANDARD.encode(pem.as_bytes())
}

/// Generates a new cluster CA (Ed25519, CN/O `weft`).
pub fn generate_ca() -> Result<CertAndKey, PkiError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|source| PkiError::Rcgen {
        what: "generating the CA key",
        source,
    })?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "weft");
    params.distinguished_name.push(DnType::CommonName, "weft");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::CrlSign,
    ];
    set_validity(&mut params, CA_VALIDITY);
    let cert = params.self_signed(&key).map_err(|source| PkiError::Rcgen {
        what: "self-signing the CA",
        source,
    })?;
    Ok(CertAndKey {
        crt: encode_pem(&cert.pem()),
        key: encode_pem(&key.serialize_pem()),
    })
}

/// Issues a client certificate for `roles`, valid for `validity`, signed by `ca`.
pub fn issue_client_cert(
    ca: &CertAndKey,
    common_name: &str,
    roles: &[Role],
    validity: Duration,
) -> Result<CertAndKey, PkiError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    for role in roles {
        params
            .distinguished_name
            .push(DnType::OrganizationName, role.as_str());
    }
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    issue(ca, params, validity)
}

/// Signs `params` (valid from a little before now for `validity`) with a fresh Ed25519 key, by `ca`.
pub fn issue(
    ca: &CertAndKey,
    params: CertificateParams,
    validity: Duration,
) -> Result<CertAndKey, PkiError> {
    let now = OffsetDateTime::now_utc();
    issue_between(ca, params, now - CLOCK_SKEW_ALLOWANCE, now + validity)
}

/// Signs `params`, valid from `not_before` to `not_after`, with a fresh Ed25519 key, by `ca`.
/// (Tests use it for expired certificates.)
pub fn issue_between(
    ca: &CertAndKey,
    mut params: CertificateParams,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertAndKey, PkiError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem()?).map_err(|source| PkiError::Rcgen {
        what: "reading the CA key",
        source,
    })?;
    let issuer =
        Issuer::from_ca_cert_pem(&ca.crt_pem()?, ca_key).map_err(|source| PkiError::Rcgen {
            what: "reading the CA certificate",
            source,
        })?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|source| PkiError::Rcgen {
        what: "generating a key",
        source,
    })?;
    params.not_before = not_before;
    params.not_after = not_after;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|source| PkiError::Rcgen {
            what: "signing the certificate",
            source,
        })?;
    Ok(CertAndKey {
        crt: encode_pem(&cert.pem()),
        key: encode_pem(&key.serialize_pem()),
    })
}

fn set_validity(params: &mut CertificateParams, validity: Duration) {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - CLOCK_SKEW_ALLOWANCE;
    params.not_after = now + validity;
}

/// Checks that `pair` holds a parseable certificate and a private key that belongs to it.
/// The error never contains key material.
pub fn check_pair(pair: &CertAndKey) -> Result<(), String> {
    use rcgen::PublicKeyData as _;
    use rustls_pki_types::pem::PemObject as _;

    let crt = pair.crt_pem().map_err(|e| format!("crt: {e}"))?;
    let key = pair.key_pem().map_err(|e| format!("key: {e}"))?;
    let key = KeyPair::from_pem(&key).map_err(|_| {
        "key: not a PEM private key Weft can use (expected Ed25519, ECDSA or RSA)".to_owned()
    })?;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(crt.as_bytes())
        .map_err(|_| "crt: not a PEM X.509 certificate".to_owned())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|_| "crt: not a valid X.509 certificate".to_owned())?;
    if cert.tbs_certificate.subject_pki.raw != key.subject_public_key_info().as_slice() {
        return Err("key: does not belong to the certificate in crt".to_owned());
    }
    Ok(())
}

/// What a certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub common_name: String,
    /// Organization entries: the roles of a client certificate.
    pub organizations: Vec<String>,
    /// The subject's distinguished name, e.g. `O=os:admin, CN=admin`.
    pub subject: String,
    /// The issuer's distinguished name, e.g. `O=weft, CN=weft`.
    pub issuer: String,
    pub not_after: OffsetDateTime,
}

impl CertInfo {
    /// The roles among the Organization entries (unknown ones ignored).
    pub fn roles(&self) -> Vec<Role> {
        self.organizations
            .iter()
            .filter_map(|o| Role::parse(o))
            .collect()
    }
}

/// Reads subject, issuer and expiry of a base64-PEM certificate.
pub fn cert_info(crt_b64: &str) -> Result<CertInfo, String> {
    use rustls_pki_types::pem::PemObject as _;
    let pem = decode_pem("certificate", crt_b64).map_err(|e| e.to_string())?;
    let der = rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|_| "not a PEM X.509 certificate".to_owned())?;
    cert_info_der(&der)
}

/// Like [`cert_info`], from DER (what a TLS peer presents).
pub fn cert_info_der(der: &[u8]) -> Result<CertInfo, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|_| "not a valid X.509 certificate".to_owned())?;
    let text = |attr: &x509_parser::x509::AttributeTypeAndValue<'_>| {
        attr.as_str().map(str::to_owned).unwrap_or_default()
    };
    Ok(CertInfo {
        common_name: cert
            .subject()
            .iter_common_name()
            .next()
            .map(text)
            .unwrap_or_default(),
        organizations: cert.subject().iter_organization().map(text).collect(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_after: cert.validity().not_after.to_datetime(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_issues_client_cert_with_roles() {
        let ca = generate_ca().expect("ca");
        check_pair(&ca).expect("ca pair matches");
        let client =
            issue_client_cert(&ca, "admin", &[Role::Admin], CLIENT_CERT_VALIDITY).expect("client");
        check_pair(&client).expect("client pair matches");
        let info = cert_info(&client.crt).expect("info");
        assert_eq!(info.organizations, ["os:admin"]);
        assert_eq!(info.roles(), [Role::Admin]);
        assert_eq!(info.common_name, "admin");
        assert_eq!(info.issuer, "O=weft, CN=weft", "issued by the CA");
        let days = (info.not_after - OffsetDateTime::now_utc()).whole_days();
        assert!((364..=365).contains(&days), "valid for a year: {days}");
    }

    #[test]
    fn mismatched_key_is_reported_without_key_material() {
        let a = generate_ca().expect("a");
        let b = generate_ca().expect("b");
        let mixed = CertAndKey {
            crt: a.crt.clone(),
            key: b.key.clone(),
        };
        let err = check_pair(&mixed).expect_err("mismatch");
        assert_eq!(err, "key: does not belong to the certificate in crt");
        assert!(!format!("{mixed:?}").contains(&b.key));
    }

    #[test]
    fn roles_parse() {
        assert_eq!(Role::parse("os:reader"), Some(Role::Reader));
        assert_eq!(Role::parse("os:root"), None);
    }
}
