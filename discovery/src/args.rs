//! The command line of `weft-discovery` (clap types only, plus the duration syntax its flags
//! take), kept apart from [`crate::app`] so the man page and completions can be generated from it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

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
    /// Take the client IP from the x-real-ip metadata when present
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub trust_x_real_ip: bool,
    /// Take the client IP from the first x-forwarded-for entry when present
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub trust_x_forwarded_for: bool,
    /// Redirect every client to this gRPC endpoint (host:port) in Hello
    #[arg(long, value_name = "HOST:PORT")]
    pub redirect_endpoint: Option<String>,
    /// Per-client-IP rate limit (15 requests/s, burst 60); `off` is for benchmarks only
    #[arg(long, value_name = "MODE", default_value = "on")]
    pub rate_limit: Switch,
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
        let args = Args::try_parse_from(["weft-discovery"]).expect("parse");
        assert_eq!(args.listen, "[::]:3000".parse().expect("addr"));
        assert_eq!(args.stun_listen, None, "the --listen address");
        assert_eq!(args.metrics_listen, "[::]:2122".parse().expect("addr"));
        assert_eq!(args.snapshot_interval, Duration::from_secs(600));
        assert_eq!(args.gc_interval, Duration::from_secs(60));
        assert!(args.trust_x_real_ip && args.trust_x_forwarded_for);
        assert_eq!(args.rate_limit, Switch::On);
        assert!(!args.no_snapshots);
        let args = Args::try_parse_from([
            "weft-discovery",
            "--trust-x-real-ip=false",
            "--trust-x-forwarded-for",
            "false",
            "--rate-limit",
            "off",
        ])
        .expect("parse");
        assert!(!args.trust_x_real_ip && !args.trust_x_forwarded_for);
        assert_eq!(args.rate_limit, Switch::Off);
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
