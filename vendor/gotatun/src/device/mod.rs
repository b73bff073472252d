// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at https://mozilla.org/MPL/2.0/.
//
// This file incorporates work covered by the following copyright and
// permission notice:
//
//   Copyright (c) Mullvad VPN AB. All rights reserved.
//   Copyright (c) 2019 Cloudflare, Inc. All rights reserved.
//
// SPDX-License-Identifier: MPL-2.0

//! WireGuard device implementation with support for peers, handshakes, and packet routing.
pub(crate) mod allowed_ips;
mod builder;
pub mod configure;
#[cfg(feature = "daita")]
pub mod daita;
#[cfg(test)]
mod integration_tests;
mod peer;
mod peer_state;
#[cfg(test)]
mod tests;
mod transports;
pub mod uapi;

use crate::noise::index_table::IndexTable;
use builder::Nul;
use futures::TryFutureExt;
use std::collections::HashMap;
use std::io::{self};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::ops::BitOrAssign;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::join;
use tokio::sync::RwLock;
use tokio::sync::{Mutex, watch};
use tracing::{Level, instrument};

use crate::noise::errors::WireGuardError;
use crate::noise::handshake::parse_handshake_anon;
use crate::noise::rate_limiter::RateLimiter;
use crate::noise::{Tunn, TunnResult};
use crate::packet::{Packet, PacketBufPool, WgKind};
use crate::tun::buffer::is_fatal_tun_error;
use crate::task::Task;
use crate::tun::{IpRecv, IpSend, MtuWatcher};
use crate::udp::{UdpRecv, UdpSend, UdpTransportFactory, UdpTransportFactoryParams};
use crate::x25519;
use allowed_ips::AllowedIps;
use peer_state::{PeerState, PendingHandshake};

#[cfg(feature = "tun")]
pub use crate::device::transports::DefaultDeviceTransports;
pub use crate::device::transports::DeviceTransports;
pub use builder::DeviceBuilder;
pub use peer::Peer;

/// The number of handshakes per second to tolerate before using cookies
const HANDSHAKE_RATE_LIMIT: u64 = 100;

/// Packet buffers the device's pool keeps for reuse (Weft fork: upstream's 4000-deep channels
/// are gone, so only a few batches are ever in flight; see `set_up`).
const POOL_BUFS: usize = 1024;

/// How long a device loop waits for its transport half to be released by the loop it replaces.
const TRANSPORT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// Error of [`Device`]-related operations.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Multiple peers have the same public key
    #[error("Multiple peers have the same public key")]
    DuplicatePeer,

    /// I/O error
    #[error("i/o error: {0}")]
    IoError(#[from] io::Error),

    /// Failed to bind UDP sockets
    #[error("Failed to bind UDP sockets (params={1:?}): {0}")]
    Bind(#[source] io::Error, UdpTransportFactoryParams),

    /// TUN device error
    #[error("TUN device error: {0}")]
    #[cfg(feature = "tun")]
    TunDevice(#[from] crate::tun::tun_async_device::Error),

    /// Failed to initialize DAITA hooks
    #[error("Failed to initialize DAITA hooks")]
    #[cfg(feature = "daita")]
    DaitaHooks(#[from] daita::Error),

    /// No peer with the given public key exists
    #[error("No peer with the given public key exists")]
    PeerNotFound,

    /// The peer has no known endpoint
    #[error("The peer has no known endpoint")]
    NoEndpoint,

    /// The device has no active connection, e.g. because it is suspended
    #[error("The device has no active connection")]
    NotConnected,
}

/// A reference-counted handle to a WireGuard device.
pub struct Device<T: DeviceTransports> {
    inner: Arc<RwLock<DeviceState<T>>>,
    fatal_error: watch::Receiver<Option<Error>>,
}

/// Entry point for building a [`Device`].
///
/// See [`DeviceBuilder`] for options.
pub const fn build() -> DeviceBuilder<Nul, Nul, Nul> {
    DeviceBuilder::new()
}

pub(crate) struct DeviceState<T: DeviceTransports> {
    key_pair: Option<(x25519::StaticSecret, x25519::PublicKey)>,
    fwmark: Option<u32>,

    tun_tx: Arc<Mutex<T::IpSend>>,
    /// The tun device reader.
    ///
    /// This is `Arc<Mutex>`:ed because:
    /// - The task responsible from reading from the `tun_rx` must have ownership of it.
    /// - We must be able to claim the ownership after that task is stopped.
    ///
    /// This is implemented by the task taking the lock upon startup, and holding it until it is
    /// stopped.
    tun_rx: Arc<Mutex<T::IpRecv>>,

    /// MTU watcher of the TUN device.
    tun_rx_mtu: MtuWatcher,

    peers: HashMap<x25519::PublicKey, Arc<Mutex<PeerState>>>,
    peers_by_ip: AllowedIps<Arc<Mutex<PeerState>>>,
    peers_by_idx: parking_lot::Mutex<HashMap<u32, Arc<Mutex<PeerState>>>>,
    index_table: IndexTable,

    rate_limiter: Option<Arc<RateLimiter>>,

    port: u16,
    udp_factory: T::UdpTransportFactory,
    connection: Option<Connection<T>>,

    /// Whether the device has been suspended via [`Device::suspend`].
    ///
    /// While suspended, the [`Connection`] (and all its tasks) is torn down so no
    /// traffic flows, but peers, keys, and config are retained for [`Device::resume`].
    suspended: bool,

    /// The task that responds to API requests.
    api: Option<Task>,

    /// If an unrecoverable error occurs (such as the TUN device being deleted),
    /// it will be stored here and propagated to all [`Device`] handles.
    fatal_error: watch::Sender<Option<Error>>,
}

pub(crate) struct Connection<T: DeviceTransports> {
    udp: <T::UdpTransportFactory as UdpTransportFactory>::Send,

    /// The task that reads IPv4 traffic from the UDP socket.
    incoming: Task,

    /// The task that handles keepalives/heartbeats/etc.
    timers: Task,

    /// The task that reads traffic from the TUN device.
    outgoing: Task,
}

impl<T: DeviceTransports> Connection<T> {
    #[instrument(level = Level::TRACE, skip_all, ret)]
    pub async fn set_up(device_arc: Arc<RwLock<DeviceState<T>>>) -> Result<(), Error> {
        let mut device = device_arc.write().await;

        // While suspended, no connection may be brought up: a reconfiguration
        // (adding a peer, changing the key/port, a UAPI `set=1`, ...) must not
        // silently resume the tunnel. The config change is still applied to
        // `DeviceState`; [`Device::resume`] brings the connection up afterwards
        // with the latest config.
        if device.suspended {
            return Ok(());
        }

        let pool = PacketBufPool::new_lazy(POOL_BUFS);

        // clean up existing connection
        if let Some(conn) = device.connection.take() {
            conn.stop().await;
        }

        let (udp_tx, udp_rx) = device.open_listen_socket().await?;

        // Remember the bound port in case it was 0
        if let Some(addr) = udp_tx.local_addr()? {
            device.port = addr.port();
        }

        // Weft fork: no buffering tasks between the transports and the device loops. Each loop
        // owns its transport half and handles a whole batch (one TUN read, one `recvmmsg`) per
        // wake-up, under one device lock, and hands the batch on in one call (`send_many_to`,
        // `IpSend::send_many`): no channel hop, no task wake-up per packet.
        let tun_tx = Arc::clone(&device.tun_tx);
        let tun_rx = Arc::clone(&device.tun_rx);

        #[cfg(feature = "daita")]
        compile_error!("the Weft fork's batched device loops do not carry the DAITA hooks");

        let fatal_error = device.fatal_error.clone();
        let register_fatal_error = move |e| {
            fatal_error.send_if_modified(|option| {
                let has_error = option.is_some();
                if !has_error {
                    *option = Some(e);
                }
                !has_error
            })
        };

        // Start device tasks
        let outgoing = Task::spawn(
            "handle_outgoing",
            DeviceState::handle_outgoing(
                Arc::downgrade(&device_arc),
                tun_rx,
                udp_tx.clone(),
                pool.clone(),
            )
            .map_err(register_fatal_error.clone()),
        );
        let timers = Task::spawn(
            "handle_timers",
            DeviceState::handle_timers(Arc::downgrade(&device_arc), udp_tx.clone()),
        );
        let incoming = Task::spawn(
            "handle_incoming",
            DeviceState::handle_incoming(
                Arc::downgrade(&device_arc),
                tun_tx,
                udp_tx.clone(),
                udp_rx,
                pool.clone(),
            )
            .map_err(register_fatal_error.clone()),
        );

        debug_assert!(device.connection.is_none());
        device.connection = Some(Connection {
            udp: udp_tx,
            incoming,
            timers,
            outgoing,
        });

        Ok(())
    }
}

impl<T: DeviceTransports> Device<T> {
    /// Stop tunneling traffic and shut down the [`Device`].
    pub async fn stop(self) {
        Self::stop_inner(self.inner.clone()).await
    }

    async fn stop_inner(device: Arc<RwLock<DeviceState<T>>>) {
        tracing::debug!("Stopping device");

        let mut device = device.write().await;

        if let Some(api_task) = device.api.take() {
            api_task.stop().await;
        }

        if let Some(connection) = device.connection.take() {
            connection.stop().await;
        }
    }

    /// Suspend the device, stopping all tunnel activity.
    ///
    /// This tears down the connection and all its background tasks (timers,
    /// inbound, and outbound I/O), so no keepalives, handshakes, or data packets are
    /// sent or received. Peers, keys, and configuration are retained, and the device
    /// can be brought back with [`Device::resume`].
    ///
    /// This is primarily intended for platforms such as iOS, where the host process
    /// may be suspended by the system: an explicit suspend stops the timers (whose
    /// clock keeps advancing while suspended) from waking the process and flooding
    /// the link on resume.
    ///
    /// Calling this on an already-suspended device is a no-op.
    pub async fn suspend(&self) {
        tracing::debug!("Suspending device");

        let mut device = self.inner.write().await;

        if device.suspended {
            return;
        }

        if let Some(connection) = device.connection.take() {
            connection.stop().await;
        }

        device.suspended = true;
    }

    /// Resume a device that was suspended with [`Device::suspend`].
    ///
    /// This rebuilds the connection (rebinding sockets and respawning tasks).
    /// Existing sessions are cleared first, so the tunnel performs a fresh handshake
    /// rather than reusing a stale session.
    ///
    /// Calling this on a device that is not suspended is a no-op.
    pub async fn resume(&self) -> Result<(), Error> {
        tracing::debug!("Resuming device");

        {
            let mut device = self.inner.write().await;

            if !device.suspended {
                return Ok(());
            }

            // Force a fresh handshake on resume by dropping any existing sessions.
            for peer in device.peers.values() {
                peer.lock().await.reset();
            }

            device.suspended = false;

            // Nothing to bring up if the device has no peers (and therefore no key).
            if device.peers.is_empty() {
                return Ok(());
            }
        }

        Connection::set_up(self.inner.clone()).await
    }

    /// Wait until there is a session with the peer with `public_key` that is not yet due for
    /// rekeying.
    ///
    /// Returns immediately if such a session exists. Otherwise, a handshake initiation is sent
    /// unless one is already in progress, and this waits until a handshake initiated by us
    /// completes. Note that this function never times out.
    ///
    /// Returns [`Error::PeerNotFound`] if the peer does not exist or is removed while waiting.
    pub async fn force_handshake(&self, public_key: &x25519::PublicKey) -> Result<(), Error> {
        let mut completed = {
            let device = self.inner.read().await;
            let connection = device.connection.as_ref().ok_or(Error::NotConnected)?;
            let peer_arc = device.peers.get(public_key).ok_or(Error::PeerNotFound)?;

            let mut peer = peer_arc.lock().await;
            let Some(PendingHandshake {
                completed,
                initiation,
            }) = peer.force_handshake()?
            else {
                return Ok(());
            };

            if let Some((packet, endpoint_addr)) = initiation {
                let packet = WgKind::from(packet);
                DeviceState::<T>::register_handshake_idx(&device.peers_by_idx, &packet, peer_arc);
                drop(peer);

                // NOTE: Like `handle_timers`, this does not trigger DAITA events.
                connection.udp.send_to(packet.into(), endpoint_addr).await?;
            }

            completed
        };

        // The sender is dropped along with the peer
        completed.changed().await.map_err(|_| Error::PeerNotFound)
    }

    /// Wait until an unrecoverable error occurs.
    pub async fn wait(&mut self) {
        self.fatal_error
            .wait_for(|err| err.is_some())
            .await
            .expect("Sender will not be dropped while Self exists");
    }
}

impl<T: DeviceTransports> Drop for Device<T> {
    fn drop(&mut self) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("Failed to get tokio runtime handle");
            return;
        };
        let device = self.inner.clone();
        handle.spawn(async move {
            Self::stop_inner(device).await;
        });
    }
}

/// Do we need to reconfigure the socket?
#[must_use]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reconfigure {
    Yes,
    No,
}

impl BitOrAssign for Reconfigure {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = match (*self, rhs) {
            (Reconfigure::No, Reconfigure::No) => Reconfigure::No,
            _ => Reconfigure::Yes,
        };
    }
}

impl<T: DeviceTransports> DeviceState<T> {
    async fn remove_peer(&mut self, pub_key: &x25519::PublicKey) -> Option<Arc<Mutex<PeerState>>> {
        if let Some(peer) = self.peers.remove(pub_key) {
            // Remove all session index entries that point to this peer
            self.peers_by_idx
                .lock()
                .retain(|_idx, p| !Arc::ptr_eq(&peer, p));
            self.peers_by_ip
                .remove(&|p: &Arc<Mutex<PeerState>>| Arc::ptr_eq(&peer, p));

            tracing::info!("Peer removed");

            Some(peer)
        } else {
            None
        }
    }

    fn add_peer(&mut self, peer_builder: Peer) {
        let pub_key = peer_builder.public_key;
        let allowed_ips = peer_builder.allowed_ips.clone();
        let peer = self.create_peer(peer_builder);
        let peer = Arc::new(Mutex::new(peer));

        self.peers.insert(pub_key, Arc::clone(&peer));

        for allowed_ip in allowed_ips {
            let addr = allowed_ip.network();
            let cidr = allowed_ip.prefix();
            self.peers_by_ip.insert(addr, cidr, Arc::clone(&peer));
        }

        tracing::info!("Peer added");
    }

    fn create_peer(&mut self, peer_builder: Peer) -> PeerState {
        let device_key_pair = self
            .key_pair
            .as_ref()
            .expect("Private key must be set first");
        let rate_limiter = self
            .rate_limiter
            .as_ref()
            .expect("Setting private key creates rate limiter")
            .clone();

        let mut tunn = Tunn::new(
            device_key_pair.0.clone(),
            peer_builder.public_key,
            peer_builder.preshared_key,
            peer_builder.keepalive,
            self.index_table.clone(),
            rate_limiter,
        );

        if let Some(timer_params) = peer_builder.danger_timer_params {
            tunn.dangerously_set_timer_params(timer_params);
        }

        PeerState::new(
            tunn,
            peer_builder.endpoint,
            peer_builder.allowed_ips.as_slice(),
            #[cfg(feature = "daita")]
            peer_builder.daita_settings,
        )
    }

    fn set_port(&mut self, port: u16) -> Reconfigure {
        if self.port == port {
            Reconfigure::No
        } else {
            self.port = port;
            Reconfigure::Yes
        }
    }

    /// Bind two UDP sockets. One for IPv4, one for IPv6.
    async fn open_listen_socket(
        &mut self,
    ) -> Result<
        (
            <T::UdpTransportFactory as UdpTransportFactory>::Send,
            <T::UdpTransportFactory as UdpTransportFactory>::Recv,
        ),
        Error,
    > {
        let params = UdpTransportFactoryParams {
            addr: None,
            port: self.port,
            #[cfg(target_os = "linux")]
            fwmark: self.fwmark,
        };
        let (udp_tx, udp_rx) = self
            .udp_factory
            .bind(&params)
            .await
            .map_err(|e| Error::Bind(e, params))?;
        Ok((udp_tx, udp_rx))
    }

    async fn set_key(&mut self, private_key: x25519::StaticSecret) -> Reconfigure {
        let public_key = x25519::PublicKey::from(&private_key);
        // x25519 (rightly) doesn't let us expose secret keys for comparison.
        // If the public keys are the same, then the private keys are the same.
        if let Some(key_pair) = self.key_pair.as_ref()
            && key_pair.1 == public_key
        {
            return Reconfigure::No;
        }

        let rate_limiter = Arc::new(RateLimiter::new(&public_key, HANDSHAKE_RATE_LIMIT));

        for peer in self.peers.values_mut() {
            peer.lock().await.tunnel.set_static_private(
                private_key.clone(),
                public_key,
                Arc::clone(&rate_limiter),
            )
        }

        self.key_pair = Some((private_key, public_key));
        self.rate_limiter = Some(rate_limiter);

        Reconfigure::Yes
    }

    #[cfg(target_os = "linux")]
    fn set_fwmark(&mut self, mark: u32) -> Result<(), Error> {
        self.fwmark = Some(mark);

        if let Some(conn) = &mut self.connection {
            conn.udp.set_fwmark(mark)?;
        }

        // // Then on all currently connected sockets
        // for peer in self.peers.values() {
        //     if let Some(ref sock) = peer.delay_lock().endpoint().conn {
        //         sock.set_mark(mark)?
        //     }
        // }

        Ok(())
    }

    /// Remove all peers.
    ///
    /// # Returns
    /// Returns the number of peers removed.
    fn clear_peers(&mut self) -> usize {
        let n = self.peers.len();
        self.peers.clear();
        self.peers_by_idx.lock().clear();
        self.peers_by_ip.clear();
        // TODO: tear down connection?
        n
    }

    /// If `packet` is a handshake init or response, register its `sender_idx` in `peers_by_idx`.
    fn register_handshake_idx(
        peers_by_idx: &parking_lot::Mutex<HashMap<u32, Arc<Mutex<PeerState>>>>,
        packet: &WgKind,
        peer: &Arc<Mutex<PeerState>>,
    ) {
        let sender_idx = match packet {
            WgKind::HandshakeInit(p) => p.sender_idx.get(),
            WgKind::HandshakeResp(p) => p.sender_idx.get(),
            _ => return,
        };
        peers_by_idx.lock().insert(sender_idx, Arc::clone(peer));
    }

    #[instrument(level = Level::TRACE, skip_all)]
    async fn handle_timers(device: Weak<RwLock<Self>>, udp: impl UdpSend) {
        loop {
            let Some(device) = device.upgrade() else {
                break;
            };
            let device = device.read().await;
            // Remove stale session indices.
            //
            // `device.index_table` is a singleton which identifies ongoing handshakes and active sessions.
            // Once a session is stale it is dropped (see `update_session_timers`), and its
            // associated index is freed from the table.
            device
                .peers_by_idx
                .lock()
                .retain(|idx, _| device.index_table.in_use(*idx));

            // NOTE: Try to reset the packet counts here in addition to inside of `PeerState::update_timers`.
            // Otherwise if the device has no peers, try_reset_count will never trigger, and packet
            // counts will accumulate indefinitely. Fixes GHSA-m2rr-7rr7-vmp7.
            if let Some(rate_limiter) = device.rate_limiter.as_ref() {
                rate_limiter.try_reset_count();
            }

            // TODO: pass in peers instead?
            let peer_map = &device.peers;

            // Go over each peer and invoke the timer function
            for peer in peer_map.values() {
                let mut p = peer.lock().await;
                let endpoint_addr = match p.endpoint().addr {
                    Some(addr) => addr,
                    None => continue,
                };

                match p.update_timers() {
                    Ok(Some(packet)) => {
                        // Register sender_idx from outgoing handshake packets
                        Self::register_handshake_idx(&device.peers_by_idx, &packet, peer);

                        drop(p);

                        // NOTE: we don't bother with triggering TunnelRecv DAITA events here.

                        let _ = udp.send_to(packet.into(), endpoint_addr).await;
                    }
                    Ok(None) => {}
                    Err(WireGuardError::ConnectionExpired) => {}
                    Err(e) => tracing::error!("Timer error = {e:?}: {e:?}"),
                }
            }

            drop(device);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Read from UDP socket, decapsulate, write to tunnel device.
    ///
    /// Weft fork: one `recv_many_from` (a `recvmmsg` with UDP GRO) per wake-up, every datagram of
    /// it handled under one device read lock, the decrypted packets written with one
    /// `IpSend::send_many` (where the TUN coalesces them).
    #[instrument(level = Level::TRACE, skip_all)]
    async fn handle_incoming(
        device: Weak<RwLock<Self>>,
        tun_tx: Arc<Mutex<T::IpSend>>,
        udp_tx: impl UdpSend,
        mut udp_rx: impl UdpRecv,
        mut packet_pool: PacketBufPool,
    ) -> Result<(), Error> {
        let (private_key, public_key, rate_limiter, mut tun_mtu) = {
            let Some(device) = device.upgrade() else {
                return Ok(());
            };
            let device = device.read().await;

            let (private_key, public_key) = device.key_pair.clone().expect("Key not set");
            let rate_limiter = device.rate_limiter.clone().unwrap();
            let tun_mtu = device.tun_rx_mtu.clone();
            (private_key, public_key, rate_limiter, tun_mtu)
        };
        let mut tun_tx = tokio::time::timeout(TRANSPORT_LOCK_TIMEOUT, tun_tx.lock_owned())
            .await
            .map_err(|_| {
                Error::IoError(io::Error::other(
                    "the TUN writer is still held by a stopped device loop",
                ))
            })?;

        let mut recv_buf = Default::default();
        let mut datagrams = Vec::new();
        let mut to_tun = Vec::new();
        loop {
            udp_rx
                .recv_many_from(&mut recv_buf, &mut packet_pool, &mut datagrams)
                .await
                .map_err(Error::IoError)?;

            let Some(device) = device.upgrade() else {
                return Ok(());
            };
            let device_guard = device.read().await;
            // The last source address looked up in the allowed IPs, and its owner: a batch is
            // mostly one flow, and the table cannot change while the read lock is held.
            let mut last_source: Option<(IpAddr, Option<Arc<Mutex<PeerState>>>)> = None;
            for (src_buf, addr) in datagrams.drain(..) {
                let parsed_packet = match rate_limiter.verify_packet(addr, src_buf) {
                    Ok(packet) => packet,
                    Err(TunnResult::WriteToNetwork(WgKind::CookieReply(cookie))) => {
                        // Note: Cookies should not affect counters.
                        udp_tx
                            .send_to(cookie.into(), addr)
                            .await
                            .map_err(Error::IoError)?;
                        continue;
                    }
                    Err(_) => continue,
                };

                let peers = &device_guard.peers;
                let peer = match &parsed_packet {
                    WgKind::HandshakeInit(p) => {
                        parse_handshake_anon(&private_key, &public_key, p)
                            .ok()
                            .and_then(|hh| {
                                peers.get(&x25519::PublicKey::from(hh.peer_static_public))
                            })
                            .cloned()
                    }
                    WgKind::HandshakeResp(p) => device_guard
                        .peers_by_idx
                        .lock()
                        .get(&p.receiver_idx.get())
                        .cloned(),
                    WgKind::CookieReply(p) => device_guard
                        .peers_by_idx
                        .lock()
                        .get(&p.receiver_idx.get())
                        .cloned(),
                    WgKind::Data(p) => device_guard
                        .peers_by_idx
                        .lock()
                        .get(&p.header.receiver_idx.get())
                        .cloned(),
                };
                let Some(peer_arc) = peer else { continue };
                let mut peer = peer_arc.lock().await;

                let result = peer.handle_incoming_packet(parsed_packet, addr);
                let PeerState { tunnel, .. } = &mut *peer;

                match result {
                    TunnResult::Done => {}
                    TunnResult::Err(_) => continue,
                    // Flush pending queue
                    TunnResult::WriteToNetwork(packet) => {
                        // Register sender_idx from outgoing handshake packets
                        Self::register_handshake_idx(
                            &device_guard.peers_by_idx,
                            &packet,
                            &peer_arc,
                        );

                        let packets =
                            std::iter::once(packet).chain(tunnel.get_queued_packets(&mut tun_mtu));
                        for packet in packets {
                            if let Err(_err) = udp_tx.send_to(packet.into(), addr).await {
                                tracing::trace!("udp.send_to failed");
                                break;
                            }
                        }
                    }
                    TunnResult::WriteToTunnel(packet) => {
                        // keepalive
                        if packet.is_empty() {
                            continue;
                        }
                        let Ok(packet) = packet.try_into_ipvx() else {
                            continue;
                        };

                        // Only accept the incoming packet if an outgoing packet to the source IP
                        // address would be routed to the same peer. This is determined by the
                        // most specific matching allowed IP range on the device.
                        let (source, packet): (IpAddr, _) = packet.either(
                            |ipv4| (ipv4.header.source().into(), ipv4.into()),
                            |ipv6| (ipv6.header.source().into(), ipv6.into()),
                        );
                        let owner = match &last_source {
                            Some((cached, owner)) if *cached == source => owner,
                            _ => {
                                let owner = device_guard.peers_by_ip.find(source).cloned();
                                &last_source.insert((source, owner)).1
                            }
                        };
                        let routed_to_this_peer =
                            owner.as_ref().is_some_and(|owner| Arc::ptr_eq(owner, &peer_arc));
                        if !routed_to_this_peer {
                            if cfg!(debug_assertions) {
                                let unspecified =
                                    SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0).into();
                                tracing::warn!(
                                    "peer at {} is not allowed to send us packets from: {source}",
                                    peer.endpoint().addr.unwrap_or(unspecified)
                                );
                            }
                            continue;
                        }
                        to_tun.push(packet);
                    }
                }
            }
            drop(device_guard);
            drop(device);

            if !to_tun.is_empty() {
                // `send_many` drops what the TUN refuses and errs only when the TUN is gone.
                if let Err(e) = tun_tx.send_many(&mut to_tun).await {
                    tracing::trace!("tun_tx.send_many failed");
                    return Err(Error::IoError(e));
                }
                to_tun.clear();
            }
        }
    }

    /// Read from tunnel device, encapsulate, and write to UDP socket for the corresponding peer.
    ///
    /// Weft fork: every packet of one TUN read (a super-packet split into MTU packets) is
    /// encrypted under one device read lock and the datagrams go out in one `send_many_to`
    /// (where the socket groups them into GSO messages).
    #[instrument(level = Level::TRACE, skip_all)]
    async fn handle_outgoing(
        device: Weak<RwLock<Self>>,
        tun_rx: Arc<Mutex<T::IpRecv>>,
        udp: impl UdpSend,
        mut packet_pool: PacketBufPool,
    ) -> Result<(), Error> {
        let mut tun_mtu = {
            let Some(device) = device.upgrade() else {
                return Ok(());
            };
            let device = device.read().await;
            device.tun_rx_mtu.clone()
        };
        let mut tun_rx = tokio::time::timeout(TRANSPORT_LOCK_TIMEOUT, tun_rx.lock_owned())
            .await
            .map_err(|_| {
                Error::IoError(io::Error::other(
                    "the TUN reader is still held by a stopped device loop",
                ))
            })?;

        let mut send_buf = Default::default();
        let mut to_send: Vec<(Packet, std::net::SocketAddr)> = Vec::new();
        loop {
            let packets = match tun_rx.recv(&mut packet_pool).await {
                Ok(packets) => packets,
                Err(e) if is_fatal_tun_error(&e) => {
                    tracing::error!("Unexpected error on tun interface: {e:?}");
                    return Err(Error::IoError(e));
                }
                Err(e) => {
                    tracing::error!("Error receiving IP packet: {e}");
                    continue;
                }
            };

            let Some(device_arc) = device.upgrade() else {
                return Ok(());
            };
            let device_guard = device_arc.read().await;
            // The last destination looked up, and its peer (see `handle_incoming`).
            let mut last_destination: Option<(IpAddr, Option<Arc<Mutex<PeerState>>>)> = None;

            for packet in packets {
                // Determine peer to use from the destination address
                let Some(dst_addr) = packet.destination() else {
                    continue;
                };

                let peer = match &last_destination {
                    Some((cached, peer)) if *cached == dst_addr => peer.clone(),
                    _ => {
                        let peer = device_guard.peers_by_ip.find(dst_addr).cloned();
                        last_destination = Some((dst_addr, peer.clone()));
                        peer
                    }
                };
                let Some(peer_arc) = peer else {
                    if cfg!(debug_assertions) {
                        tracing::trace!("Dropping packet with no routable peer");
                    }
                    // Drop packet if no peer has allowed IPs for destination
                    continue;
                };

                let mut peer = peer_arc.lock().await;
                let Some(peer_addr) = peer.endpoint().addr else {
                    // TODO: Implement the following error handling from section 3 of the
                    // whitepaper: If [peer_addr] matches no peer, it is dropped, and the sender is
                    // informed by a standard ICMP “no route to host” packet, as well as returning
                    // -ENOKEY to user space.
                    // Weft fork: trace, not error. This is per packet, and traffic to a peer that
                    // has not been heard from yet (an external peer without an endpoint) would
                    // flood the log.
                    tracing::trace!("No endpoint");
                    continue;
                };

                let PeerState { tunnel, .. } = &mut *peer;
                let Some(packet) = tunnel.handle_outgoing_packet(packet.into(), Some(&mut tun_mtu))
                else {
                    continue;
                };

                // Register sender_idx from outgoing handshake packets
                Self::register_handshake_idx(&device_guard.peers_by_idx, &packet, &peer_arc);
                to_send.push((packet.into(), peer_addr));
            }
            drop(device_guard);
            drop(device_arc);

            if to_send.is_empty() {
                continue;
            }
            if let Err(e) = udp.send_many_to(&mut send_buf, &mut to_send).await {
                tracing::trace!("send_many_to: {e:#}; dropping {} packets", to_send.len());
            }
            to_send.clear();
        }
    }
}

impl<T: DeviceTransports> Connection<T> {
    async fn stop(self) {
        let Self {
            udp,
            incoming,
            timers,
            outgoing,
        } = self;
        drop(udp);

        join!(incoming.stop(), timers.stop(), outgoing.stop(),);
    }
}
