//! The STUN Binding reflector: answers a Binding Request with the datagram's source address
//! (XOR-MAPPED-ADDRESS), so a node behind NAT that asks *from its WireGuard socket* learns that
//! socket's public endpoint. It listens on UDP at the gRPC address and port by default, so the
//! discovery endpoint nodes already have (`https://disc:3000`) implies the reflector (udp disc:3000).
//!
//! It keeps no state beyond the rate-limit buckets and answers nothing but Binding Requests: no
//! reply to indications, responses, other STUN messages, non-STUN or oversized datagrams. It
//! answers only requests at least as large as the answer (32 bytes for IPv4, 44 for IPv6; Weft's
//! requests are padded to 44, `weft_api::stun::BINDING_REQUEST_LEN`), and is rate-limited per
//! source IP, so a forged source address cannot turn it into a traffic amplifier: the victim never
//! receives more bytes than the forger sent. A plain 20-byte request from another STUN client goes
//! unanswered.
//!
//! The answer leaves from the socket it came in on; on a host with several addresses and a wildcard
//! bind, the kernel picks the answer's source address by route, which a NAT may not match with the
//! request. Such hosts should bind `--stun-listen` to the public address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use weft_api::stun::{self, MAX_MESSAGE_LEN, Message};

use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

/// One byte more than the largest message accepted: a datagram that fills it was larger than
/// [`MAX_MESSAGE_LEN`] (the kernel truncates it silently) and is refused as too long.
const RECEIVE_BUFFER: usize = MAX_MESSAGE_LEN + 1;
/// Pause after a failed receive, so a persistent socket error cannot spin the task.
const RECEIVE_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// The answer to one datagram from `source`: a Binding Success carrying `source` (IPv4-mapped
/// IPv6 given as IPv4) for a Binding Request at least as large as that answer; `None` for
/// anything else, for a smaller request, and for a source that cannot be answered (port 0,
/// unspecified address).
pub fn respond(source: SocketAddr, datagram: &[u8]) -> Option<Vec<u8>> {
    if source.port() == 0 || source.ip().is_unspecified() {
        return None;
    }
    match stun::parse(datagram) {
        Ok(Message::BindingRequest { txid }) => {
            let answer = stun::binding_success(txid, source);
            // Never more bytes out than in (see the module doc).
            (answer.len() <= datagram.len()).then_some(answer)
        }
        _ => None,
    }
}

/// Binds the reflector's UDP socket.
pub async fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    UdpSocket::bind(addr).await
}

/// Answers Binding Requests on `socket` until `shutdown`; `limiter` (`None`: off) is consulted
/// only for datagrams that would be answered, so garbage costs a sender no tokens and us no reply.
pub async fn serve(
    socket: UdpSocket,
    limiter: Option<Arc<RateLimiter>>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut buf = [0u8; RECEIVE_BUFFER];
    loop {
        let (len, source) = tokio::select! {
            () = shutdown.cancelled() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(err) => {
                    tracing::warn!(%err, "stun: receive failed");
                    tokio::time::sleep(RECEIVE_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        let Some(reply) = respond(source, &buf[..len]) else {
            metrics.stun_ignored();
            continue;
        };
        metrics.stun_request();
        if let Some(limiter) = &limiter {
            // No waiting on UDP: a request over the limit is dropped, and the client retries.
            let ip = source.ip().to_canonical();
            if limiter.reserve(ip, Instant::now(), Duration::ZERO).is_err() {
                metrics.stun_rate_limited();
                continue;
            }
        }
        if let Err(err) = socket.send_to(&reply, source).await {
            tracing::debug!(%source, %err, "stun: answer not sent");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("socket address")
    }

    #[test]
    fn a_binding_request_gets_its_source_back() {
        let txid = *b"0123456789ab";
        let request = stun::binding_request(txid);
        for (source, mapped) in [
            ("203.0.113.9:51820", "203.0.113.9:51820"),
            ("[2001:db8::9]:51820", "[2001:db8::9]:51820"),
            // A v4 client of a dual-stack socket.
            ("[::ffff:203.0.113.9]:4500", "203.0.113.9:4500"),
        ] {
            let reply = respond(addr(source), &request).expect("answered");
            assert_eq!(
                stun::parse(&reply),
                Ok(Message::BindingSuccess {
                    txid,
                    mapped: addr(mapped)
                }),
                "{source}"
            );
            // Never an amplifier: no more bytes out than in.
            assert!(reply.len() <= request.len(), "{}", reply.len());
        }
    }

    #[test]
    fn everything_else_is_ignored() {
        let source = addr("198.51.100.1:3000");
        let txid = [7; 12];
        let mut oversized = stun::binding_request(txid);
        oversized.resize(RECEIVE_BUFFER, 0);
        oversized[2..4].copy_from_slice(&((RECEIVE_BUFFER - 20) as u16).to_be_bytes());
        for datagram in [
            stun::binding_indication(txid),
            stun::binding_success(txid, source),
            vec![],
            b"hello".to_vec(),
            vec![
                4, 0, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            oversized,
        ] {
            assert_eq!(respond(source, &datagram), None, "{datagram:02x?}");
        }
        let request = stun::binding_request(txid);
        assert_eq!(respond(addr("198.51.100.1:0"), &request), None);
        assert_eq!(respond(addr("0.0.0.0:3000"), &request), None);
        // A request smaller than its answer is not answered: an unpadded one (20 bytes) never,
        // one of 32 bytes only from IPv4 (32-byte answer), not from IPv6 (44).
        let unpadded = [&[0, 1, 0, 0][..], &0x2112_A442u32.to_be_bytes(), &txid].concat();
        assert!(matches!(
            stun::parse(&unpadded),
            Ok(Message::BindingRequest { .. })
        ));
        assert_eq!(respond(source, &unpadded), None);
        let mut padded_32 = stun::binding_request(txid);
        padded_32.truncate(32);
        padded_32[3] = 12;
        padded_32[23] = 8;
        assert!(respond(source, &padded_32).is_some(), "32 bytes in, 32 out");
        assert_eq!(respond(addr("[2001:db8::1]:3000"), &padded_32), None);
        assert!(respond(addr("[2001:db8::1]:3000"), &request).is_some());
    }

    #[tokio::test]
    async fn serves_until_shutdown_and_rate_limits() {
        let socket = bind(addr("127.0.0.1:0")).await.expect("bind");
        let server = socket.local_addr().expect("addr");
        let metrics = Arc::new(Metrics::default());
        // Two requests at once, then the bucket is empty for a long while.
        let limiter = Arc::new(RateLimiter::new(0.001, 2.0, 16));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            socket,
            Some(limiter),
            metrics.clone(),
            shutdown.clone(),
        ));
        let client = UdpSocket::bind("127.0.0.1:0").await.expect("client");
        let me = client.local_addr().expect("addr");
        let mut buf = [0u8; 64];
        client.send_to(b"not stun", server).await.expect("send");
        for txid in [[1; 12], [2; 12]] {
            client
                .send_to(&stun::binding_request(txid), server)
                .await
                .expect("send");
            let (n, _) = client.recv_from(&mut buf).await.expect("answer");
            assert_eq!(
                stun::parse(&buf[..n]),
                Ok(Message::BindingSuccess { txid, mapped: me })
            );
        }
        // The third request from this IP is over the limit: no answer. Another source (127.0.0.2
        // is loopback too on Linux) has its own bucket; its answer also proves the dropped request
        // was handled, since loopback datagrams queue on the server's socket in the order sent.
        client
            .send_to(&stun::binding_request([3; 12]), server)
            .await
            .expect("send");
        let other = UdpSocket::bind("127.0.0.2:0").await.expect("second client");
        other
            .send_to(&stun::binding_request([4; 12]), server)
            .await
            .expect("send");
        let (n, _) = other.recv_from(&mut buf).await.expect("answer");
        assert!(matches!(
            stun::parse(&buf[..n]),
            Ok(Message::BindingSuccess { txid: [4, ..], .. })
        ));
        // Had the third request been answered, that answer would be queued by now.
        assert_eq!(
            client
                .try_recv_from(&mut buf)
                .map(|(n, _)| n)
                .map_err(|e| e.kind()),
            Err(std::io::ErrorKind::WouldBlock)
        );
        let text = metrics.render(
            crate::state::Counts::default(),
            crate::state::LimitCounts::default(),
        );
        for line in [
            "discovery_stun_requests_total 4",
            "discovery_stun_rate_limited_total 1",
            "discovery_stun_ignored_total 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        shutdown.cancel();
        task.await.expect("stops");
    }
}
