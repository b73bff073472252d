//! `weftctl external-peer add|remove`: publish a plain WireGuard device that runs no weftd (a
//! router, an appliance) as a member of the cluster, or stop publishing it. Each target node keeps
//! it published (persisted in its state directory) until it is removed there; every node then has
//! it as a KubeSpan peer. `weftctl get externalpeers` lists what a node publishes.
//!
//! The flags are checked here (a usage error names the flag, exit code 2); the node checks them
//! again, with its limits and against its own KubeSpan subnet and key (exit code 1, also naming
//! the flag). One line per node; exit code 1 if any node failed.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use weft_api::proto::machine::machine_service_client::MachineServiceClient;
use weft_api::proto::machine::{AddExternalPeerRequest, RemoveExternalPeerRequest};
use weft_api::resources::kubespan::key::{KEY_BASE64_LEN, decode_key};

use crate::args::{ExternalPeerAddArgs, ExternalPeerRemoveArgs, GlobalArgs};
use crate::client;

/// Longest name: a DNS label.
const MAX_NAME_LEN: usize = 63;

/// `NAME`: a DNS label (lower-case: it becomes a node name).
pub fn parse_name(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "expected a DNS label: 1-{MAX_NAME_LEN} lower-case letters, digits and '-', not starting or ending with '-'"
        ))
    }
}

/// `--public-key`: a WireGuard key, 44 characters of base64 encoding 32 bytes.
pub fn parse_public_key(s: &str) -> Result<String, String> {
    let expected = format!(
        "expected a WireGuard public key ({KEY_BASE64_LEN} characters of base64 encoding 32 bytes, as `wg pubkey` prints it)"
    );
    if s.len() != KEY_BASE64_LEN {
        return Err(format!("{} characters; {expected}", s.chars().count()));
    }
    decode_key(s).map_err(|e| format!("{e}; {expected}"))?;
    Ok(s.to_owned())
}

/// `--endpoint`: `IP:PORT` with a real address and port.
pub fn parse_endpoint(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .ok()
        .filter(|ep| ep.port() != 0 && !ep.ip().is_unspecified())
        .ok_or_else(|| {
            "expected IP:PORT with a port in 1-65535 (e.g. 192.0.2.1:51820 or [2001:db8::1]:51820)"
                .to_owned()
        })
}

/// `--address`: an address (a single host) or a network without host bits.
pub fn parse_address(s: &str) -> Result<IpNet, String> {
    let net = match s.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => s
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| "expected an IP address or a network (CIDR)".to_owned())?,
    };
    if net.trunc() != net {
        return Err(format!("has host bits set; the network is {}", net.trunc()));
    }
    Ok(net)
}

/// Runs one call per target node concurrently and prints a line per node; `Err` if any failed.
async fn on_each_node<F, Fut>(global: &GlobalArgs, call: F) -> anyhow::Result<()>
where
    F: Fn(MachineServiceClient<tonic::transport::Channel>) -> Fut,
    Fut: std::future::Future<Output = Result<String, tonic::Status>>,
{
    let (_, ctx) = client::selected_context(global)?;
    let targets = client::targets(global, &ctx)?;
    let calls = targets.iter().map(|target| {
        let ctx = &ctx;
        let call = &call;
        async move {
            let channel = client::channel(target, ctx, global.timeout)?;
            call(MachineServiceClient::new(channel))
                .await
                .map_err(|s| anyhow::anyhow!("{}", client::describe_status(&s)))
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut failed = 0;
    let mut out = std::io::stdout().lock();
    for (target, result) in targets.iter().zip(results) {
        match result {
            Ok(line) => writeln!(out, "{}: {line}", target.name)?,
            Err(err) => {
                failed += 1;
                eprintln!("error: {}: {err:#}", target.name);
            }
        }
    }
    client::fail_if_any(failed, targets.len())
}

pub async fn add(global: &GlobalArgs, args: &ExternalPeerAddArgs) -> anyhow::Result<()> {
    let request = AddExternalPeerRequest {
        name: args.name.clone(),
        public_key: args.public_key.clone(),
        endpoint: args.endpoint.map(|e| e.to_string()).unwrap_or_default(),
        addresses: args.addresses.iter().map(ToString::to_string).collect(),
    };
    on_each_node(global, |mut machine| {
        let request = request.clone();
        async move {
            let reply = machine.add_external_peer(request).await?.into_inner();
            let verb = if reply.created { "added" } else { "updated" };
            let address = if reply.kubespan_address.is_empty() {
                "no KubeSpan address: routed by its addresses".to_owned()
            } else {
                format!("KubeSpan address {}", reply.kubespan_address)
            };
            Ok(format!(
                "external peer {} {verb}, published as affiliate {} ({address})",
                args.name, reply.affiliate_id
            ))
        }
    })
    .await
}

pub async fn remove(global: &GlobalArgs, args: &ExternalPeerRemoveArgs) -> anyhow::Result<()> {
    on_each_node(global, |mut machine| {
        let request = RemoveExternalPeerRequest {
            name: args.name.clone(),
        };
        async move {
            let reply = machine.remove_external_peer(request).await?.into_inner();
            Ok(format!(
                "external peer {} removed; affiliate {} withdrawn from the discovery services",
                args.name, reply.affiliate_id
            ))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_name("router-1"), Ok("router-1".to_owned()));
        for bad in ["", "Router", "-r", "r-", "a.b", &"r".repeat(64)] {
            assert!(parse_name(bad).is_err(), "{bad:?}");
        }
        let key = "Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE=";
        assert_eq!(parse_public_key(key), Ok(key.to_owned()));
        assert!(
            parse_public_key("short")
                .unwrap_err()
                .starts_with("5 characters")
        );
        assert!(
            parse_public_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
                .unwrap_err()
                .contains("all-zero")
        );
        assert!(parse_endpoint("[2001:db8::1]:51820").is_ok());
        for bad in ["192.0.2.1", "192.0.2.1:0", "0.0.0.0:51820", "host:51820"] {
            assert!(parse_endpoint(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            parse_address("10.0.0.1"),
            Ok("10.0.0.1/32".parse().expect("net"))
        );
        assert_eq!(
            parse_address("fd00::/8"),
            Ok("fd00::/8".parse().expect("net"))
        );
        assert_eq!(
            parse_address("10.0.0.1/24"),
            Err("has host bits set; the network is 10.0.0.0/24".to_owned())
        );
        assert!(parse_address("nope").is_err());
    }
}
