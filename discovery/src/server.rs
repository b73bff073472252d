//! `sidero.discovery.server.Cluster`: thin gRPC handlers over [`State`]. Each handler resolves the
//! client's IP, waits for a rate-limit token, validates, calls the state, and maps errors to
//! Sidero's status codes (InvalidArgument for malformed requests, ResourceExhausted for full
//! clusters, the global caps, the rate limit and a watcher that fell behind), plus
//! PermissionDenied for an owned affiliate changed without its owner token (a Weft extension).
//!
//! Client IP: the TCP peer, unless the peer is a trusted proxy (`--trusted-proxy`): then
//! `x-real-ip`, else the last `x-forwarded-for` entry that is not itself a trusted proxy — each
//! header only when its flag trusts it. Both flags are off by default (Sidero's are on): a header
//! any client can set would let it pick its own rate-limit bucket. The same IP keys the rate
//! limit, so behind a proxy each real client gets its own bucket.
//!
//! Large replies (List, the first Watch message) are encoded here, so their size is known, and
//! reserve the reply budget of [`crate::conn`] before they are sent.

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::Stream;
use ipnet::IpNet;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use weft_api::proto::discovery::server::{
    self as pb, AffiliateDeleteRequest, AffiliateDeleteResponse, AffiliateUpdateRequest,
    AffiliateUpdateResponse, HelloRequest, HelloResponse, ListRequest, ListResponse,
    RedirectMessage, WatchRequest, WatchResponse,
};

use crate::conn::{ConnInfo, FirstFrame, HeldReply, SendsFirstFrames};
use crate::limits::{self, LimitError, MAX_RESPONSE_BYTES, WATCH_BUFFER};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::state::{AffiliateView, Event, LostUpdate, State, SubscribeError, Subscription, Update};

/// How the handlers behave; from the command line.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Use the `x-real-ip` metadata as the client IP when present (from a trusted proxy).
    pub trust_x_real_ip: bool,
    /// Use the `x-forwarded-for` metadata as the client IP when present (from a trusted proxy).
    pub trust_x_forwarded_for: bool,
    /// The proxies whose headers are believed (`--trusted-proxy`).
    pub trusted_proxies: Vec<IpNet>,
    /// `--owned-affiliates off`: owner tokens are ignored, so no affiliate is ever bound (Sidero's
    /// behaviour).
    pub ignore_owner_tokens: bool,
    /// Returned in every Hello: clients reconnect there.
    pub redirect_endpoint: Option<String>,
}

/// The Cluster service.
#[derive(Debug, Clone)]
pub struct ClusterApi {
    state: State,
    /// `None`: rate limiting is off (benchmarks).
    limiter: Option<Arc<RateLimiter>>,
    metrics: Arc<Metrics>,
    settings: Arc<Settings>,
}

impl ClusterApi {
    pub fn new(
        state: State,
        limiter: Option<Arc<RateLimiter>>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> ClusterApi {
        ClusterApi {
            state,
            limiter,
            metrics,
            settings: Arc::new(settings),
        }
    }

    /// The owner token's hash, checked; `None` without one, or when tokens are ignored.
    fn owner(&self, token: &[u8]) -> Result<Option<crate::state::OwnerHash>, Status> {
        if self.settings.ignore_owner_tokens {
            return Ok(None);
        }
        limits::check_owner_token(token).map_err(limit_status)
    }

    /// Resolves the client's IP and waits for its rate-limit token.
    async fn admit<T>(&self, request: &Request<T>) -> Result<Option<IpAddr>, Status> {
        let peer = ConnInfo::of(request.extensions())
            .map(|c| c.remote)
            .or_else(|| request.remote_addr());
        let ip = client_ip(request.metadata(), peer, &self.settings);
        if let (Some(limiter), Some(ip)) = (&self.limiter, ip) {
            let deadline = grpc_timeout(request.metadata());
            if let Err(err) = limiter.acquire(ip, deadline).await {
                self.metrics.rate_limited();
                return Err(Status::resource_exhausted(err.to_string()));
            }
        }
        Ok(ip)
    }
}

fn limit_status(err: LimitError) -> Status {
    match err {
        LimitError::Invalid(msg) => Status::invalid_argument(msg),
        LimitError::Exhausted(msg) => Status::resource_exhausted(msg),
        LimitError::Denied(msg) => Status::permission_denied(msg),
    }
}

/// Reserves the reply budget for `reply` when the request came through [`crate::conn`] (tests
/// that serve the API directly have no budget), and attaches the reservation to the response.
fn with_budget<T: prost::Message>(
    extensions: &tonic::Extensions,
    reply: &T,
) -> Result<Option<HeldReply>, Status> {
    let Some(conn) = ConnInfo::of(extensions) else {
        return Ok(None);
    };
    conn.reserve(reply.encoded_len())
        .map(|hold| Some(HeldReply::new(hold)))
        .map_err(Status::resource_exhausted)
}

/// `message` as one gRPC frame: uncompressed flag, length, message.
fn grpc_frame(message: &impl prost::Message) -> Result<tonic::codegen::Bytes, Status> {
    let len = message.encoded_len();
    if len > MAX_RESPONSE_BYTES {
        return Err(Status::out_of_range(format!(
            "reply of {len} bytes, at most {MAX_RESPONSE_BYTES} are sent"
        )));
    }
    let mut frame = Vec::with_capacity(5 + len);
    frame.push(0);
    frame.extend_from_slice(&(len as u32).to_be_bytes());
    message
        .encode(&mut frame)
        .map_err(|err| Status::internal(format!("encoding the reply: {err}")))?;
    Ok(frame.into())
}

fn to_proto(view: &AffiliateView) -> pb::Affiliate {
    pb::Affiliate {
        id: view.id.to_string(),
        data: view.data.to_vec(),
        endpoints: view
            .endpoints
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect(),
    }
}

fn event_to_proto(event: &Event) -> WatchResponse {
    match event {
        Event::Updated(view) => WatchResponse {
            affiliates: vec![to_proto(view)],
            deleted: false,
        },
        Event::Deleted(id) => WatchResponse {
            affiliates: vec![pb::Affiliate {
                id: id.to_string(),
                ..Default::default()
            }],
            deleted: true,
        },
    }
}

/// The client's IP as the service sees it (see the module docs); IPv4-mapped IPv6 addresses (a
/// v4 client of a dual-stack listener) are given as IPv4.
pub fn client_ip(
    metadata: &MetadataMap,
    peer: Option<SocketAddr>,
    settings: &Settings,
) -> Option<IpAddr> {
    let peer = peer.map(|p| p.ip().to_canonical());
    let trusted = |ip: IpAddr| settings.trusted_proxies.iter().any(|net| net.contains(&ip));
    if !peer.is_some_and(trusted) {
        return peer;
    }
    let value = |name: &str| metadata.get(name)?.to_str().ok();
    let parse = |text: &str| {
        text.trim()
            .parse::<IpAddr>()
            .ok()
            .map(|ip| ip.to_canonical())
    };
    let real_ip = || value("x-real-ip").and_then(parse);
    // Each proxy appends the address it saw: walking from the end, the first address that is not
    // a trusted proxy is the client. Entries before it are whatever the client sent.
    let forwarded_for = || {
        value("x-forwarded-for")?
            .rsplit(',')
            .map(parse)
            .find(|ip| ip.is_none_or(|ip| !trusted(ip)))
            .flatten()
    };
    settings
        .trust_x_real_ip
        .then(real_ip)
        .flatten()
        .or_else(|| settings.trust_x_forwarded_for.then(forwarded_for).flatten())
        .or(peer)
}

/// The request's deadline from its `grpc-timeout` header (`<digits><unit>`, unit one of
/// H M S m u n), if it has a valid one.
pub fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let split = value.len().checked_sub(1)?;
    let (digits, unit) = value.split_at_checked(split)?;
    // The spec allows at most 8 digits.
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

enum WatchPhase {
    Snapshot(Box<WatchResponse>, Subscription),
    Changes(Subscription),
    Done,
}

#[tonic::async_trait]
impl pb::cluster_server::Cluster for ClusterApi {
    async fn hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloResponse>, Status> {
        let ip = self.admit(&request).await?;
        let req = request.into_inner();
        self.metrics.hello(&req.client_version);
        limits::check_cluster_id(&req.cluster_id).map_err(limit_status)?;
        let client_ip = match ip {
            Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
            Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
            None => Vec::new(),
        };
        Ok(Response::new(HelloResponse {
            redirect: self
                .settings
                .redirect_endpoint
                .as_ref()
                .map(|endpoint| RedirectMessage {
                    endpoint: endpoint.clone(),
                }),
            client_ip,
        }))
    }

    async fn affiliate_update(
        &self,
        request: Request<AffiliateUpdateRequest>,
    ) -> Result<Response<AffiliateUpdateResponse>, Status> {
        self.admit(&request).await?;
        let req = request.into_inner();
        let ttl = limits::check_ttl(req.ttl.as_ref()).map_err(limit_status)?;
        let owner = self.owner(&req.owner_token)?;
        let update = Update {
            data: req.affiliate_data.as_deref().unwrap_or_default(),
            endpoints: &req.affiliate_endpoints,
            ttl,
            owner,
        };
        self.state
            .update(&req.cluster_id, &req.affiliate_id, update, Instant::now())
            .map_err(limit_status)?;
        self.metrics.affiliate_update();
        Ok(Response::new(AffiliateUpdateResponse {}))
    }

    async fn affiliate_delete(
        &self,
        request: Request<AffiliateDeleteRequest>,
    ) -> Result<Response<AffiliateDeleteResponse>, Status> {
        self.admit(&request).await?;
        let req = request.into_inner();
        let owner = self.owner(&req.owner_token)?;
        self.state
            .delete(&req.cluster_id, &req.affiliate_id, owner)
            .map_err(limit_status)?;
        Ok(Response::new(AffiliateDeleteResponse {}))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        self.admit(&request).await?;
        let (_, extensions, req) = request.into_parts();
        let affiliates = self
            .state
            .list(&req.cluster_id)
            .map_err(limit_status)?
            .iter()
            .map(to_proto)
            .collect();
        let reply = ListResponse { affiliates };
        let held = with_budget(&extensions, &reply)?;
        let mut response = Response::new(reply);
        if let Some(held) = held {
            response.extensions_mut().insert(held);
        }
        Ok(response)
    }

    type WatchStream = WatchStream;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        self.admit(&request).await?;
        let (_, extensions, req) = request.into_parts();
        let mut subscription = self
            .state
            .subscribe(&req.cluster_id)
            .map_err(|err| match err {
                SubscribeError::Limit(err) => limit_status(err),
                SubscribeError::Closed => Status::unavailable(err.to_string()),
            })?;
        // The snapshot (even empty) is the first message, then one message per change. It is
        // built here so that its size can reserve the reply budget.
        let first = WatchResponse {
            affiliates: subscription.take_snapshot().iter().map(to_proto).collect(),
            deleted: false,
        };
        let held = with_budget(&extensions, &first)?;
        // Behind `conn::Guarded`, the snapshot goes out as a frame of its own, so that it is freed
        // once sent (see `conn`); otherwise it is the stream's first item.
        let (phase, first_frame) = if extensions.get::<SendsFirstFrames>().is_some() {
            let frame = FirstFrame::new(grpc_frame(&first)?);
            (WatchPhase::Changes(subscription), Some(frame))
        } else {
            (WatchPhase::Snapshot(Box::new(first), subscription), None)
        };
        // The subscription is dropped (unsubscribing) when the client goes away and tonic drops
        // the stream.
        let metrics = Arc::clone(&self.metrics);
        let stream = futures::stream::unfold(phase, move |phase| {
            let metrics = Arc::clone(&metrics);
            async move {
                match phase {
                    WatchPhase::Snapshot(first, sub) => {
                        Some((Ok(*first), WatchPhase::Changes(sub)))
                    }
                    WatchPhase::Changes(mut sub) => match sub.next().await {
                        Ok(Some(event)) => {
                            metrics.watch_message();
                            Some((Ok(event_to_proto(&event)), WatchPhase::Changes(sub)))
                        }
                        // The service is stopping: end the stream cleanly.
                        Ok(None) => None,
                        Err(LostUpdate) => {
                            // Dropping the subscription frees what it buffered.
                            drop(sub);
                            metrics.watch_fell_behind();
                            Some((
                                Err(Status::resource_exhausted(format!(
                                    "watch fell behind: more than {WATCH_BUFFER} changes were \
                                         not taken in time; watch again"
                                ))),
                                WatchPhase::Done,
                            ))
                        }
                    },
                    WatchPhase::Done => None,
                }
            }
        });
        let mut response = Response::new(Box::pin(stream) as WatchStream);
        if let Some(held) = held {
            response.extensions_mut().insert(held);
        }
        if let Some(frame) = first_frame {
            response.extensions_mut().insert(frame);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::metadata::MetadataValue;

    fn md(pairs: &[(&'static str, &'static str)]) -> MetadataMap {
        let mut m = MetadataMap::new();
        for (k, v) in pairs {
            m.insert(*k, MetadataValue::from_static(v));
        }
        m
    }

    fn trusting(proxies: &[&str]) -> Settings {
        Settings {
            trust_x_real_ip: true,
            trust_x_forwarded_for: true,
            trusted_proxies: proxies.iter().map(|p| p.parse().expect("cidr")).collect(),
            ignore_owner_tokens: false,
            redirect_endpoint: None,
        }
    }

    #[test]
    fn client_ip_precedence_and_trust() {
        let proxy: Option<SocketAddr> = "[::ffff:10.0.0.9]:4000".parse().ok();
        let both = md(&[
            ("x-real-ip", "192.0.2.1"),
            ("x-forwarded-for", "203.0.113.66, 198.51.100.7, 10.0.0.1"),
        ]);
        let ip = |m: &MetadataMap, peer: Option<SocketAddr>, s: &Settings| {
            client_ip(m, peer, s).map(|i| i.to_string())
        };
        let trust = trusting(&["10.0.0.0/8"]);
        assert_eq!(ip(&both, proxy, &trust).as_deref(), Some("192.0.2.1"));
        let no_real = Settings {
            trust_x_real_ip: false,
            ..trust.clone()
        };
        // From the end, skipping the trusted proxy 10.0.0.1: what the first untrusted hop saw.
        // The client's own entry (203.0.113.66) is not believed.
        assert_eq!(ip(&both, proxy, &no_real).as_deref(), Some("198.51.100.7"));
        // Nothing trusted by default: the peer, IPv4-mapped on a dual-stack listener, as IPv4.
        assert_eq!(
            ip(&both, proxy, &Settings::default()).as_deref(),
            Some("10.0.0.9")
        );
        // Headers from a peer that is not a trusted proxy are ignored, flags or not.
        let stranger: Option<SocketAddr> = "192.0.2.200:4000".parse().ok();
        assert_eq!(ip(&both, stranger, &trust).as_deref(), Some("192.0.2.200"));
        let flags_only = trusting(&[]);
        assert_eq!(ip(&both, proxy, &flags_only).as_deref(), Some("10.0.0.9"));
        // A header that is not an IP is ignored.
        let bad = md(&[
            ("x-real-ip", "not-an-ip"),
            ("x-forwarded-for", "2001:db8::1"),
        ]);
        assert_eq!(ip(&bad, proxy, &trust).as_deref(), Some("2001:db8::1"));
        let garbage = md(&[("x-forwarded-for", "1.2.3.4, junk")]);
        assert_eq!(ip(&garbage, proxy, &no_real).as_deref(), Some("10.0.0.9"));
        // Only trusted proxies in the chain: the first of them.
        let proxies_only = md(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(
            ip(&proxies_only, proxy, &no_real).as_deref(),
            Some("10.0.0.9")
        );
        assert_eq!(client_ip(&md(&[]), None, &trust), None);
    }

    #[test]
    fn grpc_timeout_units() {
        let t = |v: &'static str| grpc_timeout(&md(&[("grpc-timeout", v)]));
        assert_eq!(t("10S"), Some(Duration::from_secs(10)));
        assert_eq!(t("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(t("3M"), Some(Duration::from_secs(180)));
        assert_eq!(t("250m"), Some(Duration::from_millis(250)));
        assert_eq!(t("7u"), Some(Duration::from_micros(7)));
        assert_eq!(t("9n"), Some(Duration::from_nanos(9)));
        assert_eq!(t("123456789S"), None, "at most 8 digits");
        assert_eq!(t("S"), None);
        assert_eq!(t("10x"), None);
        assert_eq!(t("1.5S"), None);
        assert_eq!(grpc_timeout(&md(&[])), None);
    }

    #[test]
    fn a_grpc_frame_is_flag_length_message() {
        use prost::Message as _;
        let message = WatchResponse {
            affiliates: vec![pb::Affiliate {
                id: "a".to_owned(),
                data: vec![7; 300],
                endpoints: vec![vec![1; 16]],
            }],
            deleted: false,
        };
        let frame = grpc_frame(&message).expect("frame");
        assert_eq!(frame[0], 0, "not compressed");
        let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
        assert_eq!(len, frame.len() - 5);
        assert_eq!(WatchResponse::decode(&frame[5..]).expect("decode"), message);
    }

    #[test]
    fn events_on_the_wire() {
        let deleted = event_to_proto(&Event::Deleted("a".into()));
        assert!(deleted.deleted);
        assert_eq!(deleted.affiliates.len(), 1);
        assert_eq!(deleted.affiliates[0].id, "a");
        assert!(deleted.affiliates[0].data.is_empty());
    }
}
