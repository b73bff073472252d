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
//!
//! The factory also sizes the socket's buffers (forced past `rmem_max`/`wmem_max` when root) and
//! sends with UDP GSO ([`GsoUdpSend`]: one `sendmmsg` carries many encrypted datagrams of a flow as
//! `UDP_SEGMENT` messages; the grouping is planned in `wg::offload`). Receiving uses gotatun's
//! `recvmmsg` with UDP GRO as it is.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use gotatun::packet::{Packet, PacketBufPool};
use gotatun::udp::socket::{UdpSocket, UdpSocketFactory};
use gotatun::udp::{UdpRecv, UdpSend, UdpTransportFactory, UdpTransportFactoryParams};
use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, setsockopt, sockopt,
};
use tokio::io::Interest;
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
    /// Raised when a handshake message arrives, so peer states are read at once instead of at
    /// the next poll (see `userspace::poll_changes`).
    handshake: tokio::sync::Notify,
    /// Whether the socket bound last sends with UDP GSO (for the startup log).
    gso: AtomicBool,
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
                handshake: tokio::sync::Notify::new(),
                gso: AtomicBool::new(false),
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

    /// Whether the socket bound last sends with UDP GSO.
    pub fn gso(&self) -> bool {
        self.gso.load(Ordering::Relaxed)
    }

    /// Resolves after the next handshake message reaches the device's receive path.
    pub async fn handshake_seen(&self) {
        self.handshake.notified().await;
    }

    /// Notes a datagram on its way to WireGuard: a handshake initiation or response (types 1
    /// and 2, then three zero bytes) wakes [`SocketSlot::handshake_seen`].
    fn note(&self, datagram: &[u8]) {
        if let [1 | 2, 0, 0, 0, ..] = datagram {
            // A permit is kept when nobody waits: the next wait returns at once.
            self.handshake.notify_one();
        }
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

/// gotatun's UDP socket factory, recording each socket it binds in a [`SocketSlot`], sizing its
/// buffers and sending with GSO where the kernel allows it.
#[derive(Debug)]
pub struct SharedUdpFactory {
    inner: UdpSocketFactory,
    slot: Arc<SocketSlot>,
    /// GSO wanted (not forced off); each bind probes the kernel again.
    gso: bool,
    /// Whether the "GSO refused" warning was logged (once per factory, not per rebind).
    warned: Arc<AtomicBool>,
}

impl SharedUdpFactory {
    /// `gso`: send with UDP GSO when the kernel accepts it.
    pub fn new(inner: UdpSocketFactory, slot: Arc<SocketSlot>, gso: bool) -> SharedUdpFactory {
        SharedUdpFactory {
            inner,
            slot,
            gso,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl UdpTransportFactory for SharedUdpFactory {
    type Send = GsoUdpSend;
    type Recv = FilteringRecv;

    async fn bind(
        &mut self,
        params: &UdpTransportFactoryParams,
    ) -> io::Result<(Self::Send, Self::Recv)> {
        let (send, recv) = self.inner.bind(params).await?;
        force_buffers(&send, &self.inner);
        if let Ok(mut s) = self.slot.socket.lock() {
            *s = Some(send.clone());
        }
        // The probe: a socket that refuses the option would refuse the control message too.
        let gso = self.gso
            && match setsockopt(send.socket(), sockopt::UdpGsoSegment, &0) {
                Ok(()) => true,
                Err(e) => {
                    if !self.warned.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "the kernel refused UDP GSO (UDP_SEGMENT); turned off: one datagram per message");
                    }
                    false
                }
            };
        self.slot.gso.store(gso, Ordering::Relaxed);
        Ok((
            GsoUdpSend {
                inner: send,
                gso: Arc::new(AtomicBool::new(gso)),
            },
            FilteringRecv {
                inner: recv,
                slot: Arc::clone(&self.slot),
            },
        ))
    }
}

/// Raises the socket's buffers past the `rmem_max`/`wmem_max` caps with `SO_RCVBUFFORCE` and
/// `SO_SNDBUFFORCE` (root, or `CAP_NET_ADMIN`); without the privilege, what gotatun set with the
/// plain options (capped) stays.
fn force_buffers(socket: &UdpSocket, sizes: &UdpSocketFactory) {
    let fd = socket.socket();
    if let Some(size) = sizes.recv_buffer_size
        && let Err(e) = setsockopt(fd, sockopt::RcvBufForce, &size)
    {
        tracing::debug!(error = %e, "SO_RCVBUFFORCE refused; the receive buffer stays capped at rmem_max");
    }
    if let Some(size) = sizes.send_buffer_size
        && let Err(e) = setsockopt(fd, sockopt::SndBufForce, &size)
    {
        tracing::debug!(error = %e, "SO_SNDBUFFORCE refused; the send buffer stays capped at wmem_max");
    }
}

/// The send half: gotatun's socket, with `send_many_to` sending GSO messages (see
/// `wg::offload`). Falls back to gotatun's plain `sendmmsg` for good, logging once, if the kernel
/// refuses a GSO send (a route through a device without checksum offload can).
#[derive(Clone)]
pub struct GsoUdpSend {
    inner: UdpSocket,
    gso: Arc<AtomicBool>,
}

/// The most datagrams one `send_many_to` takes (gotatun's send task batches up to this).
pub const SEND_BATCH: usize = 128;

/// Reused between `send_many_to` calls.
#[derive(Default)]
pub struct GsoSendBuf {
    plain: <UdpSocket as UdpSend>::SendManyBuf,
}

impl UdpSend for GsoUdpSend {
    type SendManyBuf = GsoSendBuf;

    async fn send_to(&self, packet: Packet, destination: SocketAddr) -> io::Result<()> {
        self.inner.send_to(packet, destination).await
    }

    fn max_number_of_packets_to_send(&self) -> usize {
        SEND_BATCH
    }

    async fn send_many_to(
        &self,
        buf: &mut GsoSendBuf,
        packets: &mut Vec<(Packet, SocketAddr)>,
    ) -> io::Result<()> {
        if self.gso.load(Ordering::Relaxed) {
            match self.send_gso(packets).await {
                Ok(()) => return Ok(()),
                Err(e) if matches!(e.raw_os_error(), Some(EIO | EINVAL)) => {
                    self.gso.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "a UDP GSO send was refused; turned off: one datagram per message");
                }
                Err(e) => return Err(e),
            }
        }
        // Plain: gotatun's sendmmsg, in the chunks it takes.
        let max = self.inner.max_number_of_packets_to_send().max(1);
        while !packets.is_empty() {
            let rest = packets.split_off(packets.len().min(max));
            self.inner.send_many_to(&mut buf.plain, packets).await?;
            *packets = rest;
        }
        Ok(())
    }

    fn local_addr(&self) -> io::Result<Option<SocketAddr>> {
        UdpSend::local_addr(&self.inner)
    }

    fn set_fwmark(&self, mark: u32) -> io::Result<()> {
        self.inner.set_fwmark(mark)
    }
}

/// The errno values of a refused GSO send (not worth a `libc` dependency).
const EIO: i32 = 5;
const EINVAL: i32 = 22;

impl GsoUdpSend {
    /// Sends `packets` as planned by `offload::plan_messages`; on success `packets` is empty. On an
    /// error, the datagrams not yet sent stay in `packets`.
    async fn send_gso(&self, packets: &mut Vec<(Packet, SocketAddr)>) -> io::Result<()> {
        let shape: Vec<(usize, SocketAddr)> = packets.iter().map(|(p, a)| (p.len(), *a)).collect();
        let messages = super::offload::plan_messages(&shape);
        let socket = self.inner.socket();
        let fd = socket.as_raw_fd();
        let mut sent_datagrams = 0;
        let result = async {
            for call in super::offload::plan_calls(&messages) {
                let call = &messages[call];
                let segment = u16::try_from(call[0].segment).unwrap_or(0);
                let slices: Vec<Vec<IoSlice<'_>>> = call
                    .iter()
                    .map(|m| {
                        packets[m.datagrams.clone()]
                            .iter()
                            .map(|(p, _)| IoSlice::new(p))
                            .collect()
                    })
                    .collect();
                let targets: Vec<Option<SockaddrStorage>> = call
                    .iter()
                    .map(|m| Some(SockaddrStorage::from(packets[m.datagrams.start].1)))
                    .collect();
                let mut first = 0;
                while first < call.len() {
                    let n = socket
                        .async_io(Interest::WRITABLE, || {
                            let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(
                                call.len() - first,
                                Some(nix::cmsg_space!(u16)),
                            );
                            // A zero segment (an empty datagram) means no GSO: no message then.
                            let gso = [ControlMessage::UdpGsoSegments(&segment)];
                            let cmsgs: &[ControlMessage<'_>] = if segment > 0 { &gso } else { &[] };
                            let sent = nix::sys::socket::sendmmsg(
                                fd,
                                &mut headers,
                                &slices[first..],
                                &targets[first..],
                                cmsgs,
                                MsgFlags::MSG_DONTWAIT,
                            )?;
                            Ok(sent.count())
                        })
                        .await?;
                    sent_datagrams += call[first..first + n]
                        .iter()
                        .map(|m| m.datagrams.len())
                        .sum::<usize>();
                    first += n;
                }
            }
            Ok::<(), io::Error>(())
        }
        .await;
        packets.drain(..sent_datagrams);
        result
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
            self.slot.note(&packet);
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
                    self.slot.note(&packets[i].0);
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
