//! The STUN reflector of the real `weft-discovery` binary, on loopback: a Binding Request gets the
//! sender's own address back, on the gRPC port by default; `--stun-listen off` answers nothing;
//! non-STUN datagrams, and requests smaller than their answer (a bare 20-byte request: the
//! reflector is no traffic amplifier), get no answer and do not disturb later requests; SIGTERM
//! still stops the service cleanly.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use weft_api::stun::{self, Message};

/// How long the service may take to start (log its listeners), generous for loaded CI machines.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for an answer that must come.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait for an answer that must *not* come. Not a speed check: a missing answer
/// passes however fast the service is.
const SILENCE: Duration = Duration::from_secs(1);

/// A running `weft-discovery`, killed on drop, with the addresses its start-up line gave.
struct Service {
    child: Child,
    listen: SocketAddr,
    /// `None`: the log said `stun=off`.
    stun: Option<SocketAddr>,
    metrics: SocketAddr,
}

impl Service {
    fn start(extra: &[&str]) -> Service {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weft-discovery"))
            .args([
                "--no-snapshots",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("WEFT_DISCOVERY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn weft-discovery");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Reads the log until the start-up line; the rest is drained so the pipe never fills.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stderr).lines();
            for line in lines.by_ref().map_while(Result::ok) {
                if line.contains("weft-discovery serving") {
                    let _ = tx.send(line);
                    break;
                }
            }
            lines.for_each(drop);
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "weft-discovery did not log its listeners: {:?}",
                    child.wait()
                );
            }
        };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|word| word.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
                .to_owned()
        };
        let addr = |name: &str| -> SocketAddr {
            field(name)
                .parse()
                .unwrap_or_else(|_| panic!("{name} in {line:?}"))
        };
        let stun = (field("stun") != "off").then(|| addr("stun"));
        Service {
            listen: addr("listen"),
            metrics: addr("metrics"),
            stun,
            child,
        }
    }

    /// GET /metrics.
    fn metrics(&self) -> String {
        let mut s = std::net::TcpStream::connect(self.metrics).expect("connect metrics");
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        self.child.wait().expect("wait").code()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("client socket")
}

/// The next datagram within `timeout`, parsed; `None` when nothing comes (or the port is closed).
fn receive(socket: &UdpSocket, timeout: Duration) -> Option<Message> {
    socket.set_read_timeout(Some(timeout)).expect("timeout");
    let mut buf = [0u8; stun::MAX_MESSAGE_LEN];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    Some(stun::parse(&buf[..n]).expect("a STUN message"))
}

#[test]
fn binding_request_on_the_grpc_port_gets_the_source_address() {
    let service = Service::start(&[]);
    let stun_addr = service.stun.expect("STUN on by default");
    assert_eq!(
        stun_addr, service.listen,
        "same address and port as --listen"
    );

    let socket = client();
    let me = socket.local_addr().expect("addr");
    socket
        .send_to(&stun::binding_request(*b"first-reques"), stun_addr)
        .expect("send");
    assert_eq!(
        receive(&socket, ANSWER_TIMEOUT),
        Some(Message::BindingSuccess {
            txid: *b"first-reques",
            mapped: me
        })
    );

    // Non-STUN (a WireGuard-shaped keepalive), an indication, and a bare 20-byte request (smaller
    // than its 32-byte answer: answering it would amplify a forged source's traffic) get nothing;
    // the next request still gets its answer, and it is the first datagram to arrive.
    let mut keepalive = vec![0u8; 32];
    keepalive[0] = 4;
    socket.send_to(&keepalive, stun_addr).expect("send");
    socket
        .send_to(&stun::binding_indication(*b"an-indicatio"), stun_addr)
        .expect("send");
    let bare = [
        &[0x00, 0x01, 0x00, 0x00][..],
        &stun::MAGIC_COOKIE.to_be_bytes(),
        b"bare-request",
    ]
    .concat();
    assert!(matches!(
        stun::parse(&bare),
        Ok(Message::BindingRequest { .. })
    ));
    socket.send_to(&bare, stun_addr).expect("send");
    socket
        .send_to(&stun::binding_request(*b"second-reque"), stun_addr)
        .expect("send");
    assert_eq!(
        receive(&socket, ANSWER_TIMEOUT),
        Some(Message::BindingSuccess {
            txid: *b"second-reque",
            mapped: me
        })
    );
    assert_eq!(receive(&socket, SILENCE), None, "nothing else was answered");

    let metrics = service.metrics();
    for line in [
        "discovery_stun_requests_total 2",
        "discovery_stun_ignored_total 3",
        "discovery_stun_rate_limited_total 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "missing {line:?} in\n{metrics}"
        );
    }
    assert_eq!(service.stop(), Some(0), "clean shutdown");
}

#[test]
fn stun_listen_elsewhere() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port");
    let service = Service::start(&["--stun-listen", &port.to_string()]);
    assert_eq!(service.stun, Some(port));
    let socket = client();
    socket
        .send_to(&stun::binding_request([5; 12]), port)
        .expect("send");
    assert!(matches!(
        receive(&socket, ANSWER_TIMEOUT),
        Some(Message::BindingSuccess { txid: [5, ..], .. })
    ));
}

#[test]
fn stun_listen_off_answers_nothing() {
    let service = Service::start(&["--stun-listen", "off"]);
    assert_eq!(service.stun, None);
    let socket = client();
    socket
        .send_to(&stun::binding_request([6; 12]), service.listen)
        .expect("send");
    assert_eq!(receive(&socket, SILENCE), None);
    assert_eq!(service.stop(), Some(0));
}
