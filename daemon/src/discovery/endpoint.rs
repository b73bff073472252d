//! Discovery service endpoints: a configured URL (or a redirect's `host:port`) as something to dial.
//!
//! As Talos normalises them: `http://` is plaintext gRPC (h2c), default port 80; any other scheme
//! (`https://`, `grpc://`) is gRPC over TLS, default port 443, verified against the webpki roots.
//! The path is ignored.

use std::fmt;

use url::Url;

/// Default port of a plaintext (`http://`) service.
pub const DEFAULT_PLAINTEXT_PORT: u16 = 80;
/// Default port of a TLS service.
pub const DEFAULT_TLS_PORT: u16 = 443;

/// Why an endpoint cannot be dialed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{0:?} has no host")]
    NoHost(String),
    #[error("{0:?} is not host:port")]
    Malformed(String),
}

/// A service to dial: host (no brackets), port, and whether to use TLS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Target {
    /// The target of a configured endpoint URL.
    pub fn from_url(url: &Url) -> Result<Target, EndpointError> {
        let tls = url.scheme() != "http";
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            _ => return Err(EndpointError::NoHost(url.to_string())),
        };
        let port = url.port().unwrap_or(if tls {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PLAINTEXT_PORT
        });
        Ok(Target { host, port, tls })
    }

    /// Where a Hello redirect (`host:port`, `[v6]:port`, or a bare host) points, keeping this
    /// target's transport: the service that redirects knows how its peers are reached.
    pub fn redirect(&self, endpoint: &str) -> Result<Target, EndpointError> {
        let bad = || EndpointError::Malformed(endpoint.chars().take(256).collect());
        let (host, port) = if let Some(rest) = endpoint.strip_prefix('[') {
            let (host, tail) = rest.split_once(']').ok_or_else(bad)?;
            match tail.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if tail.is_empty() => (host, None),
                None => return Err(bad()),
            }
        } else if endpoint.matches(':').count() == 1 {
            let (h, p) = endpoint.split_once(':').ok_or_else(bad)?;
            (h, Some(p))
        } else {
            (endpoint, None)
        };
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_:".contains(c));
        if !valid_host {
            return Err(bad());
        }
        let port = match port {
            None => self.default_port(),
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        };
        Ok(Target {
            host: host.to_owned(),
            port,
            tls: self.tls,
        })
    }

    fn default_port(&self) -> u16 {
        if self.tls {
            DEFAULT_TLS_PORT
        } else {
            DEFAULT_PLAINTEXT_PORT
        }
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URI tonic dials.
    pub fn uri(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::from_url(&Url::parse(url).expect("url")).expect("target")
    }

    #[test]
    fn urls_normalise_as_talos_does() {
        for (url, want) in [
            (
                "https://discovery.talos.dev/",
                "https://discovery.talos.dev:443",
            ),
            ("http://127.0.0.1:3000/", "http://127.0.0.1:3000"),
            ("http://disco.example/", "http://disco.example:80"),
            ("grpc://disco.example:3000", "https://disco.example:3000"),
            ("http://[::1]:3000/path", "http://[::1]:3000"),
        ] {
            assert_eq!(target(url).uri(), want, "{url}");
        }
        assert_eq!(target("http://[::1]:3000/").host, "::1");
    }

    #[test]
    fn redirects_keep_the_transport() {
        let tls = target("https://discovery.talos.dev/");
        let plain = target("http://127.0.0.1:3000/");
        assert_eq!(
            tls.redirect("eu.discovery.talos.dev:443")
                .expect("ok")
                .uri(),
            "https://eu.discovery.talos.dev:443"
        );
        assert_eq!(
            plain.redirect("127.0.0.2:3001").expect("ok").uri(),
            "http://127.0.0.2:3001"
        );
        assert_eq!(
            plain.redirect("[::1]:3001").expect("ok").uri(),
            "http://[::1]:3001"
        );
        assert_eq!(
            plain.redirect("other").expect("ok").uri(),
            "http://other:80"
        );
        for bad in [
            "", ":80", "host:0", "host:x", "[::1", "[::1]x", "a b:1", "host:1/x",
        ] {
            assert!(plain.redirect(bad).is_err(), "{bad:?}");
        }
    }
}
