//! The userspace device's lifecycle: validating a config, creating the TUN link and gotatun's
//! device (listening at once), bringing a running one in line with a config (key, port, link,
//! peers by the plan in `peers`, then the capture through `crate::capture`), and tearing it down.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gotatun::device::uapi::UapiServer;
use gotatun::device::{Device, DeviceBuilder};
use gotatun::udp::socket::UdpSocketFactory;
use gotatun::x25519::{PublicKey, StaticSecret};
use ipnet::IpNet;
use tokio::time::Instant;

use super::peers::{DevicePeer, normalize, plan_peers, to_gotatun, to_ipnetworks};
use super::uapi::{Uapi, bind_uapi, prepare_uapi_path, serve_uapi};
use super::{Running, Transports, UserspaceOptions, tun};
use crate::capture::{self, Applied};
use crate::wg::link::Netlink;
use crate::wg::shared_socket::{SharedUdpFactory, SocketSlot};
use crate::wg::{DataPlaneError, DeviceConfig, Key, base64_key};

/// After the device is stopped, how long the kernel gets to delete the TUN link (it does when the
/// last file descriptor closes) before we delete it ourselves.
const LINK_GONE_TIMEOUT: Duration = Duration::from_secs(2);

/// The smallest MTU accepted: IPv6's minimum, since the interface carries the IPv6 ULA (Talos
/// rejects KubeSpan MTUs below it too).
const MIN_MTU: u32 = 1280;

/// `SO_RCVBUF` of the tunnel's UDP socket. Linux's default (208 KiB) overflows at about a
/// gigabit (measured: tens of thousands of drops per 10 s iperf3 run, TCP retransmits over the
/// tunnel); with GSO senders a burst is 64 KiB datagrams at once, so 8 MiB. Forced past
/// `rmem_max` when root (`SO_RCVBUFFORCE`, see `shared_socket`), else capped there.
pub const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;

/// `SO_SNDBUF` of the tunnel's UDP socket: room for a few `sendmmsg` batches of GSO messages
/// (128 datagrams of ~1.5 KB each) so a batch is not cut short by a full buffer.
pub const UDP_SEND_BUFFER: usize = 4 * 1024 * 1024;

/// Longest interface name Linux accepts (IFNAMSIZ − 1).
const MAX_NAME_LEN: usize = 15;

/// Rejects what cannot become a device, before anything is touched.
pub(super) fn validate(config: &DeviceConfig) -> Result<(), DataPlaneError> {
    let what = || format!("configuring {:?}", config.name);
    let name = &config.name;
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err(DataPlaneError::refused(
            what(),
            format!("not a valid interface name (1–{MAX_NAME_LEN} bytes, no '/' or spaces)"),
        ));
    }
    if config.mtu < MIN_MTU || config.mtu > u32::from(u16::MAX) {
        return Err(DataPlaneError::refused(
            what(),
            format!("MTU {} is outside {MIN_MTU}–{}", config.mtu, u16::MAX),
        ));
    }
    let mut seen = BTreeSet::new();
    for peer in &config.peers {
        if !seen.insert(peer.public_key) {
            return Err(DataPlaneError::refused(
                what(),
                format!("peer {} is listed twice", base64_key(&peer.public_key)),
            ));
        }
    }
    Ok(())
}

/// Creates the interface and the device, listening, with no peers yet.
pub(super) async fn create(
    netlink: &Netlink,
    options: &UserspaceOptions,
    slot: &Arc<SocketSlot>,
    config: &DeviceConfig,
) -> Result<Running, DataPlaneError> {
    let name = config.name.as_str();
    let what = |step: &str| format!("creating {name}: {step}");
    if netlink.link_index(name).await?.is_some() {
        return Err(DataPlaneError::refused(
            what("TUN device"),
            "a link with this name already exists (not one of ours)",
        ));
    }
    // Check the socket before creating anything: a live one means another device of that name.
    let uapi_path = match &options.uapi_dir {
        Some(dir) => Some(prepare_uapi_path(dir, name)?),
        None => None,
    };

    // validate() bounded the MTU to u16.
    let mtu =
        u16::try_from(config.mtu).map_err(|_| DataPlaneError::refused(what("MTU"), "too large"))?;
    // From here on, dropping the halves (on any error) closes the TUN and the kernel deletes the
    // link.
    let (tun_rx, tun_tx, offloads, mtu_tx) = tun::open(name, mtu, options.offload)
        .map_err(|e| DataPlaneError::io(what("TUN device"), e))?;
    let index = netlink.link_index(name).await?.ok_or_else(|| {
        DataPlaneError::failed(what("TUN device"), "created but not found over netlink")
    })?;
    netlink.set_address(name, index, config.address).await?;
    netlink.set_mtu_up(name, index, config.mtu).await?;

    let secret = StaticSecret::from(config.private_key);
    let public_key = PublicKey::from(&secret).to_bytes();
    let udp = UdpSocketFactory {
        recv_buffer_size: Some(UDP_RECV_BUFFER),
        send_buffer_size: Some(UDP_SEND_BUFFER),
    };
    let builder = DeviceBuilder::new()
        .with_udp(SharedUdpFactory::new(
            udp,
            Arc::clone(slot),
            options.offload,
        ))
        .with_ip_pair(tun_tx, tun_rx)
        .with_private_key(secret)
        .with_listen_port(config.listen_port);
    let fwmark = config.capture.as_ref().map(|c| c.tunnel_mark);
    let builder = match fwmark {
        Some(mark) => builder.with_fwmark(mark),
        None => builder,
    };
    let (builder, uapi) = match uapi_path {
        Some(path) => {
            let (client, server) = UapiServer::new();
            let listener = bind_uapi(&path)?;
            let accept = tokio::spawn(serve_uapi(listener, client));
            (builder.with_uapi(server), Some(Uapi { path, accept }))
        }
        None => (builder, None),
    };
    // gotatun binds nothing when built without peers, so this cannot fail on the port.
    let device = match builder.build().await {
        Ok(device) => device,
        Err(e) => {
            if let Some(uapi) = uapi {
                uapi.close();
            }
            return Err(DataPlaneError::device(what("WireGuard device"), e));
        }
    };
    // Listen now, peers or not (see the module doc). `clear_peers` on an empty device is the only
    // public call that makes gotatun (re)bind its socket without changing the config.
    let listening = device
        .write(async |d| {
            d.clear_peers();
        })
        .await;
    if let Err(e) = listening {
        if let Some(uapi) = uapi {
            uapi.close();
        }
        // Wait for the half-made link to go, so a retry does not find it in the way.
        if let Err(cleanup) = discard(netlink, name, index, device).await {
            tracing::warn!(interface = name, error = %cleanup, "cleaning up a failed interface");
        }
        return Err(DataPlaneError::device(
            what(&format!("listening on UDP port {}", config.listen_port)),
            e,
        ));
    }
    tracing::info!(
        interface = name,
        listen_port = config.listen_port,
        mtu = config.mtu,
        address = %config.address,
        public_key = %base64_key(&public_key),
        tun_tcp_offload = offloads.tcp,
        tun_udp_offload = offloads.udp,
        udp_gso = slot.gso(),
        "created the WireGuard interface (userspace)"
    );
    Ok(Running {
        name: name.to_owned(),
        index,
        device,
        public_key,
        listen_port: config.listen_port,
        uapi,
        capture: Applied::Off,
        fwmark,
        address: config.address.addr(),
        prober: None,
        mtu: mtu_tx,
        offloads: crate::wg::Offloads {
            tun_tcp: offloads.tcp,
            tun_udp: offloads.udp,
            udp_gso: slot.gso(),
        },
    })
}

/// Brings a running device in line with `config`.
pub(super) async fn reconfigure(
    netlink: &Netlink,
    running: &mut Running,
    config: &DeviceConfig,
    handshakes: &mut HashMap<Key, SystemTime>,
) -> Result<(), DataPlaneError> {
    let name = running.name.clone();
    let what = |step: &str| format!("configuring {name}: {step}");

    let secret = StaticSecret::from(config.private_key);
    let public_key = PublicKey::from(&secret).to_bytes();
    if public_key != running.public_key {
        // Rebinds the socket and rekeys every peer; sessions start over, as they must.
        running
            .device
            .set_private_key(secret)
            .await
            .map_err(|e| DataPlaneError::device(what("private key"), e))?;
        running.public_key = public_key;
        tracing::info!(interface = %name, public_key = %base64_key(&public_key), "changed the private key");
    }
    if config.listen_port != running.listen_port {
        running
            .device
            .set_listen_port(config.listen_port)
            .await
            .map_err(|e| {
                DataPlaneError::device(what(&format!("listen port {}", config.listen_port)), e)
            })?;
        running.listen_port = config.listen_port;
    }
    // Idempotent, and they repair an interface someone changed or took down.
    netlink.set_mtu_up(&name, running.index, config.mtu).await?;
    // What gotatun pads to follows the link (validate() bounded the MTU to u16).
    if let Ok(mtu) = u16::try_from(config.mtu) {
        running
            .mtu
            .send_if_modified(|m| std::mem::replace(m, mtu) != mtu);
    }
    netlink
        .set_address(&name, running.index, config.address)
        .await?;
    running.address = config.address.addr();

    let current: Vec<DevicePeer> = running
        .device
        .peers()
        .await
        .iter()
        .map(|p| DevicePeer {
            public_key: p.peer.public_key.to_bytes(),
            preshared_key: p.peer.preshared_key,
            endpoint: p.peer.endpoint,
            keepalive: p.peer.keepalive.filter(|&s| s > 0),
            allowed_ips: normalize(
                p.peer
                    .allowed_ips
                    .iter()
                    .filter_map(|n| IpNet::new(n.network(), n.prefix()).ok()),
            ),
        })
        .collect();
    let plan = plan_peers(&current, &config.peers);
    if !plan.is_empty() {
        let mut new_peers = Vec::with_capacity(plan.add.len());
        for peer in &plan.add {
            new_peers.push(to_gotatun(peer).map_err(|e| DataPlaneError::refused(what("peer"), e))?);
        }
        let mut updates = Vec::with_capacity(plan.update.len());
        for update in &plan.update {
            let allowed_ips = match &update.allowed_ips {
                Some(nets) => Some(
                    to_ipnetworks(nets).map_err(|e| DataPlaneError::refused(what("peer"), e))?,
                ),
                None => None,
            };
            updates.push((update, allowed_ips));
        }
        running
            .device
            .write(async |d| {
                for key in &plan.remove {
                    d.remove_peer(&PublicKey::from(*key)).await;
                }
                for (update, allowed_ips) in updates {
                    d.modify_peer(&PublicKey::from(update.public_key), |m| {
                        if let Some(psk) = update.preshared_key {
                            m.set_preshared_key(psk);
                        }
                        if let Some(keepalive) = update.keepalive {
                            m.set_keepalive(keepalive);
                        }
                        if let Some(nets) = allowed_ips {
                            m.clear_allowed_ips();
                            m.add_allowed_ips(nets);
                        }
                        if let Some(endpoint) = update.endpoint {
                            m.set_endpoint(Some(endpoint));
                        }
                    })
                    .await;
                }
                for peer in new_peers {
                    d.add_peer(peer);
                }
            })
            .await
            .map_err(|e| DataPlaneError::device(what("peers"), e))?;
        for key in &plan.remove {
            handshakes.remove(key);
        }
        tracing::debug!(
            interface = %name,
            added = ?plan.add.iter().map(|p| base64_key(&p.public_key)).collect::<Vec<_>>(),
            updated = ?plan.update.iter().map(|u| base64_key(&u.public_key)).collect::<Vec<_>>(),
            removed = ?plan.remove.iter().map(base64_key).collect::<Vec<_>>(),
            "reconfigured peers"
        );
    }

    // Peers first, so traffic the capture sends into the interface finds its peer.
    let mark = config.capture.as_ref().map(|c| c.tunnel_mark);
    if mark != running.fwmark
        && let Some(mark) = mark
    {
        running
            .device
            .set_fwmark(mark)
            .await
            .map_err(|e| DataPlaneError::device(what(&format!("socket mark {mark:#x}")), e))?;
        running.fwmark = Some(mark);
    }
    let link = capture::Link {
        name: &name,
        index: running.index,
    };
    capture::reconcile(
        netlink,
        link,
        &mut running.capture,
        config.capture.as_ref(),
        config.mtu,
    )
    .await
}

/// Undoes everything `create`/`reconfigure` did. Keeps going past errors and returns the first.
pub(super) async fn teardown(netlink: &Netlink, running: Running) -> Result<(), DataPlaneError> {
    let Running {
        name,
        index,
        device,
        uapi,
        capture: applied,
        ..
    } = running;
    if let Some(uapi) = uapi {
        uapi.close();
    }
    let mut first_error = None;
    if let Some(old) = applied.capture()
        && let Err(e) = capture::remove(netlink, capture::Link { name: &name, index }, old).await
    {
        first_error.get_or_insert(e);
    }
    if let Err(e) = discard(netlink, &name, index, device).await {
        first_error.get_or_insert(e);
    }
    tracing::info!(interface = %name, "removed the WireGuard interface");
    first_error.map_or(Ok(()), Err)
}

/// Stops the device and makes sure its link is gone. Stopping releases the TUN; the kernel deletes
/// the link when its last file descriptor closes, which happens as gotatun's aborted tasks are
/// dropped — so wait for that, and delete the link ourselves if it lingers.
pub(super) async fn discard(
    netlink: &Netlink,
    name: &str,
    index: u32,
    device: Device<Transports>,
) -> Result<(), DataPlaneError> {
    device.stop().await;
    let deadline = Instant::now() + LINK_GONE_TIMEOUT;
    if !netlink.wait_link_gone(name, index, deadline).await? {
        tracing::warn!(
            interface = name,
            "the TUN link outlived its device; deleting it"
        );
        netlink.delete_link(name, index).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::wg::PeerConfig;

    fn want(key: u8) -> PeerConfig {
        PeerConfig {
            public_key: [key; 32],
            preshared_key: Some([7; 32]),
            endpoint: None,
            persistent_keepalive: Some(Duration::from_secs(25)),
            allowed_ips: Vec::new(),
        }
    }

    #[test]
    fn invalid_configs_are_refused() {
        let config = DeviceConfig {
            name: "kubespan".into(),
            private_key: [1; 32],
            listen_port: 51820,
            mtu: 1420,
            address: "fd00::1/64".parse().expect("address"),
            peers: vec![want(2)],
            capture: None,
        };
        assert!(validate(&config).is_ok());
        for name in ["", "a-name-that-is-too-long", "a/b", "a b", ".."] {
            let bad = DeviceConfig {
                name: name.into(),
                ..config.clone()
            };
            assert!(validate(&bad).is_err(), "{name:?}");
        }
        let bad = DeviceConfig {
            mtu: 1279,
            ..config.clone()
        };
        assert_eq!(
            validate(&bad).expect_err("mtu").to_string(),
            "configuring \"kubespan\": MTU 1279 is outside 1280–65535"
        );
        let bad = DeviceConfig {
            peers: vec![want(2), want(2)],
            ..config.clone()
        };
        let err = validate(&bad).expect_err("duplicate").to_string();
        assert!(err.contains("is listed twice"), "{err}");
        // Errors name public keys only; the private key and PSK never appear.
        assert!(!err.contains(&base64_key(&[7; 32])) && !err.contains(&base64_key(&[1; 32])));
    }
}
