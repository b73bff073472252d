//! The tunnel's UDP socket, shared with NAT traversal: gotatun's own UDP transport, wrapped so
//! that Weft can send datagrams from the WireGuard port and take STUN answers out of the receive
//! path before gotatun sees them.
//!
//! Why from the WireGuard socket: a NAT maps each inside (address, port) on its own. The public
//! port a STUN server observes is the one peers must aim at only if the probe left from the very
//! socket WireGuard uses; and a hole punched from another port opens nothing for WireGuard.
//!
//! Demultiplexing is exact: a STUN message (first two bits zero, magic cookie, consistent length,
//! see `weft_api::stun::is_stun`) can never be a WireGuard message (type 1–4 then three zero
//! bytes, fixed lengths), so nothing WireGuard needs is diverted. Of the diverted messages,
//! Binding Success answers are kept in a small bounded queue for the prober; a punch arriving from
//! a peer (a Binding Indication) is noted with its source — proof that the path from that address
//! is open, which the manager uses to pick that endpoint (see [`SocketSlot::heard`]); anything
//! else is dropped.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gotatun::packet::{Packet, PacketBufPool};
use gotatun::udp::socket::{UdpSocket, UdpSocketFactory};
use gotatun::udp::{UdpRecv, UdpTransportFactory, UdpTransportFactoryParams};
use tokio::sync::mpsc;
use weft_api::stun::{self, Message};

/// STUN answers waiting for a prober; more than a handful means nobody is asking, so drop.
pub const ANSWER_QUEUE: usize = 16;

/// Most sources of punches remembered at once (one per peer endpoint that punched us lately).
pub const MAX_HEARD: usize = 1024;

/// A STUN Binding Success received on the tunnel socket: transaction, mapped address, sender.
pub type Answer = (stun::TransactionId, SocketAddr, SocketAddr);

/// What the device's transport and the backend share: the socket bound last, and where answers go.
pub struct SocketSlot {
    socket: Mutex<Option<UdpSocket>>,
    answers: mpsc::Sender<Answer>,
    /// Where punches came from, and when last.
    heard: Mutex<HashMap<SocketAddr, Instant>>,
}

impl std::fmt::Debug for SocketSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bound = self.socket().and_then(|s| s.local_addr().ok());
        f.debug_struct("SocketSlot").field("bound", &bound).finish()
    }
}

impl SocketSlot {
    /// A slot and the receiving end of its answer queue.
    pub fn new() -> (Arc<SocketSlot>, mpsc::Receiver<Answer>) {
        let (tx, rx) = mpsc::channel(ANSWER_QUEUE);
        (
            Arc::new(SocketSlot {
                socket: Mutex::new(None),
                answers: tx,
                heard: Mutex::new(HashMap::new()),
            }),
            rx,
        )
    }

    /// The socket the device bound last (it rebinds on a port or key change).
    pub fn socket(&self) -> Option<UdpSocket> {
        self.socket.lock().ok().and_then(|s| s.clone())
    }

    /// Forgets the socket (the device stopped).
    pub fn clear(&self) {
        if let Ok(mut s) = self.socket.lock() {
            *s = None;
        }
    }

    /// The sources punches came from within the last `window`.
    pub fn heard(&self, window: Duration) -> Vec<SocketAddr> {
        let Ok(heard) = self.heard.lock() else {
            return Vec::new();
        };
        heard
            .iter()
            .filter(|(_, at)| at.elapsed() <= window)
            .map(|(from, _)| *from)
            .collect()
    }

    fn divert(&self, datagram: &[u8], from: SocketAddr) {
        match stun::parse(datagram) {
            Ok(Message::BindingSuccess { txid, mapped }) => {
                // Full queue: nobody is waiting for answers; dropping is right.
                let _ = self.answers.try_send((txid, mapped, from));
            }
            Ok(Message::BindingIndication { .. }) => {
                if let Ok(mut heard) = self.heard.lock() {
                    if heard.len() >= MAX_HEARD && !heard.contains_key(&from) {
                        // Forget the oldest rather than refuse the newest: a peer punching now
                        // matters more than one that punched a while ago.
                        if let Some(oldest) =
                            heard.iter().min_by_key(|(_, at)| **at).map(|(k, _)| *k)
                        {
                            heard.remove(&oldest);
                        }
                    }
                    heard.insert(from, Instant::now());
                }
            }
            _ => {}
        }
    }
}

/// Sends `datagram` from `socket` to `to`, mapping an IPv4 destination into the IPv6 space when the
/// socket is dual-stack (gotatun binds `[::]`).
pub async fn send_from(socket: &UdpSocket, datagram: &[u8], to: SocketAddr) -> io::Result<()> {
    let to = match (socket.local_addr()?, to) {
        (SocketAddr::V6(_), SocketAddr::V4(v4)) => {
            SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
        }
        _ => to,
    };
    socket.socket().send_to(datagram, to).await.map(|_| ())
}

/// gotatun's UDP socket factory, recording each socket it binds in a [`SocketSlot`].
#[derive(Debug)]
pub struct SharedUdpFactory {
    inner: UdpSocketFactory,
    slot: Arc<SocketSlot>,
}

impl SharedUdpFactory {
    pub fn new(inner: UdpSocketFactory, slot: Arc<SocketSlot>) -> SharedUdpFactory {
        SharedUdpFactory { inner, slot }
    }
}

impl UdpTransportFactory for SharedUdpFactory {
    type Send = UdpSocket;
    type Recv = FilteringRecv;

    async fn bind(
        &mut self,
        params: &UdpTransportFactoryParams,
    ) -> io::Result<(Self::Send, Self::Recv)> {
        let (send, recv) = self.inner.bind(params).await?;
        if let Ok(mut s) = self.slot.socket.lock() {
            *s = Some(send.clone());
        }
        Ok((
            send,
            FilteringRecv {
                inner: recv,
                slot: Arc::clone(&self.slot),
            },
        ))
    }
}

/// The receive half: hands WireGuard everything but STUN.
pub struct FilteringRecv {
    inner: UdpSocket,
    slot: Arc<SocketSlot>,
}

impl UdpRecv for FilteringRecv {
    type RecvManyBuf = <UdpSocket as UdpRecv>::RecvManyBuf;

    async fn recv_from(&mut self, pool: &mut PacketBufPool) -> io::Result<(Packet, SocketAddr)> {
        loop {
            let (packet, from) = self.inner.recv_from(pool).await?;
            if stun::is_stun(&packet) {
                self.slot.divert(&packet, from);
                continue;
            }
            return Ok((packet, from));
        }
    }

    async fn recv_many_from(
        &mut self,
        recv_buf: &mut Self::RecvManyBuf,
        pool: &mut PacketBufPool,
        packets: &mut Vec<(Packet, SocketAddr)>,
    ) -> io::Result<()> {
        let start = packets.len();
        // Until at least one datagram is for WireGuard: returning none could look like a closed
        // socket to the caller.
        loop {
            self.inner.recv_many_from(recv_buf, pool, packets).await?;
            let mut i = start;
            while i < packets.len() {
                if stun::is_stun(&packets[i].0) {
                    let (packet, from) = packets.remove(i);
                    self.slot.divert(&packet, from);
                } else {
                    i += 1;
                }
            }
            if packets.len() > start {
                return Ok(());
            }
        }
    }

    fn enable_udp_gro(&self) -> io::Result<()> {
        self.inner.enable_udp_gro()
    }
}
