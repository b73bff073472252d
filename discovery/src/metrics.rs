//! Prometheus metrics in the text exposition format, served on `/metrics` by weft-api's shared
//! endpoint ([`weft_api::prometheus`]). Counters are atomics updated where things happen; the
//! state's sizes are read at scrape time. Names follow Sidero's service where it has the same
//! metric (`discovery_state_*`, `discovery_server_hello_requests_total`), so dashboards carry over.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::limits::{MAX_CLIENT_VERSION_LABELS, MAX_CLIENT_VERSION_LEN};
use crate::state::{Counts, LimitCounts};

/// Histogram bucket bounds, in seconds, for GC and snapshot durations (sub-millisecond for an
/// idle service up to seconds for a large snapshot on a slow disk).
const DURATION_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
/// Label value for Hellos without a client version (as Sidero).
const VERSION_UNKNOWN: &str = "unknown";
/// Label value for client versions past [`MAX_CLIENT_VERSION_LABELS`], too long, or holding
/// control characters (a NUL or a line break in a label breaks scrapers).
const VERSION_OTHER: &str = "other";

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let v = d.as_secs_f64();
        for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
            if v <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += v;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in DURATION_BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }
}

/// Every metric the service exports.
#[derive(Debug, Default)]
pub struct Metrics {
    hello: Mutex<HashMap<String, u64>>,
    gc_runs: AtomicU64,
    gc_clusters: AtomicU64,
    gc_affiliates: AtomicU64,
    gc_endpoints: AtomicU64,
    gc_duration: Mutex<Histogram>,
    snapshot_writes: AtomicU64,
    snapshot_failures: AtomicU64,
    snapshot_size: AtomicU64,
    snapshot_duration: Mutex<Histogram>,
    rate_limited: AtomicU64,
    stun_requests: AtomicU64,
    stun_rate_limited: AtomicU64,
    stun_ignored: AtomicU64,
    affiliate_updates: AtomicU64,
    watch_messages: AtomicU64,
    watches_fell_behind: AtomicU64,
    connections_accepted: AtomicU64,
    connections_open: AtomicU64,
    /// By cap: `per_ip`, `global`.
    connections_refused: Mutex<BTreeMap<&'static str, u64>>,
    /// By reason: `handshake_timeout`, `idle_timeout`, `send_timeout`, `evicted`.
    connections_closed: Mutex<BTreeMap<&'static str, u64>>,
    accept_errors: AtomicU64,
    pending_reply_bytes: AtomicU64,
    replies_refused: AtomicU64,
}

fn bump(map: &Mutex<BTreeMap<&'static str, u64>>, label: &'static str) {
    *map.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(label)
        .or_default() += 1;
}

impl Metrics {
    /// Counts one Hello from `client_version`. Only the first [`MAX_CLIENT_VERSION_LABELS`]
    /// versions seen get their own label, since clients choose the value.
    pub fn hello(&self, client_version: &str) {
        let label = if client_version.is_empty() {
            VERSION_UNKNOWN
        } else if client_version.len() > MAX_CLIENT_VERSION_LEN
            || client_version.chars().any(char::is_control)
        {
            VERSION_OTHER
        } else {
            client_version
        };
        let mut hello = self.hello.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = hello.get_mut(label) {
            *n += 1;
        } else if hello.len() < MAX_CLIENT_VERSION_LABELS {
            hello.insert(label.to_owned(), 1);
        } else {
            *hello.entry(VERSION_OTHER.to_owned()).or_default() += 1;
        }
    }

    /// Records one garbage collection.
    pub fn gc(&self, report: crate::state::GcReport, took: Duration) {
        self.gc_runs.fetch_add(1, Ordering::Relaxed);
        self.gc_clusters
            .fetch_add(report.clusters, Ordering::Relaxed);
        self.gc_affiliates
            .fetch_add(report.affiliates, Ordering::Relaxed);
        self.gc_endpoints
            .fetch_add(report.endpoints, Ordering::Relaxed);
        self.gc_duration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(took);
    }

    /// Records a snapshot write: its size when it succeeded.
    pub fn snapshot(&self, size: Option<u64>, took: Duration) {
        match size {
            Some(size) => {
                self.snapshot_writes.fetch_add(1, Ordering::Relaxed);
                self.snapshot_size.store(size, Ordering::Relaxed);
            }
            None => {
                self.snapshot_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.snapshot_duration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .observe(took);
    }

    /// Counts one request refused by the rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one STUN Binding Request received (answered unless also counted as rate-limited).
    pub fn stun_request(&self) {
        self.stun_requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one STUN Binding Request dropped by the rate limit.
    pub fn stun_rate_limited(&self) {
        self.stun_rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one accepted affiliate update (data, endpoints, or both).
    pub fn affiliate_update(&self) {
        self.affiliate_updates.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one change sent to one watcher (the fan-out of updates and deletes).
    pub fn watch_message(&self) {
        self.watch_messages.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one datagram on the STUN socket that was not a Binding Request (dropped unanswered).
    pub fn stun_ignored(&self) {
        self.stun_ignored.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one watch closed because its client fell [`crate::limits::WATCH_BUFFER`] changes
    /// behind.
    pub fn watch_fell_behind(&self) {
        self.watches_fell_behind.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one connection admitted.
    pub fn connection_accepted(&self) {
        self.connections_accepted.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the number of open connections.
    pub fn connections_open(&self, n: u64) {
        self.connections_open.store(n, Ordering::Relaxed);
    }

    /// Counts one connection closed at once over a cap (`per_ip`, `global`).
    pub fn connection_refused(&self, cap: &'static str) {
        bump(&self.connections_refused, cap);
    }

    /// Counts one admitted connection the service closed (`reason`: see `conn::CutReason`).
    pub fn connection_closed(&self, reason: &'static str) {
        bump(&self.connections_closed, reason);
    }

    /// Counts one failed accept.
    pub fn accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the bytes of large replies not yet taken by their clients.
    pub fn pending_reply_bytes(&self, n: u64) {
        self.pending_reply_bytes.store(n, Ordering::Relaxed);
    }

    /// Counts one reply refused because the reply budget was spent.
    pub fn reply_refused(&self) {
        self.replies_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition of every metric, with the state's current `counts` and what its limits
    /// turned away (`limits`).
    pub fn render(&self, counts: Counts, limits: LimitCounts) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let counter = |out: &mut String, name: &str, help: &str, v: &AtomicU64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        };
        gauge(
            &mut out,
            "discovery_state_clusters",
            "The current number of clusters in the state.",
            counts.clusters,
        );
        gauge(
            &mut out,
            "discovery_state_affiliates",
            "The current number of affiliates in the state.",
            counts.affiliates,
        );
        gauge(
            &mut out,
            "discovery_state_endpoints",
            "The current number of endpoints in the state.",
            counts.endpoints,
        );
        gauge(
            &mut out,
            "discovery_state_subscriptions",
            "The current number of subscriptions (watchers) in the state.",
            counts.subscribers,
        );
        counter(
            &mut out,
            "discovery_state_gc_runs_total",
            "The number of GC runs.",
            &self.gc_runs,
        );
        counter(
            &mut out,
            "discovery_state_gc_clusters_total",
            "The total number of GC'ed clusters.",
            &self.gc_clusters,
        );
        counter(
            &mut out,
            "discovery_state_gc_affiliates_total",
            "The total number of GC'ed affiliates.",
            &self.gc_affiliates,
        );
        counter(
            &mut out,
            "discovery_state_gc_endpoints_total",
            "The total number of GC'ed endpoints.",
            &self.gc_endpoints,
        );
        self.gc_duration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .render(
                &mut out,
                "discovery_state_gc_duration_seconds",
                "Duration of GC runs.",
            );
        counter(
            &mut out,
            "discovery_storage_snapshot_writes_total",
            "The number of snapshots written.",
            &self.snapshot_writes,
        );
        counter(
            &mut out,
            "discovery_storage_snapshot_write_failures_total",
            "The number of snapshot writes that failed.",
            &self.snapshot_failures,
        );
        gauge(
            &mut out,
            "discovery_storage_snapshot_size_bytes",
            "Size of the last snapshot written.",
            self.snapshot_size.load(Ordering::Relaxed),
        );
        self.snapshot_duration
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .render(
                &mut out,
                "discovery_storage_snapshot_write_duration_seconds",
                "Duration of snapshot writes.",
            );
        counter(
            &mut out,
            "discovery_server_rate_limited_total",
            "Requests refused by the per-IP rate limit.",
            &self.rate_limited,
        );
        counter(
            &mut out,
            "discovery_server_affiliate_updates_total",
            "Affiliate updates accepted (Weft).",
            &self.affiliate_updates,
        );
        counter(
            &mut out,
            "discovery_server_watch_messages_total",
            "Changes sent to watchers, one per watcher (Weft).",
            &self.watch_messages,
        );
        counter(
            &mut out,
            "discovery_stun_requests_total",
            "STUN Binding Requests received.",
            &self.stun_requests,
        );
        counter(
            &mut out,
            "discovery_stun_rate_limited_total",
            "STUN Binding Requests dropped by the per-IP rate limit.",
            &self.stun_rate_limited,
        );
        counter(
            &mut out,
            "discovery_stun_ignored_total",
            "Datagrams on the STUN socket that were not a Binding Request (dropped unanswered).",
            &self.stun_ignored,
        );

        let plain = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        };
        plain(
            &mut out,
            "discovery_state_clusters_refused_total",
            "Requests refused because the service holds --max-clusters clusters (Weft).",
            limits.clusters_refused,
        );
        plain(
            &mut out,
            "discovery_state_affiliates_refused_total",
            "Requests refused because the service holds --max-affiliates affiliates (Weft).",
            limits.affiliates_refused,
        );
        plain(
            &mut out,
            "discovery_server_owner_refused_total",
            "Updates and deletes of an owned affiliate refused for want of its owner token (Weft).",
            limits.not_owner_refused,
        );
        plain(
            &mut out,
            "discovery_state_endpoints_dropped_total",
            "New endpoints dropped past the per-affiliate limit (Weft).",
            limits.endpoints_dropped,
        );
        plain(
            &mut out,
            "discovery_state_endpoints_evicted_total",
            "Endpoints others added, evicted to make room for the owner's (Weft).",
            limits.endpoints_evicted,
        );
        counter(
            &mut out,
            "discovery_server_watches_fell_behind_total",
            "Watches closed because their client fell too many changes behind (Weft).",
            &self.watches_fell_behind,
        );
        counter(
            &mut out,
            "discovery_server_connections_accepted_total",
            "Client connections admitted (Weft).",
            &self.connections_accepted,
        );
        gauge(
            &mut out,
            "discovery_server_connections",
            "Client connections open (Weft).",
            self.connections_open.load(Ordering::Relaxed),
        );
        let labelled = |out: &mut String,
                        name: &str,
                        help: &str,
                        label: &str,
                        values: &[&'static str],
                        map: &Mutex<BTreeMap<&'static str, u64>>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            let map = map.lock().unwrap_or_else(PoisonError::into_inner);
            for value in values {
                let n = map.get(value).copied().unwrap_or(0);
                let _ = writeln!(out, "{name}{{{label}=\"{value}\"}} {n}");
            }
        };
        labelled(
            &mut out,
            "discovery_server_connections_refused_total",
            "Connections closed at once over a connection cap (Weft).",
            "cap",
            &["global", "per_ip"],
            &self.connections_refused,
        );
        labelled(
            &mut out,
            "discovery_server_connections_closed_total",
            "Connections the service closed: no request in time, idle, a reply not taken, or evicted for a new one (Weft).",
            "reason",
            &[
                "evicted",
                "handshake_timeout",
                "idle_timeout",
                "send_timeout",
            ],
            &self.connections_closed,
        );
        counter(
            &mut out,
            "discovery_server_accept_errors_total",
            "Failed accepts of client connections, e.g. out of file descriptors (Weft).",
            &self.accept_errors,
        );
        gauge(
            &mut out,
            "discovery_server_pending_reply_bytes",
            "Bytes of large replies (List, Watch snapshots) not yet taken by their clients (Weft).",
            self.pending_reply_bytes.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "discovery_server_replies_refused_total",
            "Requests refused because the budget for replies not yet taken was spent (Weft).",
            &self.replies_refused,
        );

        let name = "discovery_server_hello_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Number of hello requests by client version.\n# TYPE {name} counter"
        );
        let hello = self.hello.lock().unwrap_or_else(PoisonError::into_inner);
        let mut versions: Vec<_> = hello.iter().collect();
        versions.sort();
        for (version, n) in versions {
            let _ = writeln!(
                out,
                "{name}{{client_version=\"{}\"}} {n}",
                escape_label(version)
            );
        }
        out
    }
}

// The HTTP endpoint and label escaping are weft-api's, shared with weftd's metrics.
use weft_api::prometheus::escape_label;
pub use weft_api::prometheus::{bind, serve};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_labels_are_bounded_and_escaped() {
        let m = Metrics::default();
        m.hello("");
        m.hello("v1.9.0");
        m.hello("v1.9.0");
        m.hello(&"x".repeat(MAX_CLIENT_VERSION_LEN + 1));
        m.hello("we\"ird\\");
        // Control characters (NUL, line breaks) never reach a label.
        m.hello("v1\0evil");
        m.hello("v1\r\n# TYPE x counter");
        for i in 0..MAX_CLIENT_VERSION_LABELS * 2 {
            m.hello(&format!("v0.{i}"));
        }
        let text = m.render(Counts::default(), LimitCounts::default());
        assert!(
            text.contains("discovery_server_hello_requests_total{client_version=\"unknown\"} 1\n")
        );
        assert!(
            text.contains("discovery_server_hello_requests_total{client_version=\"v1.9.0\"} 2\n")
        );
        assert!(
            text.contains("{client_version=\"we\\\"ird\\\\\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains('\0') && !text.contains('\r'), "{text:?}");
        assert!(
            !text.contains("evil") && !text.contains("# TYPE x"),
            "{text}"
        );
        let labels = text
            .lines()
            .filter(|l| l.starts_with("discovery_server_hello_requests_total{"))
            .count();
        // "other" (taken by the too-long version) is one of the labels; the rest overflow into it.
        assert_eq!(labels, MAX_CLIENT_VERSION_LABELS);
        let other: u64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("discovery_server_hello_requests_total{client_version=\"other\"} ")
            })
            .and_then(|v| v.parse().ok())
            .expect("other");
        // The too-long version, the two with control characters, and the versions after the
        // table filled up (4 labels were taken before the loop: unknown, v1.9.0, other, the
        // weird one).
        assert_eq!(
            other,
            3 + (MAX_CLIENT_VERSION_LABELS * 2 - (MAX_CLIENT_VERSION_LABELS - 4)) as u64
        );
    }

    #[test]
    fn render_has_every_family() {
        let m = Metrics::default();
        m.gc(
            crate::state::GcReport {
                affiliates: 2,
                endpoints: 3,
                clusters: 1,
            },
            Duration::from_millis(2),
        );
        m.snapshot(Some(1234), Duration::from_millis(20));
        m.snapshot(None, Duration::from_millis(1));
        m.stun_request();
        m.stun_request();
        m.stun_rate_limited();
        m.stun_ignored();
        m.connection_refused("per_ip");
        m.connection_closed("handshake_timeout");
        m.connection_closed("handshake_timeout");
        let text = m.render(
            Counts {
                clusters: 1,
                affiliates: 2,
                endpoints: 3,
                subscribers: 4,
            },
            LimitCounts {
                not_owner_refused: 5,
                ..LimitCounts::default()
            },
        );
        for line in [
            "discovery_state_clusters 1",
            "discovery_state_affiliates 2",
            "discovery_state_endpoints 3",
            "discovery_state_subscriptions 4",
            "discovery_state_gc_runs_total 1",
            "discovery_state_gc_affiliates_total 2",
            "discovery_state_gc_endpoints_total 3",
            "discovery_state_gc_clusters_total 1",
            "discovery_state_gc_duration_seconds_bucket{le=\"0.005\"} 1",
            "discovery_state_gc_duration_seconds_bucket{le=\"0.001\"} 0",
            "discovery_state_gc_duration_seconds_count 1",
            "discovery_storage_snapshot_writes_total 1",
            "discovery_storage_snapshot_write_failures_total 1",
            "discovery_storage_snapshot_size_bytes 1234",
            "discovery_storage_snapshot_write_duration_seconds_count 2",
            "# TYPE discovery_server_hello_requests_total counter",
            "discovery_stun_requests_total 2",
            "discovery_stun_rate_limited_total 1",
            "discovery_stun_ignored_total 1",
            "discovery_server_owner_refused_total 5",
            "discovery_state_clusters_refused_total 0",
            "discovery_server_connections_refused_total{cap=\"per_ip\"} 1",
            "discovery_server_connections_refused_total{cap=\"global\"} 0",
            "discovery_server_connections_closed_total{reason=\"handshake_timeout\"} 2",
            "discovery_server_connections_closed_total{reason=\"send_timeout\"} 0",
            "discovery_server_connections 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
    }
}
