//! A TCP relay from the root namespace's loopback to an address only reachable through a NAT
//! site's port forward (see [`crate::Lab::place_behind_nat`]).

use std::time::Duration;

/// How long a relayed API connection may sit idle before the relay drops it, so no relay thread
/// outlives its peer's namespace for long.
const RELAY_IDLE: Duration = Duration::from_secs(300);

/// A TCP relay from `127.0.0.1:<port>` in the root namespace to a NATed node's public API address
/// (see [`Lab::place_behind_nat`]): one thread accepting, two copying per connection. Stops
/// accepting on drop; open connections end when either side closes or after [`RELAY_IDLE`].
#[derive(Debug)]
pub(crate) struct ApiRelay {
    pub(crate) port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl ApiRelay {
    pub(crate) fn start(target: std::net::SocketAddr) -> ApiRelay {
        use std::net::{TcpListener, TcpStream};
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the API relay");
        let port = listener.local_addr().expect("relay address").port();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let accept = std::thread::spawn({
            let stop = std::sync::Arc::clone(&stop);
            move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(client) = client else { continue };
                    // Not reachable (yet): dropping the client fails this weftctl call; callers
                    // poll with wait_until.
                    if let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5))
                    {
                        relay(client, server);
                    }
                }
            }
        });
        ApiRelay {
            port,
            stop,
            accept: Some(accept),
        }
    }
}

/// Copies bytes both ways between `a` and `b`, each direction on its own thread, passing on a
/// half-close so TLS shutdown and EOF behave as on a direct connection.
fn relay(a: std::net::TcpStream, b: std::net::TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    for (mut from, mut to) in [(a, b2), (b, a2)] {
        let _ = from.set_read_timeout(Some(RELAY_IDLE));
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Write);
        });
    }
}

impl Drop for ApiRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wakes the blocking accept so the thread sees `stop`.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}
