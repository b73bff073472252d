//! The TUN side of the userspace device, on the `tun-rs` crate instead of gotatun's `TunDevice`:
//! it opens the TUN with the Linux offloads (`IFF_VNET_HDR`, then `TUNSETOFFLOAD` with checksum,
//! TSO4/6 and, where the kernel has it, USO4/6), so the kernel hands over TCP and UDP
//! super-packets of up to 64 KiB in one read and takes coalesced ones in one write.
//!
//! ```text
//! kernel ──read (≤ 64 KiB + virtio header)──► split into MTU packets ──► gotatun (encrypt, send)
//! gotatun (decrypt a recvmmsg batch) ──send_many──► coalesce per flow (GRO) ──write──► kernel
//! ```
//! Why `tun-rs`: it wraps the ioctls and the virtio-net header safely (our crates forbid
//! `unsafe`), and its segmentation and coalescing are a port of wireguard-go's `offload_linux.go`,
//! the code the reference measured here runs. The `tun` crate under gotatun has no
//! `TUNSETOFFLOAD`.
//!
//! gotatun's `IpRecv` returns any number of packets per call, so the split fits it as is. Its
//! `IpSend` took one packet per call; Weft's fork of gotatun (`vendor/gotatun`) adds
//! `IpSend::send_many`, called once with everything one UDP receive batch decrypted, so the
//! decrypted segments of a flow become one write without a queue or a task in between.
//!
//! Refused offloads are not fatal: [`open`] falls back to the plain TUN (one packet per syscall)
//! and says so once in the log; `WEFT_DATAPLANE_OFFLOAD=off` forces that path (tests use it).

use std::io;
use std::sync::Arc;

use gotatun::packet::{Ip, Packet, PacketBufPool};
use gotatun::tun::{IpRecv, IpSend, MtuWatcher};
use tokio::sync::watch;
use tun_rs::{
    AsyncDevice, DeviceBuilder, DeviceImpl, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN,
};

/// The TUN's transmit queue length (packets the kernel queues towards us). The kernel's default
/// for a TUN is 500; under a burst of TSO-split traffic that overflows before the data-plane
/// thread gets to read, and wireguard-go and Tailscale use 1000 as well.
pub const TX_QUEUE_LEN: u32 = 1000;

/// One read: the virtio-net header and the largest IP packet (a TSO/USO super-packet).
const READ_BUFFER: usize = VIRTIO_NET_HDR_LEN + 65535;

/// Capacity of a buffer the GRO write path coalesces into: the largest IP packet plus the
/// virtio-net header, twice (`tun-rs` refuses to coalesce into a buffer with less, and never
/// grows one). Before this was set, every buffer held one packet's worth and no two packets were
/// ever coalesced: one TUN write per 1420-byte packet. Pages are only touched as they are written.
const COALESCE_CAPACITY: usize = 2 * VIRTIO_NET_HDR_LEN + 65535;

/// Room for the IP and transport headers above the MTU in a split segment buffer.
const SEGMENT_SLACK: usize = 128;

/// The environment variable that turns every data-plane offload off when set to `off`.
pub const OFFLOAD_ENV: &str = "WEFT_DATAPLANE_OFFLOAD";

/// Whether offloads are wanted: yes unless [`OFFLOAD_ENV`] says `off` (or `0`, `false`).
pub fn offload_wanted() -> bool {
    !matches!(
        std::env::var(OFFLOAD_ENV).as_deref().map(str::trim),
        Ok("off" | "0" | "false")
    )
}

/// What the kernel accepted on this TUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TunOffloads {
    /// `IFF_VNET_HDR` with checksum offload and TSO4/6: TCP super-packets in, coalesced TCP out.
    pub tcp: bool,
    /// USO4/6 too: UDP super-packets in, coalesced UDP out.
    pub udp: bool,
}

/// Opens TUN `name`, with offloads when `offload` and the kernel accepts them (see the module
/// doc). Returns the receive and send halves for gotatun, what was enabled, and the sender of the
/// MTU the device pads to (update it when the link's MTU changes).
pub fn open(
    name: &str,
    mtu: u16,
    offload: bool,
) -> io::Result<(TunRecv, TunSend, TunOffloads, watch::Sender<u16>)> {
    let build = |offload: bool| {
        DeviceBuilder::new()
            .name(name)
            .tx_queue_len(TX_QUEUE_LEN)
            .offload(offload)
            .build_async()
    };
    let device = if offload {
        match build(true) {
            Ok(device) => device,
            Err(e) => {
                tracing::warn!(
                    interface = name,
                    error = %e,
                    "the kernel refused TUN offloads (IFF_VNET_HDR/TUNSETOFFLOAD); turned off: one packet per TUN read and write"
                );
                build(false)?
            }
        }
    } else {
        build(false)?
    };
    let offloads = TunOffloads {
        tcp: device.tcp_gso(),
        udp: device.udp_gso(),
    };
    if offload && offloads.tcp && !offloads.udp {
        // Kernels before 6.2 take TSO but not USO on a TUN: say what is off, once per interface.
        tracing::warn!(
            interface = name,
            "the kernel refused UDP segmentation offload (USO) on the TUN; turned off: UDP through the tunnel is read and written one datagram at a time"
        );
    }
    let device = Arc::new(device);
    let (mtu_tx, mtu_rx) = watch::channel(mtu);
    let send = TunSend::new(Arc::clone(&device), offloads.tcp);
    let recv = TunRecv {
        device,
        mtu: mtu_rx.into(),
        read: vec![0; READ_BUFFER],
        segments: Vec::new(),
        sizes: Vec::new(),
    };
    Ok((recv, send, offloads, mtu_tx))
}

/// The receive half: one read, split into MTU-sized packets (see the module doc).
pub struct TunRecv {
    device: Arc<AsyncDevice>,
    mtu: MtuWatcher,
    /// The raw read: virtio-net header and packet.
    read: Vec<u8>,
    /// Pool buffers the split writes into; the filled ones go to gotatun, the rest stay.
    segments: Vec<Segment>,
    sizes: Vec<usize>,
}

/// A pool buffer as `tun-rs` wants one (`AsRef`/`AsMut` of bytes).
struct Segment(Packet<[u8]>);

impl AsRef<[u8]> for Segment {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl AsMut<[u8]> for Segment {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl TunRecv {
    /// Refills the segment buffers from `pool` (one read's split, plus room for the drain in
    /// `recv`), each large enough for an MTU-sized packet.
    fn refill(&mut self, pool: &PacketBufPool) {
        let need = usize::from(self.mtu.get()) + SEGMENT_SLACK;
        let segments = IDEAL_BATCH_SIZE + self.per_read();
        self.segments.retain(|s| s.0.len() >= need);
        while self.segments.len() < segments {
            let mut packet = pool.get();
            if packet.len() < need {
                packet.buf_mut().resize(need, 0);
            }
            self.segments.push(Segment(packet));
        }
        self.sizes.resize(self.segments.len(), 0);
    }

    /// Segment buffers one read may need: a whole super-packet's split with offloads, else one.
    fn per_read(&self) -> usize {
        if self.device.tcp_gso() {
            IDEAL_BATCH_SIZE
        } else {
            1
        }
    }
}

/// A failed read or split, as gotatun should see it.
fn read_error(e: io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(_) => e,
        // A super-packet the split refused (malformed header): gotatun takes some error kinds
        // (InvalidInput, InvalidData) for a deleted TUN and stops the device, so report it as a
        // plain error, which it logs and reads on.
        None => io::Error::other(format!("splitting a TUN read: {e}")),
    }
}

impl IpRecv for TunRecv {
    /// One read, waiting for it; then, without waiting, whatever else the kernel has queued, up to
    /// [`IDEAL_BATCH_SIZE`] packets in all, so the device encrypts and sends them as one batch
    /// (one `sendmmsg`): a burst of ACKs or of datagrams that were not offloaded costs one send,
    /// not one per packet.
    async fn recv<'a>(
        &'a mut self,
        pool: &mut PacketBufPool,
    ) -> io::Result<impl Iterator<Item = Packet<Ip>> + Send + 'a> {
        self.refill(pool);
        let mut n = self
            .device
            .recv_multiple(&mut self.read, &mut self.segments, &mut self.sizes, 0)
            .await
            .map_err(read_error)?;
        // The same split on the non-blocking descriptor, outside tokio: it returns WouldBlock when
        // nothing is queued (tokio finds that out itself on the next wait).
        let sync: &DeviceImpl = &self.device;
        let per_read = self.per_read();
        while n < IDEAL_BATCH_SIZE && self.segments.len() - n >= per_read {
            match sync.recv_multiple(
                &mut self.read,
                &mut self.segments[n..],
                &mut self.sizes[n..],
                0,
            ) {
                Ok(more) => n += more,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // What was read so far goes on; a lasting error shows on the next wait.
                    tracing::debug!(error = %read_error(e), "reading the TUN");
                    break;
                }
            }
        }
        let sizes = &self.sizes;
        Ok(self
            .segments
            .drain(..n)
            .zip(sizes.iter().copied())
            .filter_map(|(Segment(mut packet), size)| {
                packet.truncate(size);
                // Not an IP packet (too short): nothing gotatun could route; drop it.
                packet.try_into_ip().ok()
            }))
    }

    fn mtu(&self) -> MtuWatcher {
        self.mtu.clone()
    }
}

/// The send half: writes each batch the device decrypted, coalesced per flow when the TUN has
/// offloads (see the module doc).
pub struct TunSend {
    device: Arc<AsyncDevice>,
    /// Coalesce (GRO) before writing: the TUN took `IFF_VNET_HDR` with TSO.
    gro: bool,
    table: GROTable,
    /// The batch behind room for the virtio-net header; reused between batches.
    bufs: Vec<Vec<u8>>,
}

impl TunSend {
    fn new(device: Arc<AsyncDevice>, gro: bool) -> TunSend {
        TunSend {
            device,
            gro,
            table: GROTable::default(),
            bufs: Vec::with_capacity(IDEAL_BATCH_SIZE),
        }
    }

    /// Writes `packets` (at most [`IDEAL_BATCH_SIZE`] at a time): one write per coalesced flow
    /// with GRO, one per packet without. Errs only when the TUN is gone; a packet the kernel
    /// refuses (malformed, or a full queue) is dropped, as a kernel interface would drop it.
    async fn write(&mut self, packets: &mut Vec<Packet<Ip>>) -> io::Result<()> {
        // Room in front of each packet for the virtio-net header the GRO path writes.
        let headroom = if self.gro { VIRTIO_NET_HDR_LEN } else { 0 };
        while !packets.is_empty() {
            let take = packets.len().min(IDEAL_BATCH_SIZE);
            self.bufs.truncate(take);
            for (i, packet) in packets.drain(..take).enumerate() {
                let packet = packet.into_bytes();
                let bytes: &[u8] = &packet;
                match self.bufs.get_mut(i) {
                    Some(buf) => {
                        buf.clear();
                        buf.resize(headroom, 0);
                        buf.extend_from_slice(bytes);
                    }
                    None => {
                        let mut buf = Vec::with_capacity(if self.gro {
                            COALESCE_CAPACITY
                        } else {
                            bytes.len()
                        });
                        buf.resize(headroom, 0);
                        buf.extend_from_slice(bytes);
                        self.bufs.push(buf);
                    }
                }
            }
            let result = if self.gro {
                self.device
                    .send_multiple(&mut self.table, &mut self.bufs, VIRTIO_NET_HDR_LEN)
                    .await
                    .map(|_| ())
            } else {
                let mut result = Ok(());
                for buf in &self.bufs {
                    if let Err(e) = self.device.send(buf).await {
                        result = Err(e);
                    }
                }
                result
            };
            if let Err(e) = result {
                if matches!(
                    e.raw_os_error(),
                    Some(libc_codes::EBADFD | libc_codes::ENODEV)
                ) {
                    return Err(e);
                }
                tracing::trace!(error = %e, "writing to the TUN");
            }
        }
        Ok(())
    }
}

impl IpSend for TunSend {
    async fn send(&mut self, packet: Packet<Ip>) -> io::Result<()> {
        self.write(&mut vec![packet]).await
    }

    async fn send_many(&mut self, packets: &mut Vec<Packet<Ip>>) -> io::Result<()> {
        self.write(packets).await
    }
}

/// The two errno values that mean the TUN itself is gone (not worth a `libc` dependency).
mod libc_codes {
    pub const ENODEV: i32 = 19;
    pub const EBADFD: i32 = 77;
}
