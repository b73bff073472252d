//! The node's serving certificate, issued at every start from the cluster CA in the machine config,
//! so it always names the node's current hostname and addresses and never needs distributing.

use std::net::IpAddr;

use anyhow::Context as _;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType,
};
use weft_api::pki::{self, CertAndKey};

/// Validity of a serving certificate; a restart issues a new one.
pub const SERVING_CERT_VALIDITY: std::time::Duration =
    std::time::Duration::from_secs(365 * 24 * 3600);

/// PEM texts for the TLS server. `Debug` never shows the key.
pub struct ServingCert {
    pub ca_pem: String,
    pub crt_pem: String,
    pub key_pem: String,
    /// The names and addresses the certificate is valid for.
    pub sans: Vec<String>,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("sans", &self.sans)
            .finish_non_exhaustive()
    }
}

/// Issues a serving certificate for `hostname` and `addresses` (plus `localhost`).
pub fn issue(ca: &CertAndKey, hostname: &str, addresses: &[IpAddr]) -> anyhow::Result<ServingCert> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, hostname);
    let mut sans = Vec::new();
    let mut names = vec![hostname.to_owned(), "localhost".to_owned()];
    names.dedup();
    for name in names.into_iter().filter(|n| !n.is_empty()) {
        let dns = name
            .clone()
            .try_into()
            .with_context(|| format!("hostname {name:?}"))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
        sans.push(name);
    }
    for ip in addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
        sans.push(ip.to_string());
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let issued =
        pki::issue(ca, params, SERVING_CERT_VALIDITY).context("issuing the serving certificate")?;
    Ok(ServingCert {
        ca_pem: ca.crt_pem()?,
        crt_pem: issued.crt_pem()?,
        key_pem: issued.key_pem()?,
        sans,
    })
}

/// This host's addresses: every interface address, loopback included (so local clients verify).
pub fn local_addresses() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    for lo in [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ] {
        if !ips.contains(&lo) {
            ips.push(lo);
        }
    }
    ips.sort();
    ips.dedup();
    ips
}
