//! Liveness probes: ICMPv6 echo requests from the interface's own address to each peer's
//! KubeSpan address, sent *through the tunnel* (the socket is bound to the WireGuard interface).
//!
//! # Why
//! A peer's status is judged from what the device reports: handshakes and the receive counter.
//! Neither moves on an idle link: WireGuard's persistent keepalive timer is reset by any
//! authenticated packet sent *or received*, so with both sides at 25 s only one side ever sends
//! keepalives, and gotatun counts a received keepalive as 0 bytes (it adds the decrypted length).
//! Handshakes come only when data is sent. So an idle, healthy peer could look silent for
//! minutes (issue 12: every peer `down` 28 s after the first `up`).
//!
//! A probe is a real data packet: the peer's device counts it (its receive counter grows), the
//! peer's kernel answers it (ours grows), and sending data keeps WireGuard rekeying every two
//! minutes as on a busy link. Every Weft node probes every peer, so each side hears the other at
//! least once per [`crate::adapters::kubespan::peer_status::PROBE_INTERVAL`] from the other's
//! own probes, and once more from the replies to its own — independent evidence, which is what
//! keeps a lossy link `up`. A peer that runs no weftd (an external peer, a Talos node) still
//! answers echo requests, so it is judged the same way.
//!
//! # How
//! A raw ICMPv6 socket (CAP_NET_RAW, which weftd has as it needs CAP_NET_ADMIN for the TUN):
//! bound to the interface with `SO_BINDTODEVICE`, so a probe can only ever leave through the
//! tunnel — never in clear, whatever the routing tables say — and to the interface's address, so
//! the peer's answer is routed back into its tunnel. The kernel fills in the ICMPv6 checksum
//! (RFC 3542 §3.1). Replies are not read: the receive counter is the evidence, not the reply.
//! A raw socket is handed a copy of every ICMPv6 packet of the namespace, so its receive buffer
//! is kept at the minimum and the kernel drops what it cannot queue — bounded memory, no reader.

use std::net::{Ipv6Addr, SocketAddrV6};

use socket2::{Domain, Protocol, Socket, Type};

/// ICMPv6 Echo Request (RFC 4443 §4.1).
const ECHO_REQUEST: u8 = 128;

/// What a probe carries after the 8-byte header: marks it as Weft's in a capture.
const PAYLOAD: &[u8; 8] = b"weftlive";

/// The receive buffer asked for; the kernel raises it to its minimum (a few KiB).
const RECV_BUFFER: usize = 1;

/// An ICMPv6 echo request with `id`, `seq` and [`PAYLOAD`]; checksum left 0 for the kernel.
pub(crate) fn echo_request(id: u16, seq: u16) -> [u8; 16] {
    let mut packet = [0u8; 16];
    packet[0] = ECHO_REQUEST;
    packet[4..6].copy_from_slice(&id.to_be_bytes());
    packet[6..8].copy_from_slice(&seq.to_be_bytes());
    packet[8..].copy_from_slice(PAYLOAD);
    packet
}

/// An open probe socket for one interface and address.
#[derive(Debug)]
pub(crate) struct Prober {
    socket: Socket,
    interface: String,
    source: Ipv6Addr,
    id: u16,
    seq: u16,
}

impl Prober {
    /// A socket that sends from `source` through `interface` only.
    pub(crate) fn open(interface: &str, source: Ipv6Addr) -> std::io::Result<Prober> {
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))?;
        socket.set_nonblocking(true)?;
        socket.bind_device(Some(interface.as_bytes()))?;
        socket.set_recv_buffer_size(RECV_BUFFER)?;
        socket.bind(&SocketAddrV6::new(source, 0, 0, 0).into())?;
        Ok(Prober {
            socket,
            interface: interface.to_owned(),
            source,
            // Tells our probes from anyone else's in a capture; replies are not matched.
            id: (std::process::id() & 0xffff) as u16,
            seq: 0,
        })
    }

    /// Whether this socket still fits the interface and address.
    pub(crate) fn fits(&self, interface: &str, source: Ipv6Addr) -> bool {
        self.interface == interface && self.source == source
    }

    /// One echo request to each target; returns how many left. A send that fails (no route
    /// through the interface, a full queue) only skips that target: probes are periodic.
    pub(crate) fn send(&mut self, targets: &[Ipv6Addr]) -> usize {
        self.seq = self.seq.wrapping_add(1);
        let packet = echo_request(self.id, self.seq);
        let mut sent = 0;
        for target in targets {
            match self
                .socket
                .send_to(&packet, &SocketAddrV6::new(*target, 0, 0, 0).into())
            {
                Ok(_) => sent += 1,
                Err(e) => tracing::trace!(%target, error = %e, "liveness probe not sent"),
            }
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_requests_are_well_formed() {
        let p = echo_request(0x1234, 0xbeef);
        assert_eq!(p[0], 128, "type: echo request");
        assert_eq!(p[1], 0, "code");
        assert_eq!(&p[2..4], &[0, 0], "checksum left to the kernel");
        assert_eq!(&p[4..8], &[0x12, 0x34, 0xbe, 0xef], "id, seq");
        assert_eq!(&p[8..], b"weftlive");
    }
}
