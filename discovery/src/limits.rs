//! Every limit the service enforces, as named constants, with the validation of a request's shape.
//! The protocol limits and their status codes are Sidero's (`pkg/limits/limits.go`), so a client
//! written against Sidero's service sees the same answers; the others bound what a single client
//! can make this process hold or do, and say why next to their value.

use std::time::Duration;

/// Longest cluster id, in bytes (the raw string the client sends). Longer: InvalidArgument.
pub const MAX_CLUSTER_ID_LEN: usize = 256;
/// Longest affiliate id, in bytes. Longer: InvalidArgument.
pub const MAX_AFFILIATE_ID_LEN: usize = 256;
/// Largest affiliate data blob (encrypted `client.Affiliate`), in bytes. Larger: InvalidArgument.
pub const MAX_AFFILIATE_DATA_LEN: usize = 2048;
/// Largest endpoint blob, in bytes: two AES blocks, one encrypted IPv6 endpoint. Larger:
/// InvalidArgument.
pub const MAX_ENDPOINT_LEN: usize = 32;
/// Longest time to live an update may ask for. Longer: InvalidArgument.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 60);
/// Affiliates one cluster may hold. Creating one more: ResourceExhausted.
pub const MAX_AFFILIATES_PER_CLUSTER: usize = 1024;
/// Endpoints one affiliate may hold. Adding one more: ResourceExhausted.
pub const MAX_ENDPOINTS_PER_AFFILIATE: usize = 64;

/// Notifications buffered per watcher; a watcher that falls this far behind is dropped (its stream
/// ends with ResourceExhausted "watch fell behind") so that writers never wait for a slow reader.
pub const WATCH_BUFFER: usize = 32;

/// Clusters the service holds at once, by default (`--max-clusters`). A cluster is created by the
/// first update or watch naming it; creating one more: ResourceExhausted. Each costs little while
/// empty, but without a cap anyone could create clusters without end (40,000 were accepted).
pub const DEFAULT_MAX_CLUSTERS: usize = 10_000;
/// Affiliates over all clusters, by default (`--max-affiliates`). An affiliate at every limit
/// costs about 6 KiB, so this bounds the state near 600 MiB even when every affiliate is as large
/// as allowed (real ones, ~330 bytes of data and two endpoints, cost well under 1 KiB). Creating
/// one more: ResourceExhausted.
pub const DEFAULT_MAX_AFFILIATES: usize = 100_000;

/// Length of an owner token (HMAC-SHA256, see `weft_api::discovery::owner`); a non-empty token
/// of any other length: InvalidArgument.
pub const OWNER_TOKEN_LEN: usize = weft_api::discovery::owner::OWNER_TOKEN_LEN;

/// Sustained requests per second per client IP (token refill rate).
pub const RATE_LIMIT_PER_SECOND: u32 = 15;
/// Requests a client IP may make at once after being idle (bucket size).
pub const RATE_LIMIT_BURST: u32 = 60;
/// Longest a request waits for a rate-limit token. Requests normally wait until their own
/// deadline; without one (or with a long one) a flood of throttled requests would hold memory and
/// connections for ever, so waiting is capped.
pub const RATE_LIMIT_MAX_WAIT: Duration = Duration::from_secs(10);
/// How often idle (full) rate-limit buckets are dropped.
pub const RATE_LIMITER_GC_INTERVAL: Duration = Duration::from_secs(60);
/// Most client IPs tracked at once. A client that may set `x-real-ip` could otherwise make the
/// limiter grow without bound between two collections; past this, full buckets are collected at
/// once, and if none is full, requests from new IPs are refused (ResourceExhausted).
pub const MAX_RATE_LIMIT_BUCKETS: usize = 262_144;

/// STUN Binding Requests answered per second per source IP. The reflector has its own buckets
/// (a node's STUN refreshes never cost it gRPC tokens) with the gRPC numbers: a node asks once per
/// WireGuard socket at start and then every few tens of seconds, and a whole site's nodes may share
/// one NAT address. UDP sources can be forged, so this is also what a victim whose address is
/// forged receives at most: 15 answers of at most 44 bytes a second.
pub const STUN_RATE_LIMIT_PER_SECOND: u32 = RATE_LIMIT_PER_SECOND;
/// STUN Binding Requests a source IP may make at once after being idle.
pub const STUN_RATE_LIMIT_BURST: u32 = RATE_LIMIT_BURST;

/// Largest gRPC request accepted, in bytes. The largest valid request (both ids, full data, 64
/// endpoints, a TTL) is under 5 KiB; refusing more early keeps a client from making the server
/// buffer megabytes per request.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// Largest reply the server encodes (`max_encoding_message_size`): a List reply or the first Watch
/// message of a full cluster at every limit. Per affiliate: its field tag and length (1 + 3), the
/// id (1 + 2 + 256), the data (1 + 2 + 2048) and 64 endpoints (1 + 1 + 32 each); then the
/// `deleted` flag. About 4.4 MiB, over tonic's default of 4 MiB: a cluster within every limit must
/// never make a reply fail (clients size their decode limit the same way).
pub const MAX_RESPONSE_BYTES: usize = {
    const AFFILIATE: usize = (1 + 3)
        + (1 + 2 + MAX_AFFILIATE_ID_LEN)
        + (1 + 2 + MAX_AFFILIATE_DATA_LEN)
        + MAX_ENDPOINTS_PER_AFFILIATE * (1 + 1 + MAX_ENDPOINT_LEN);
    MAX_AFFILIATES_PER_CLUSTER * AFFILIATE + 2
};

// weftd sizes its decode limit from weft-api's figures: every reply this service may send fits.
const _: () = {
    use weft_api::discovery::crypto as client;
    assert!(MAX_RESPONSE_BYTES <= client::MAX_WATCH_MESSAGE_LEN);
    assert!(MAX_AFFILIATES_PER_CLUSTER == client::MAX_CLUSTER_AFFILIATES);
    assert!(MAX_ENDPOINTS_PER_AFFILIATE == client::MAX_AFFILIATE_ENDPOINTS);
    assert!(MAX_AFFILIATE_DATA_LEN == client::MAX_DATA_LEN);
    assert!(MAX_ENDPOINT_LEN == client::MAX_ENDPOINT_BLOB_LEN);
};

/// Bytes of replies (List replies, first Watch messages) encoded but not yet taken by their
/// clients, over all connections. HTTP/2 holds a reply until the client's flow-control window lets
/// it out, so a client that never reads would otherwise make the server hold a whole cluster's
/// snapshot per request (200 unread watches held 852 MB). A reply that would go over is refused
/// with ResourceExhausted; the client retries. 64 MiB is 14 replies of the largest cluster at once,
/// or thousands of a real one.
pub const MAX_PENDING_REPLY_BYTES: usize = 64 * 1024 * 1024;
/// The same, per client IP (TCP peer), so one address cannot take the whole budget: 3 of the
/// largest replies at once.
pub const MAX_PENDING_REPLY_BYTES_PER_IP: usize = 16 * 1024 * 1024;

/// Connections served at once, by default (`--max-connections`); lowered at start to what
/// `RLIMIT_NOFILE` allows, less [`FD_RESERVE`]. Past it, the oldest connection that has not yet
/// made a request is closed to make room, or else the new one is.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Connections from one IP (IPv6: one /64) at once, by default (`--max-connections-per-ip`). Nodes behind one
/// NAT share an address, and each keeps one connection per discovery service: 256 covers a large
/// site. Past it, new connections from that IP are closed at once.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// File descriptors kept for everything but client connections (listeners, snapshot files,
/// metrics scrapes, the runtime).
pub const FD_RESERVE: u64 = 64;
/// From accept to the first gRPC request, by default (`--handshake-timeout`): covers a silent TCP
/// connection, a TLS handshake left half done and an HTTP/2 preface that never comes.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no request in flight is closed after this, by default (`--idle-timeout`).
/// Nodes keep a Watch open, so they are never idle; gRPC clients reconnect on their next call.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// A reply (or watch message) its client has not taken this long after it was ready closes the
/// connection, by default (`--send-timeout`): closing the connection is the only way to make
/// HTTP/2 let go of what it holds for a client that stopped reading. 4.4 MiB (the largest reply)
/// takes ~35 s at 1 Mbit/s.
pub const DEFAULT_SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause after a failed accept (e.g. out of file descriptors), doubling up to
/// [`ACCEPT_BACKOFF_MAX`] while accepts keep failing, so the accept loop never spins.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Distinct `client_version` label values kept for the Hello counter; later versions count as
/// "other", so clients cannot grow the metrics without bound.
pub const MAX_CLIENT_VERSION_LABELS: usize = 64;
/// Longest `client_version` label value kept; longer ones count as "other".
pub const MAX_CLIENT_VERSION_LEN: usize = 64;

/// Largest snapshot record (one cluster) read back. A cluster at every limit above encodes to
/// less than `MAX_CLUSTER_RECORD` (about 7.7 MiB, checked at compile time below), so 8 MiB fits
/// any valid cluster and still refuses a corrupt length before allocating it. (Sidero's reader
/// allows 137,912,579 bytes; its clusters have the same limits, so its snapshots load here.)
pub const MAX_SNAPSHOT_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// Encoded size of one cluster at every limit, an upper bound used to check
/// [`MAX_SNAPSHOT_RECORD_BYTES`] at compile time. Per field: tag + length prefix (≤ 3 bytes each
/// at these sizes) + content; a Timestamp or Duration message is at most 2 + 22 bytes.
const MAX_CLUSTER_RECORD: usize = {
    const WELL_KNOWN: usize = 2 + 22;
    const ENDPOINT: usize = 3 + (3 + MAX_ENDPOINT_LEN) + 2 * WELL_KNOWN;
    const AFFILIATE: usize = 4
        + (3 + MAX_AFFILIATE_ID_LEN)
        + (3 + MAX_AFFILIATE_DATA_LEN)
        + 2 * WELL_KNOWN
        + MAX_ENDPOINTS_PER_AFFILIATE * ENDPOINT;
    (3 + MAX_CLUSTER_ID_LEN) + MAX_AFFILIATES_PER_CLUSTER * AFFILIATE
};
const _: () = assert!(MAX_CLUSTER_RECORD < MAX_SNAPSHOT_RECORD_BYTES);

/// A request that breaks a limit; the server maps each kind to its gRPC code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The request itself is malformed or too large: InvalidArgument.
    #[error("{0}")]
    Invalid(String),
    /// The request is fine but the cluster or affiliate is full: ResourceExhausted.
    #[error("{0}")]
    Exhausted(String),
    /// The affiliate is owned and the request does not prove it is its owner: PermissionDenied.
    #[error("{0}")]
    Denied(String),
}

/// Checks a cluster id: 1..=[`MAX_CLUSTER_ID_LEN`] bytes.
pub fn check_cluster_id(id: &str) -> Result<(), LimitError> {
    check_id("cluster id", id, MAX_CLUSTER_ID_LEN)
}

/// Checks an affiliate id: 1..=[`MAX_AFFILIATE_ID_LEN`] bytes.
pub fn check_affiliate_id(id: &str) -> Result<(), LimitError> {
    check_id("affiliate id", id, MAX_AFFILIATE_ID_LEN)
}

fn check_id(what: &str, id: &str, max: usize) -> Result<(), LimitError> {
    if id.is_empty() {
        return Err(LimitError::Invalid(format!("{what} is empty")));
    }
    if id.len() > max {
        return Err(LimitError::Invalid(format!(
            "{what} is {} bytes, at most {max} allowed",
            id.len()
        )));
    }
    Ok(())
}

/// Checks the affiliate data blob size.
pub fn check_data(data: &[u8]) -> Result<(), LimitError> {
    if data.len() > MAX_AFFILIATE_DATA_LEN {
        return Err(LimitError::Invalid(format!(
            "affiliate data is {} bytes, at most {MAX_AFFILIATE_DATA_LEN} allowed",
            data.len()
        )));
    }
    Ok(())
}

/// Checks every endpoint blob's size (at most [`MAX_ENDPOINT_LEN`]; empty ones are accepted, as
/// Sidero does, and clients skip them).
pub fn check_endpoints(endpoints: &[Vec<u8>]) -> Result<(), LimitError> {
    for (i, e) in endpoints.iter().enumerate() {
        if e.len() > MAX_ENDPOINT_LEN {
            return Err(LimitError::Invalid(format!(
                "affiliate endpoint {i} is {} bytes, at most {MAX_ENDPOINT_LEN} allowed",
                e.len()
            )));
        }
    }
    Ok(())
}

/// Checks an owner token and gives what the state keeps of it (its SHA-256): `None` when the
/// request carries none (empty, as from clients that do not know the field).
pub fn check_owner_token(token: &[u8]) -> Result<Option<[u8; OWNER_TOKEN_LEN]>, LimitError> {
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() != OWNER_TOKEN_LEN {
        return Err(LimitError::Invalid(format!(
            "owner token is {} bytes, it must be {OWNER_TOKEN_LEN}",
            token.len()
        )));
    }
    Ok(Some(weft_api::discovery::owner::owner_token_hash(token)))
}

/// Converts and checks a wire TTL: absent means zero (the affiliate expires at the next
/// collection, as in Sidero); negative, malformed or above [`MAX_TTL`] is InvalidArgument.
pub fn check_ttl(ttl: Option<&prost_types::Duration>) -> Result<Duration, LimitError> {
    let Some(ttl) = ttl else {
        return Ok(Duration::ZERO);
    };
    let invalid = || {
        LimitError::Invalid(format!(
            "ttl {}s {}ns is not a valid duration",
            ttl.seconds, ttl.nanos
        ))
    };
    let secs = u64::try_from(ttl.seconds).map_err(|_| invalid())?;
    let nanos = u32::try_from(ttl.nanos).map_err(|_| invalid())?;
    if nanos >= 1_000_000_000 {
        return Err(invalid());
    }
    let ttl = Duration::new(secs, nanos);
    if ttl > MAX_TTL {
        return Err(LimitError::Invalid(format!(
            "ttl {}s is longer than the {}s allowed",
            ttl.as_secs(),
            MAX_TTL.as_secs()
        )));
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(r: Result<impl std::fmt::Debug, LimitError>) -> String {
        match r {
            Err(LimitError::Invalid(msg)) => msg,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn ids_are_one_to_256_bytes() {
        assert!(check_cluster_id("c").is_ok());
        assert!(check_cluster_id(&"c".repeat(MAX_CLUSTER_ID_LEN)).is_ok());
        assert_eq!(invalid(check_cluster_id("")), "cluster id is empty");
        assert_eq!(
            invalid(check_cluster_id(&"c".repeat(257))),
            "cluster id is 257 bytes, at most 256 allowed"
        );
        assert!(check_affiliate_id(&"a".repeat(MAX_AFFILIATE_ID_LEN)).is_ok());
        assert_eq!(invalid(check_affiliate_id("")), "affiliate id is empty");
        // Bytes, not characters: 129 two-byte characters are 258 bytes.
        invalid(check_affiliate_id(&"é".repeat(129)));
    }

    #[test]
    fn blob_sizes() {
        assert!(check_data(&[0; MAX_AFFILIATE_DATA_LEN]).is_ok());
        assert!(check_data(&[]).is_ok());
        invalid(check_data(&[0; MAX_AFFILIATE_DATA_LEN + 1]));
        assert!(check_endpoints(&[vec![0; 16], vec![0; MAX_ENDPOINT_LEN]]).is_ok());
        assert_eq!(
            invalid(check_endpoints(&[vec![0; 16], vec![0; 33]])),
            "affiliate endpoint 1 is 33 bytes, at most 32 allowed"
        );
        assert!(check_endpoints(&[vec![]]).is_ok());
    }

    #[test]
    fn owner_tokens() {
        assert_eq!(check_owner_token(&[]), Ok(None));
        let hash = check_owner_token(&[7; OWNER_TOKEN_LEN])
            .expect("valid")
            .expect("some");
        assert_ne!(
            hash, [7; OWNER_TOKEN_LEN],
            "the hash is kept, not the token"
        );
        assert_eq!(
            invalid(check_owner_token(&[7; 31])),
            "owner token is 31 bytes, it must be 32"
        );
        invalid(check_owner_token(&[7; 33]));
    }

    #[test]
    fn the_largest_reply_fits_the_encode_limit() {
        use prost::Message as _;
        use weft_api::proto::discovery::server::{Affiliate, WatchResponse};
        let full = WatchResponse {
            affiliates: (0..MAX_AFFILIATES_PER_CLUSTER)
                .map(|i| Affiliate {
                    id: format!("{i:0>width$}", width = MAX_AFFILIATE_ID_LEN),
                    data: vec![0xff; MAX_AFFILIATE_DATA_LEN],
                    endpoints: (0..MAX_ENDPOINTS_PER_AFFILIATE)
                        .map(|e| vec![e as u8; MAX_ENDPOINT_LEN])
                        .collect(),
                })
                .collect(),
            deleted: true,
        };
        let len = full.encoded_len();
        assert!(len <= MAX_RESPONSE_BYTES, "{len} > {MAX_RESPONSE_BYTES}");
        assert!(len > 4 * 1024 * 1024, "over tonic's default limit: {len}");
    }

    #[test]
    fn ttl() {
        let d = |seconds, nanos| prost_types::Duration { seconds, nanos };
        assert_eq!(check_ttl(None), Ok(Duration::ZERO));
        assert_eq!(check_ttl(Some(&d(1800, 0))), Ok(MAX_TTL));
        assert_eq!(check_ttl(Some(&d(5, 500))), Ok(Duration::new(5, 500)));
        invalid(check_ttl(Some(&d(1800, 1))));
        invalid(check_ttl(Some(&d(-1, 0))));
        invalid(check_ttl(Some(&d(1, -1))));
        invalid(check_ttl(Some(&d(1, 1_000_000_000))));
        invalid(check_ttl(Some(&d(i64::MAX, 0))));
    }
}
