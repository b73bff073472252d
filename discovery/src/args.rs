//! The command line of `weft-discovery` (clap types only, plus the duration syntax its flags
//! take), kept apart from [`crate::app`] so the man page and completions can be generated from it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ipnet::IpNet;

use crate::limits::{
    DEFAULT_MAX_AFFILIATES, DEFAULT_MAX_CLUSTERS, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_CONNECTIONS_PER_IP,
};

/// weft-discovery — the discovery service for Weft and Talos KubeSpan clusters.
///
/// Wire-compatible with Sidero's discovery service (sidero.discovery.server.Cluster v1alpha1):
/// nodes publish their encrypted affiliate data here and watch their cluster's. The service only
/// ever stores ciphertext.
#[derive(Debug, Clone, Parser)]
#[command(name = "weft-discovery", version)]
pub struct Args {
    /// gRPC listen address
    #[arg(long, value_name = "ADDR", default_value = "[::]:3000")]
    pub listen: SocketAddr,
    /// STUN Binding reflector UDP address, or `off` (default: the --listen address and port, on UDP)
    #[arg(long, value_name = "ADDR|off", value_parser = parse_stun_listen)]
    pub stun_listen: Option<StunListen>,
    /// TLS certificate (PEM); without it the service speaks plaintext HTTP/2 (h2c)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// State snapshot file (Sidero's format)
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/var/discovery-service/state.binpb"
    )]
    pub snapshot_path: PathBuf,
    /// How often the snapshot is written (also on SIGTERM/SIGINT)
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub snapshot_interval: Duration,
    /// Neither load nor write snapshots
    #[arg(long)]
    pub no_snapshots: bool,
    /// How often expired affiliates and endpoints are collected
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub gc_interval: Duration,
    /// Prometheus metrics listen address (serves /metrics)
    #[arg(long, value_name = "ADDR", default_value = "[::]:2122")]
    pub metrics_listen: SocketAddr,
    /// Take the client IP from the x-real-ip metadata of requests that come from a
    /// --trusted-proxy
    #[arg(long, value_name = "BOOL", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub trust_x_real_ip: bool,
    /// Take the client IP from the x-forwarded-for metadata of requests that come from a
    /// --trusted-proxy (the last entry that is not a trusted proxy)
    #[arg(long, value_name = "BOOL", default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub trust_x_forwarded_for: bool,
    /// A proxy whose client-IP headers are believed (address or CIDR; repeat for several);
    /// required by --trust-x-real-ip and --trust-x-forwarded-for
    #[arg(long, value_name = "CIDR", value_parser = parse_proxy)]
    pub trusted_proxy: Vec<IpNet>,
    /// Owner tokens bind affiliates to their nodes (`off`: ignored, as Sidero's service does; for
    /// tests of clients against a service without owner checks)
    #[arg(long, value_name = "MODE", default_value = "on")]
    pub owned_affiliates: Switch,
    /// Most clusters held at once; more: ResourceExhausted
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CLUSTERS, value_parser = parse_count)]
    pub max_clusters: usize,
    /// Most affiliates held at once, over all clusters; more: ResourceExhausted
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_AFFILIATES, value_parser = parse_count)]
    pub max_affiliates: usize,
    /// Most client connections at once (lowered to what RLIMIT_NOFILE allows)
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = parse_count)]
    pub max_connections: usize,
    /// Most client connections from one IP (IPv6: one /64) at once
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS_PER_IP, value_parser = parse_count)]
    pub max_connections_per_ip: usize,
    /// A connection that makes no gRPC request this long after it opened is closed
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub handshake_timeout: Duration,
    /// A connection with no request in flight for this long is closed
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// A connection whose client does not take a reply for this long is closed
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub send_timeout: Duration,
    /// Redirect every client to this gRPC endpoint (host:port) in Hello
    #[arg(long, value_name = "HOST:PORT")]
    pub redirect_endpoint: Option<String>,
    /// Per-client-IP rate limit (15 requests/s, burst 60); `off` is for benchmarks only
    #[arg(long, value_name = "MODE", default_value = "on")]
    pub rate_limit: Switch,
}

impl Args {
    /// Checks what clap cannot: the proxy headers are believed only from configured proxies.
    pub fn check(&self) -> Result<(), String> {
        if (self.trust_x_real_ip || self.trust_x_forwarded_for) && self.trusted_proxy.is_empty() {
            return Err(
                "--trust-x-real-ip and --trust-x-forwarded-for need --trusted-proxy: \
                        the headers are believed only from the proxies named there"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// Parses `--trusted-proxy`: a CIDR, or a single address.
pub fn parse_proxy(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is neither an address nor a CIDR (10.0.0.0/8, 2001:db8::1)"))
}

/// Parses a cap: a whole number of at least 1.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number")),
    }
}

/// `on` / `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `--stun-listen`: where the STUN reflector listens, or that it does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StunListen {
    At(SocketAddr),
    Off,
}

/// Parses `--stun-listen`: `off` or a socket address.
pub fn parse_stun_listen(text: &str) -> Result<StunListen, String> {
    if text == "off" {
        return Ok(StunListen::Off);
    }
    text.parse()
        .map(StunListen::At)
        .map_err(|_| format!("{text:?} is neither an address (host:port) nor `off`"))
}

/// Parses a Go-style duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`
/// (`90s`, `10m`, `1h30m`, `500ms`). Zero is refused: every interval must tick.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let total = weft_api::duration::parse(text)
        .ok_or_else(|| format!("{text:?} is not a duration (examples: 30s, 10m, 1h30m, 500ms)"))?;
    if total.is_zero() {
        return Err(format!("{text:?}: the interval must be longer than zero"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        for bad in [
            "",
            "10",
            "m",
            "10x",
            "-1m",
            "1.5m",
            "0s",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults() {
        use crate::limits::{
            DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_SEND_TIMEOUT,
        };
        let args = Args::try_parse_from(["weft-discovery"]).expect("parse");
        assert_eq!(args.listen, "[::]:3000".parse().expect("addr"));
        assert_eq!(args.stun_listen, None, "the --listen address");
        assert_eq!(args.metrics_listen, "[::]:2122".parse().expect("addr"));
        assert_eq!(args.snapshot_interval, Duration::from_secs(600));
        assert_eq!(args.gc_interval, Duration::from_secs(60));
        assert!(
            !args.trust_x_real_ip && !args.trust_x_forwarded_for,
            "off by default"
        );
        assert!(args.trusted_proxy.is_empty());
        assert_eq!(args.check(), Ok(()));
        assert_eq!(args.rate_limit, Switch::On);
        assert!(!args.no_snapshots);
        assert_eq!(args.owned_affiliates, Switch::On);
        assert_eq!(args.max_clusters, DEFAULT_MAX_CLUSTERS);
        assert_eq!(args.max_affiliates, DEFAULT_MAX_AFFILIATES);
        assert_eq!(args.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(args.max_connections_per_ip, DEFAULT_MAX_CONNECTIONS_PER_IP);
        assert_eq!(args.handshake_timeout, DEFAULT_HANDSHAKE_TIMEOUT);
        assert_eq!(args.idle_timeout, DEFAULT_IDLE_TIMEOUT);
        assert_eq!(args.send_timeout, DEFAULT_SEND_TIMEOUT);
        let args = Args::try_parse_from([
            "weft-discovery",
            "--trust-x-real-ip",
            "--trust-x-forwarded-for",
            "true",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "2001:db8::7",
            "--rate-limit",
            "off",
        ])
        .expect("parse");
        assert!(args.trust_x_real_ip && args.trust_x_forwarded_for);
        assert_eq!(
            args.trusted_proxy,
            vec![
                "10.0.0.0/8".parse::<IpNet>().expect("net"),
                "2001:db8::7/128".parse().expect("net")
            ]
        );
        assert_eq!(args.check(), Ok(()));
        assert_eq!(args.rate_limit, Switch::Off);
        // Trusting headers from nobody in particular is refused.
        let args = Args::try_parse_from(["weft-discovery", "--trust-x-real-ip"]).expect("parse");
        assert!(args.check().is_err());
        let args =
            Args::try_parse_from(["weft-discovery", "--trust-x-real-ip=false"]).expect("parse");
        assert_eq!(args.check(), Ok(()));
        for bad in [
            &["--trusted-proxy", "10.0.0.0/33"][..],
            &["--trusted-proxy", "proxy.example"],
            &["--max-clusters", "0"],
            &["--max-connections-per-ip", "-1"],
            &["--handshake-timeout", "0s"],
        ] {
            let argv = std::iter::once("weft-discovery").chain(bad.iter().copied());
            assert!(Args::try_parse_from(argv).is_err(), "{bad:?}");
        }
        // A host address given with a prefix is its network.
        assert_eq!(
            parse_proxy("10.1.2.3/8"),
            Ok("10.0.0.0/8".parse().expect("net"))
        );
        assert!(Args::try_parse_from(["weft-discovery", "--tls-cert", "c.pem"]).is_err());
        let stun = |value: &str| {
            Args::try_parse_from(["weft-discovery", "--stun-listen", value]).map(|a| a.stun_listen)
        };
        assert_eq!(stun("off").expect("off"), Some(StunListen::Off));
        assert_eq!(
            stun("127.0.0.1:3478").expect("addr"),
            Some(StunListen::At("127.0.0.1:3478".parse().expect("addr")))
        );
        assert!(stun("on").is_err() && stun("3478").is_err());
    }
}
