//! [`render`] over fixed snapshots: every family, label escaping, the series cap.

use super::*;

fn peer(label: &str, state: PeerState, rx: u64) -> PeerStatusSpec {
    PeerStatusSpec {
        label: label.to_owned(),
        state,
        receive_bytes: rx,
        transmit_bytes: rx * 2,
        endpoint: Some("192.0.2.1:51820".parse().expect("addr")),
        last_handshake_time: OffsetDateTime::from_unix_timestamp(1_000).expect("time"),
        ..PeerStatusSpec::default()
    }
}

fn snapshot() -> Snapshot {
    let mut s = Snapshot {
        now: OffsetDateTime::from_unix_timestamp(1_010).expect("time"),
        ..Snapshot::default()
    };
    s.peers
        .insert("KEY1=".into(), peer("node-1", PeerState::Up, 10));
    s.peers.insert(
        "KEY2=".into(),
        PeerStatusSpec {
            last_handshake_time: weft_api::resources::fields::ZERO_TIME,
            endpoint: None,
            ..peer("evil\"} 1\nweft_x{a=\"\\", PeerState::Down, 0)
        },
    );
    s.endpoint_changes.insert("KEY1=".into(), 3);
    s.discovery.push(DiscoveryServiceStatusSpec {
        endpoint: "https://discovery.example:443".into(),
        connected: true,
        affiliates: 2,
        updates: 7,
        watch_messages: 9,
        sessions: 1,
        ..DiscoveryServiceStatusSpec::default()
    });
    s.offloads = crate::wg::Offloads {
        tun_tcp: true,
        tun_udp: false,
        udp_gso: true,
    };
    s.interface = Some(os::InterfaceCounters {
        rx_packets: 5,
        tx_dropped: 1,
        ..os::InterfaceCounters::default()
    });
    s.reconcile_errors.insert("ManagerController".into(), 4);
    s
}

#[test]
fn every_family() {
    let text = render(&snapshot());
    let k1 = "public_key=\"KEY1=\",label=\"node-1\"";
    for line in [
        "weft_peers{state=\"up\"} 1".to_owned(),
        "weft_peers{state=\"down\"} 1".to_owned(),
        "weft_peers{state=\"unknown\"} 0".to_owned(),
        "weft_peers_unlisted 0".to_owned(),
        format!("weft_peer_state{{{k1}}} 1"),
        format!("weft_peer_up{{{k1}}} 1"),
        format!("weft_peer_last_handshake_age_seconds{{{k1}}} 10.000"),
        format!("weft_peer_receive_bytes_total{{{k1}}} 10"),
        format!("weft_peer_transmit_bytes_total{{{k1}}} 20"),
        format!("weft_peer_endpoint_changes_total{{{k1}}} 3"),
        format!("weft_peer_endpoint_info{{{k1},endpoint=\"192.0.2.1:51820\"}} 1"),
        "weft_discovery_connected{service=\"https://discovery.example:443\"} 1".to_owned(),
        "weft_discovery_announced{service=\"https://discovery.example:443\"} 0".to_owned(),
        "weft_discovery_affiliates{service=\"https://discovery.example:443\"} 2".to_owned(),
        "weft_discovery_sessions_total{service=\"https://discovery.example:443\"} 1".to_owned(),
        "weft_discovery_updates_total{service=\"https://discovery.example:443\"} 7".to_owned(),
        "weft_discovery_watch_messages_total{service=\"https://discovery.example:443\"} 9"
            .to_owned(),
        "# TYPE weft_discovery_updates_total counter".to_owned(),
        "# TYPE weft_discovery_connected gauge".to_owned(),
        "weft_dataplane_interface_present 1".to_owned(),
        "weft_dataplane_receive_packets_total 5".to_owned(),
        "weft_dataplane_transmit_drops_total 1".to_owned(),
        "weft_dataplane_offload_enabled{offload=\"tun_tso\"} 1".to_owned(),
        "weft_dataplane_offload_enabled{offload=\"tun_uso\"} 0".to_owned(),
        "weft_dataplane_offload_enabled{offload=\"udp_gso\"} 1".to_owned(),
        "weft_controller_reconcile_errors_total{controller=\"ManagerController\"} 4".to_owned(),
        "# TYPE process_cpu_seconds_total counter".to_owned(),
        "# TYPE weft_peer_receive_bytes_total counter".to_owned(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

#[test]
fn peer_labels_are_escaped_and_never_break_a_line() {
    let text = render(&snapshot());
    let line = text
        .lines()
        .find(|l| l.starts_with("weft_peer_state{public_key=\"KEY2=\""))
        .expect("KEY2's state");
    // The line break became `?`; the quote and backslash are escaped.
    assert_eq!(
        line,
        "weft_peer_state{public_key=\"KEY2=\",label=\"evil\\\"} 1?weft_x{a=\\\"\\\\\"} 2"
    );
    assert!(!text.lines().any(|l| l.starts_with("weft_x")), "{text}");
    // No handshake yet, no endpoint: no age and no endpoint series for KEY2.
    assert!(!text.contains("weft_peer_last_handshake_age_seconds{public_key=\"KEY2="));
    assert!(!text.contains("weft_peer_endpoint_info{public_key=\"KEY2="));
}

#[test]
fn peers_past_the_cap_get_no_series() {
    let mut s = Snapshot::default();
    for i in 0..MAX_PEER_SERIES + 5 {
        s.peers.insert(
            format!("K{i:05}"),
            peer(&"x".repeat(MAX_LABEL_LEN * 2), PeerState::Up, 1),
        );
    }
    let text = render(&s);
    let states = text
        .lines()
        .filter(|l| l.starts_with("weft_peer_state{"))
        .count();
    assert_eq!(states, MAX_PEER_SERIES);
    assert!(text.lines().any(|l| l == "weft_peers_unlisted 5"));
    assert!(
        text.lines()
            .any(|l| l == format!("weft_peers{{state=\"up\"}} {}", MAX_PEER_SERIES + 5))
    );
    // Labels are cut at MAX_LABEL_LEN.
    assert!(text.contains(&format!("label=\"{}\"}}", "x".repeat(MAX_LABEL_LEN))));
    assert!(!text.contains(&"x".repeat(MAX_LABEL_LEN + 1)));
}

#[test]
fn endpoint_changes_count_each_new_change_time() {
    let state = State::new();
    let m = Metrics::new(state, "kubespan", crate::wg::OffloadReport::default());
    let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).expect("time");
    let mut peers = BTreeMap::new();
    let mut p = PeerStatusSpec::default();
    // Never set: no change counted.
    peers.insert("A".to_owned(), p.clone());
    m.count_changes(&peers);
    assert!(m.changes.lock().expect("lock").is_empty());
    for (t, want) in [(10, 1), (10, 1), (20, 2), (30, 3)] {
        p.last_endpoint_change = at(t);
        peers.insert("A".to_owned(), p.clone());
        m.count_changes(&peers);
        assert_eq!(m.changes.lock().expect("lock")["A"].1, want, "at {t}");
    }
    // A peer gone is forgotten.
    m.count_changes(&BTreeMap::new());
    assert!(m.changes.lock().expect("lock").is_empty());
}
