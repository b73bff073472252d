//! The node's serving certificate, issued at every start from the cluster CA in the machine config,
//! so it always names the node's current hostname and addresses and never needs distributing —
//! plus `machine.certSANs`, for the names and addresses the node is reached by that it cannot see
//! on its own interfaces (a NAT router's public address, a DNS name).

use std::net::IpAddr;

use anyhow::Context as _;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyUsagePurpose, SanType,
};
use weft_api::config::validate::CertSan;
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

/// Issues a serving certificate for `hostname` and `addresses` (plus `localhost`) and the `extra`
/// names and addresses (`machine.certSANs`).
pub fn issue(
    ca: &CertAndKey,
    hostname: &str,
    addresses: &[IpAddr],
    extra: &[CertSan],
) -> anyhow::Result<ServingCert> {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, hostname);
    let mut sans = Vec::new();
    let mut names = vec![hostname.to_owned(), "localhost".to_owned()];
    let mut addresses = addresses.to_vec();
    for san in extra {
        match san {
            CertSan::Ip(ip) => addresses.push(*ip),
            CertSan::Dns(name) => names.push(name.clone()),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    let mut seen = std::collections::BTreeSet::new();
    addresses.retain(|ip| seen.insert(*ip));
    for name in names.into_iter().filter(|n| !n.is_empty()) {
        let dns = name
            .clone()
            .try_into()
            .with_context(|| format!("hostname {name:?}"))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
        sans.push(name);
    }
    for ip in &addresses {
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

#[cfg(test)]
mod tests {
    use x509_parser::extensions::GeneralName;

    use super::*;

    /// The names and addresses in the issued certificate itself.
    fn names_in(crt_pem: &str) -> (Vec<String>, Vec<IpAddr>) {
        let (_, pem) = x509_parser::pem::parse_x509_pem(crt_pem.as_bytes()).expect("pem");
        let cert = pem.parse_x509().expect("certificate");
        let san = cert
            .subject_alternative_name()
            .expect("extension")
            .expect("SANs present");
        let (mut dns, mut ips) = (Vec::new(), Vec::new());
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(b) => ips.push(match b.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(*b).expect("v4")),
                    _ => IpAddr::from(<[u8; 16]>::try_from(*b).expect("v6")),
                }),
                other => panic!("unexpected name {other:?}"),
            }
        }
        (dns, ips)
    }

    #[test]
    fn cert_sans_are_added_once_next_to_the_nodes_own_names() {
        let ca = pki::generate_ca().expect("ca");
        let own: Vec<IpAddr> = vec!["10.5.0.2".parse().expect("ip"), "::1".parse().expect("ip")];
        let extra = [
            CertSan::Ip("203.0.113.7".parse().expect("ip")),
            CertSan::Ip("10.5.0.2".parse().expect("ip")),
            CertSan::Dns("node-1.example.com".to_owned()),
            CertSan::Dns("localhost".to_owned()),
        ];
        let cert = issue(&ca, "node-1", &own, &extra).expect("issue");
        let (dns, ips) = names_in(&cert.crt_pem);
        assert_eq!(dns, ["node-1", "localhost", "node-1.example.com"]);
        assert_eq!(
            ips,
            [
                "10.5.0.2".parse::<IpAddr>().expect("ip"),
                "::1".parse().expect("ip"),
                "203.0.113.7".parse().expect("ip"),
            ]
        );
        assert_eq!(
            cert.sans,
            [
                "node-1",
                "localhost",
                "node-1.example.com",
                "10.5.0.2",
                "::1",
                "203.0.113.7"
            ]
        );
        // Without extras: only the node's own.
        let plain = issue(&ca, "node-1", &own, &[]).expect("issue");
        assert_eq!(names_in(&plain.crt_pem).1.len(), 2);
    }
}
