//! Reaching nodes: which nodes a command talks to (flags, then the client config's context), and a
//! mutual-TLS gRPC channel to each, authenticated with the context's client certificate.
//!
//! Weft has no API proxy (talosctl's apid): every node named with `-n` is dialed directly, at
//! `host[:port]` (default port 50000). Without `-n`, the context's `nodes`, then `-e`/the context's
//! endpoints are the targets.
//!
//! Failed calls are described for people ([`describe_status`]): a timeout names the timeout, a
//! server certificate from another CA names the context and its CA. weftctl talks with one context
//! per run, so [`selected_context`] records it once for those messages.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, bail};
use hyper_util::client::legacy::connect::HttpConnector;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use weft_api::config::DEFAULT_API_PORT;
use weft_api::config::client::{ClientConfig, Context};
use weft_api::pki;

use crate::args::GlobalArgs;

/// The default client config path: `$HOME/.weft/config`.
pub fn default_config_path() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".weft").join("config")
}

/// talosctl's spelling of `WEFTCONFIG`, honoured when `WEFTCONFIG` is unset so talosctl scripts
/// carry over.
pub const TALOSCONFIG_ENV: &str = "TALOSCONFIG";

/// The client config path from `--weftconfig`/`--talosconfig`/`WEFTCONFIG`, else `TALOSCONFIG`,
/// else the default.
pub fn config_path(global: &GlobalArgs) -> PathBuf {
    global
        .weftconfig
        .clone()
        .or_else(|| {
            std::env::var_os(TALOSCONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(default_config_path)
}

/// What error messages say about this run's connection settings.
#[derive(Debug)]
struct Session {
    /// The context's name.
    context: String,
    /// The context's CA, as its subject (or why it could not be read).
    ca: String,
    /// `--timeout`.
    timeout: Duration,
}

/// Set once by [`selected_context`]: one context per run.
static SESSION: OnceLock<Session> = OnceLock::new();

/// The selected context (from `--context` or the config's current one) with its name.
pub fn selected_context(global: &GlobalArgs) -> anyhow::Result<(String, Context)> {
    let path = config_path(global);
    let config = ClientConfig::load_or_default(&path)?;
    let name = global.context.clone().unwrap_or(config.context.clone());
    if name.is_empty() {
        bail!(
            "no context in {}: run `weftctl config merge <weftconfig>` or pass --weftconfig",
            path.display()
        );
    }
    match config.contexts.get(&name) {
        Some(ctx) => {
            let ca = pki::cert_info(&ctx.ca)
                .map(|info| info.subject)
                .unwrap_or_else(|e| format!("unreadable: {e}"));
            let _ = SESSION.set(Session {
                context: name.clone(),
                ca,
                timeout: global.timeout,
            });
            Ok((name, ctx.clone()))
        }
        None => Err(no_such_context(&name, &path, &config)),
    }
}

/// The error for a context that is not in the config, listing the ones that are.
pub(crate) fn no_such_context(
    name: &str,
    path: &std::path::Path,
    config: &ClientConfig,
) -> anyhow::Error {
    anyhow::anyhow!(
        "context {name:?} is not in {} (contexts: {})",
        path.display(),
        config
            .contexts
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A node to talk to: its name as the user wrote it, and where to dial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// As given (`10.5.0.2`, `node-a:50001`); the NODE column.
    pub name: String,
    /// Host without brackets: the TLS server name.
    pub host: String,
    pub port: u16,
}

impl Target {
    /// Parses `host`, `host:port`, `v6addr` or `[v6addr]:port`.
    pub fn parse(s: &str) -> anyhow::Result<Target> {
        let s = s.trim();
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, tail) = rest
                .split_once(']')
                .with_context(|| format!("node {s:?}: missing ']'"))?;
            let port = match tail.strip_prefix(':') {
                Some(p) => Some(p),
                None if tail.is_empty() => None,
                None => bail!("node {s:?}: expected [address]:port"),
            };
            (host, port)
        } else if s.matches(':').count() == 1 {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            (h, Some(p))
        } else {
            (s, None)
        };
        if host.is_empty() {
            bail!("node {s:?}: empty host");
        }
        let port = match port {
            None => DEFAULT_API_PORT,
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .with_context(|| format!("node {s:?}: {p:?} is not a port (1-65535)"))?,
        };
        Ok(Target {
            name: s.to_owned(),
            host: host.to_owned(),
            port,
        })
    }

    fn uri(&self) -> String {
        if self.host.contains(':') {
            format!("https://[{}]:{}", self.host, self.port)
        } else {
            format!("https://{}:{}", self.host, self.port)
        }
    }
}

/// The targets of a command: `-n`, else the context's nodes, else `-e`, else the context's endpoints.
pub fn targets(global: &GlobalArgs, ctx: &Context) -> anyhow::Result<Vec<Target>> {
    if let Some(warning) = endpoints_ignored(global, ctx) {
        eprintln!("warning: {warning}");
    }
    let names: &[String] = if !global.nodes.is_empty() {
        &global.nodes
    } else if !ctx.nodes.is_empty() {
        &ctx.nodes
    } else if !global.endpoints.is_empty() {
        &global.endpoints
    } else {
        &ctx.endpoints
    };
    if names.is_empty() {
        bail!("no nodes to talk to: pass -n/--nodes or set endpoints in the client config");
    }
    names.iter().map(|n| Target::parse(n)).collect()
}

/// Why `-e` is not used, when it is not: talosctl sends calls for the nodes through the endpoint
/// (its API proxy); weftctl has none and dials nodes directly.
pub fn endpoints_ignored(global: &GlobalArgs, ctx: &Context) -> Option<String> {
    if global.endpoints.is_empty() {
        return None;
    }
    let nodes = if !global.nodes.is_empty() {
        "-n is given"
    } else if !ctx.nodes.is_empty() {
        "the context has nodes"
    } else {
        return None;
    };
    Some(format!(
        "-e/--endpoints {} ignored: {nodes}, and weftctl has no API proxy (it dials every node directly)",
        global.endpoints.join(",")
    ))
}

/// A lazily connecting mTLS channel to `target`. `timeout` bounds the whole connect — TCP and the
/// TLS handshake, so a server that never finishes its handshake cannot hang weftctl — and every
/// call's answer.
pub fn channel(target: &Target, ctx: &Context, timeout: Duration) -> anyhow::Result<Channel> {
    let ca = pki::decode_pem("CA certificate (ca)", &ctx.ca)?;
    let crt = pki::decode_pem("client certificate (crt)", &ctx.crt)?;
    let key = pki::decode_pem("client key (key)", &ctx.key)?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(crt, key))
        .domain_name(target.host.clone());
    let endpoint = Endpoint::from_shared(target.uri())
        .with_context(|| format!("node {:?}", target.name))?
        .tls_config(tls)
        .with_context(|| format!("TLS settings for {:?}", target.name))?
        .connect_timeout(timeout)
        .timeout(timeout);
    // tonic's own connector bounds only the TCP connect; one passed in is wrapped, TLS included,
    // in the connect timeout.
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout));
    Ok(endpoint.connect_with_connector_lazy(http))
}

/// How a command that asked several nodes ends: an error when `failed` of the `total` failed (each
/// already reported on stderr, while the others printed their answers).
pub fn fail_if_any(failed: usize, total: usize) -> anyhow::Result<()> {
    if failed > 0 {
        bail!("{failed} of {total} nodes failed");
    }
    Ok(())
}

/// A failed call as one line: the status message, its transport causes, and — when the node closed
/// the connection during the handshake, which is how a TLS 1.3 server refuses a client certificate —
/// what to check.
pub fn describe_status(status: &tonic::Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    // A TLS 1.3 server checks the client certificate after the client thinks the handshake is
    // done: the refusal arrives as an alert or as the connection closing, depending on timing.
    let reached = !text.contains("tcp connect error");
    let refused_in_handshake = reached
        && [
            "received fatal alert",
            "connection closed",
            "broken pipe",
            "connection reset",
        ]
        .iter()
        .any(|sign| text.contains(sign));
    let session = SESSION.get();
    let context = session.map_or_else(
        || "the context".to_owned(),
        |s| format!("context {:?}", s.context),
    );
    if refused_in_handshake {
        text.push_str(&format!(
            " (the node refused the TLS handshake: is {context}'s client certificate issued by this cluster's CA and still valid?)"
        ));
    } else if is_foreign_certificate(&text) {
        let ca = session.map_or_else(String::new, |s| format!(" ({})", s.ca));
        text.push_str(&format!(
            " (the node's certificate is not from {context}'s CA{ca} — is the context stale?)"
        ));
    } else if is_timeout(status, &text) {
        let timeout = session.map_or(String::new(), |s| {
            format!(" within {}", format_duration(s.timeout))
        });
        text = format!("no answer{timeout} (--timeout): {text}");
    }
    text
}

/// The node's certificate does not chain to the context's CA (rustls's words for it).
fn is_foreign_certificate(text: &str) -> bool {
    text.contains("invalid peer certificate")
        && ["BadSignature", "UnknownIssuer"]
            .iter()
            .any(|sign| text.contains(sign))
}

/// The connect or the call ran out of time.
fn is_timeout(status: &tonic::Status, text: &str) -> bool {
    status.code() == tonic::Code::DeadlineExceeded
        || status.code() == tonic::Code::Cancelled && text.contains("Timeout expired")
        || text.contains("timed out")
        || text.contains("deadline has elapsed")
}

/// A duration as `--timeout` takes it: `10s`, `1500ms`.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Parses a duration like Go's: `10s`, `1m30s`, `8760h`, `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    weft_api::duration::parse(s)
        .ok_or_else(|| format!("{s:?} is not a duration, expected e.g. 10s, 1m30s, 8760h or 500ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let t = Target::parse("10.5.0.2").expect("v4");
        assert_eq!((t.host.as_str(), t.port), ("10.5.0.2", 50000));
        let t = Target::parse("node-a:50001").expect("name:port");
        assert_eq!(
            (t.host.as_str(), t.port, t.uri().as_str()),
            ("node-a", 50001, "https://node-a:50001")
        );
        let t = Target::parse("[fd00::1]:7").expect("v6:port");
        assert_eq!(
            (t.host.as_str(), t.port, t.uri().as_str()),
            ("fd00::1", 7, "https://[fd00::1]:7")
        );
        let t = Target::parse("fd00::1").expect("bare v6");
        assert_eq!((t.host.as_str(), t.port), ("fd00::1", 50000));
        assert!(Target::parse("a:0").is_err());
        assert!(Target::parse("a:x").is_err());
        assert!(Target::parse("").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("8760h"),
            Ok(Duration::from_secs(8760 * 3600))
        );
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5d").is_err());
    }
}
