//! Pure planning for UDP GSO on the tunnel socket: which encrypted datagrams of a batch go out as
//! one `UDP_SEGMENT` message, and which messages share one `sendmmsg` call. No I/O; table-tested
//! below. The socket side is in `shared_socket` (`GsoUdpSend`).
//!
//! The kernel's rules for one GSO message (`udp_send_skb`): one destination; every segment
//! `segment` bytes except the last, which may be shorter; at most [`MAX_SEGMENTS`] segments
//! (`UDP_MAX_SEGMENTS`); and the whole must fit one IP packet ([`MAX_GSO_BYTES`]). `sendmmsg`
//! passes the same control messages to every message of a call, so one call carries messages of
//! one segment size only.

use std::net::SocketAddr;
use std::ops::Range;

/// The kernel's `UDP_MAX_SEGMENTS`.
pub const MAX_SEGMENTS: usize = 64;

/// The most UDP payload bytes one GSO message may carry: an IP packet's 65,535 bytes less an
/// IPv6 header (40, the larger of the two) and the UDP header (8).
pub const MAX_GSO_BYTES: usize = 65_535 - 40 - 8;

/// One GSO message: `datagrams` (a range of the batch) sent as segments of `segment` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GsoMessage {
    pub datagrams: Range<usize>,
    pub segment: usize,
}

/// Groups a batch of datagrams, given as (length, destination) in send order, into GSO messages
/// (see the module doc). Order is kept: a message only ever takes consecutive datagrams, so no
/// flow is reordered. A zero-length datagram travels alone (a zero segment size means no GSO).
pub fn plan_messages(datagrams: &[(usize, SocketAddr)]) -> Vec<GsoMessage> {
    let mut messages: Vec<GsoMessage> = Vec::new();
    // Payload bytes of the last message so far.
    let mut bytes = 0;
    for (i, &(len, to)) in datagrams.iter().enumerate() {
        if let Some(last) = messages.last_mut() {
            // The message so far ends with a full segment (only the last may be short).
            let previous_full = datagrams[i - 1].0 == last.segment;
            let fits = datagrams[last.datagrams.start].1 == to
                && last.segment > 0
                && len > 0
                && len <= last.segment
                && previous_full
                && last.datagrams.len() < MAX_SEGMENTS
                && bytes + len <= MAX_GSO_BYTES;
            if fits {
                last.datagrams.end = i + 1;
                bytes += len;
                continue;
            }
        }
        messages.push(GsoMessage {
            datagrams: i..i + 1,
            segment: len,
        });
        bytes = len;
    }
    messages
}

/// Splits planned messages into runs that share one segment size: each run is one `sendmmsg`
/// call. Returns ranges over `messages`.
pub fn plan_calls(messages: &[GsoMessage]) -> Vec<Range<usize>> {
    let mut calls: Vec<Range<usize>> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        match calls.last_mut() {
            Some(call) if messages[call.start].segment == m.segment => call.end = i + 1,
            _ => calls.push(i..i + 1),
        }
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, 1], port))
    }

    /// (datagrams, segment size) of each planned message.
    type Planned = Vec<(Range<usize>, usize)>;

    fn plan(batch: &[(usize, u16)]) -> Planned {
        let batch: Vec<(usize, SocketAddr)> = batch.iter().map(|&(l, p)| (l, a(p))).collect();
        plan_messages(&batch)
            .into_iter()
            .map(|m| (m.datagrams, m.segment))
            .collect()
    }

    #[test]
    fn groups_datagrams_into_messages() {
        let full = 1452;
        // (what, batch as (length, port), the plan)
        type Case = (&'static str, Vec<(usize, u16)>, Planned);
        let cases: Vec<Case> = vec![
            ("empty batch", vec![], vec![]),
            ("one datagram", vec![(100, 1)], vec![(0..1, 100)]),
            (
                "same size, same peer: one message",
                vec![(full, 1); 5],
                vec![(0..5, full)],
            ),
            (
                "a shorter last segment joins",
                vec![(full, 1), (full, 1), (60, 1)],
                vec![(0..3, full)],
            ),
            (
                "nothing joins after a short segment",
                vec![(full, 1), (60, 1), (full, 1)],
                vec![(0..2, full), (2..3, full)],
            ),
            (
                "a longer datagram starts a new message",
                vec![(60, 1), (full, 1)],
                vec![(0..1, 60), (1..2, full)],
            ),
            (
                "another peer starts a new message, order kept",
                vec![(full, 1), (full, 2), (full, 1)],
                vec![(0..1, full), (1..2, full), (2..3, full)],
            ),
            (
                "a zero-length datagram travels alone",
                vec![(0, 1), (0, 1), (full, 1)],
                vec![(0..1, 0), (1..2, 0), (2..3, full)],
            ),
        ];
        for (what, batch, want) in cases {
            assert_eq!(plan(&batch), want, "{what}");
        }
    }

    #[test]
    fn respects_the_kernel_limits() {
        // 1452-byte segments: 45 fit in MAX_GSO_BYTES.
        let per = MAX_GSO_BYTES / 1452;
        assert_eq!(per, 45);
        let got = plan(&vec![(1452, 1); 100]);
        assert_eq!(got, vec![(0..45, 1452), (45..90, 1452), (90..100, 1452)]);
        // Small segments: at most MAX_SEGMENTS.
        let got = plan(&vec![(100, 1); 130]);
        assert_eq!(got, vec![(0..64, 100), (64..128, 100), (128..130, 100)]);
        for (range, segment) in plan(&vec![(1000, 1); 300]) {
            assert!(range.len() <= MAX_SEGMENTS);
            assert!(range.len() * segment <= MAX_GSO_BYTES);
        }
    }

    #[test]
    fn calls_share_one_segment_size() {
        let batch: Vec<(usize, SocketAddr)> = [(1452, 1), (1452, 2), (60, 3), (60, 3), (1452, 1)]
            .iter()
            .map(|&(l, p)| (l, a(p)))
            .collect();
        let messages = plan_messages(&batch);
        assert_eq!(messages.len(), 4);
        assert_eq!(plan_calls(&messages), vec![0..2, 2..3, 3..4]);
        assert!(plan_calls(&[]).is_empty());
    }
}
