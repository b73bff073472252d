//! The TUN side of the userspace device, on the `tun-rs` crate instead of gotatun's `TunDevice`:
//! it opens the TUN with the Linux offloads (`IFF_VNET_HDR`, then `TUNSETOFFLOAD` with checksum,
//! TSO4/6 and, where the kernel has it, USO4/6), so the kernel hands over TCP and UDP
//! super-packets of up to 64 KiB in one read and takes coalesced ones in one write.
//!
//! ```text
//! kernel ──read (≤ 64 KiB + virtio header)──► split into MTU packets ──► gotatun (encrypt, send)
//! gotatun (decrypt) ──► WRITE_QUEUE ──► writer task: coalesce per flow (GRO) ──write──► kernel
//! ```
//! Why `tun-rs`: it wraps the ioctls and the virtio-net header safely (our crates forbid
//! `unsafe`), and its segmentation and coalescing are a port of wireguard-go's `offload_linux.go`,
//! the code the reference measured here runs. The `tun` crate under gotatun has no
//! `TUNSETOFFLOAD`.
//!
//! gotatun's `IpRecv` returns any number of packets per call, so the split fits it as is. Its
//! `IpSend` takes one packet per call with no end-of-batch signal, so `send` only queues, and a
//! writer task takes whatever has queued (up to [`IDEAL_BATCH_SIZE`]) as one batch: a burst of
//! decrypted segments of one flow becomes one write, a lone packet is written at once.
//!
//! Refused offloads are not fatal: [`open`] falls back to the plain TUN (one packet per syscall)
//! and says so once in the log; `WEFT_DATAPLANE_OFFLOAD=off` forces that path (tests use it).

use std::io;
use std::sync::Arc;

use gotatun::packet::{Ip, Packet, PacketBufPool};
use gotatun::tun::{IpRecv, IpSend, MtuWatcher};
use tokio::sync::{mpsc, watch};
use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

/// The TUN's transmit queue length (packets the kernel queues towards us). The kernel's default
/// for a TUN is 500; under a burst of TSO-split traffic that overflows before the data-plane
/// thread gets to read, and wireguard-go and Tailscale use 1000 as well.
pub const TX_QUEUE_LEN: u32 = 1000;

/// One read: the virtio-net header and the largest IP packet (a TSO/USO super-packet).
const READ_BUFFER: usize = VIRTIO_NET_HDR_LEN + 65535;

/// Decrypted packets waiting for the writer task. gotatun's own queue in front of this one holds
/// thousands; this one only needs to hold a few batches.
const WRITE_QUEUE: usize = 4 * IDEAL_BATCH_SIZE;

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
    let (queue, rx) = mpsc::channel(WRITE_QUEUE);
    tokio::spawn(write_batches(Arc::clone(&device), rx, offloads.tcp));
    let recv = TunRecv {
        device,
        mtu: mtu_rx.into(),
        read: vec![0; READ_BUFFER],
        segments: Vec::new(),
        sizes: Vec::new(),
    };
    Ok((recv, TunSend { queue }, offloads, mtu_tx))
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
    /// Refills the segment buffers from `pool`, each large enough for an MTU-sized packet.
    fn refill(&mut self, pool: &PacketBufPool) {
        let need = usize::from(self.mtu.get()) + SEGMENT_SLACK;
        let segments = if self.device.tcp_gso() {
            IDEAL_BATCH_SIZE
        } else {
            1
        };
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
}

impl IpRecv for TunRecv {
    async fn recv<'a>(
        &'a mut self,
        pool: &mut PacketBufPool,
    ) -> io::Result<impl Iterator<Item = Packet<Ip>> + Send + 'a> {
        self.refill(pool);
        let n = self
            .device
            .recv_multiple(&mut self.read, &mut self.segments, &mut self.sizes, 0)
            .await
            .map_err(|e| match e.raw_os_error() {
                Some(_) => e,
                // A super-packet the split refused (malformed header): gotatun takes some error
                // kinds (InvalidInput, InvalidData) for a deleted TUN and stops the device, so
                // report it as a plain error, which it logs and reads on.
                None => io::Error::other(format!("splitting a TUN read: {e}")),
            })?;
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

/// The send half: queues for the writer task (see the module doc).
#[derive(Clone)]
pub struct TunSend {
    queue: mpsc::Sender<Packet<Ip>>,
}

impl IpSend for TunSend {
    async fn send(&mut self, packet: Packet<Ip>) -> io::Result<()> {
        self.queue
            .send(packet)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the TUN writer has stopped"))
    }
}

/// Writes what queued, a batch at a time, coalescing when `gro`; ends when every sender is gone or
/// the TUN is gone.
async fn write_batches(device: Arc<AsyncDevice>, mut rx: mpsc::Receiver<Packet<Ip>>, gro: bool) {
    let mut batch = Vec::with_capacity(IDEAL_BATCH_SIZE);
    let mut bufs: Vec<Vec<u8>> = Vec::with_capacity(IDEAL_BATCH_SIZE);
    let mut table = GROTable::default();
    // Room in front of each packet for the virtio-net header the GRO path writes.
    let headroom = if gro { VIRTIO_NET_HDR_LEN } else { 0 };
    while rx.recv_many(&mut batch, IDEAL_BATCH_SIZE).await > 0 {
        // Reuse the buffers of the last batch.
        bufs.truncate(batch.len());
        for (i, packet) in batch.drain(..).enumerate() {
            let packet = packet.into_bytes();
            let bytes: &[u8] = &packet;
            match bufs.get_mut(i) {
                Some(buf) => {
                    buf.clear();
                    buf.resize(headroom, 0);
                    buf.extend_from_slice(bytes);
                }
                None => {
                    let mut buf = Vec::with_capacity(headroom + bytes.len().max(2048));
                    buf.resize(headroom, 0);
                    buf.extend_from_slice(bytes);
                    bufs.push(buf);
                }
            }
        }
        let result = if gro {
            device
                .send_multiple(&mut table, &mut bufs, VIRTIO_NET_HDR_LEN)
                .await
        } else {
            let mut result = Ok(0);
            for buf in &bufs {
                if let Err(e) = device.send(buf).await {
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
                tracing::debug!(error = %e, "the TUN is gone; the writer stops");
                return;
            }
            // A packet the kernel refused (malformed, or a full queue): dropped, as a kernel
            // interface would drop it.
            tracing::trace!(error = %e, "writing to the TUN");
        }
    }
}

/// The two errno values that mean the TUN itself is gone (not worth a `libc` dependency).
mod libc_codes {
    pub const ENODEV: i32 = 19;
    pub const EBADFD: i32 = 77;
}
