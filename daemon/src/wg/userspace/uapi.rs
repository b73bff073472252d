//! The standard WireGuard UAPI socket (`/var/run/wireguard/<name>.sock`, 0600), served so that
//! `wg show <name>` works on the userspace device. Bound by us rather than through gotatun's
//! `default_unix_socket`, whose accept loop can never be stopped: `remove` must close and unlink it.

use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use gotatun::device::uapi::UapiClient;
use tokio::task::JoinHandle;

use crate::wg::DataPlaneError;

/// Where `wg` looks for userspace devices' sockets (compiled into wireguard-tools).
pub const UAPI_DIR: &str = "/var/run/wireguard";

/// A UAPI client that connects and then sends nothing is dropped after this long, so a stuck
/// client cannot keep a thread forever.
const UAPI_IO_TIMEOUT: Duration = Duration::from_secs(30);

/// The UAPI socket we serve.
pub(super) struct Uapi {
    pub path: PathBuf,
    pub accept: JoinHandle<()>,
}

impl Uapi {
    /// Stops accepting and unlinks the socket. Connections already open finish on their own.
    pub fn close(self) {
        self.accept.abort();
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove the UAPI socket")
            }
        }
    }
}

/// Creates the socket directory and makes sure `<dir>/<name>.sock` is free: absent, or stale
/// (nobody accepts on it). A live socket belongs to another device of that name — in this or
/// another network namespace, the directory is global — and is not taken over.
pub(super) fn prepare_uapi_path(dir: &Path, name: &str) -> Result<PathBuf, DataPlaneError> {
    let path = dir.join(format!("{name}.sock"));
    let what = || format!("serving the UAPI socket {}", path.display());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| DataPlaneError::io(what(), e))?;
    if std::os::unix::net::UnixStream::connect(&path).is_ok() {
        return Err(DataPlaneError::refused(
            what(),
            "another process serves it (a WireGuard device of the same name)",
        ));
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(DataPlaneError::io(what(), e)),
    }
    Ok(path)
}

/// Binds the UAPI socket, readable and writable by root only (it hands out the private key).
pub(super) fn bind_uapi(path: &Path) -> Result<tokio::net::UnixListener, DataPlaneError> {
    let what = || format!("serving the UAPI socket {}", path.display());
    let listener =
        tokio::net::UnixListener::bind(path).map_err(|e| DataPlaneError::io(what(), e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| DataPlaneError::io(what(), e))?;
    Ok(listener)
}

/// Accepts UAPI connections and hands each to gotatun's protocol handler (a thread per
/// connection, ended by the client closing or by [`UAPI_IO_TIMEOUT`]).
pub(super) async fn serve_uapi(listener: tokio::net::UnixListener, client: UapiClient) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let stream = stream.into_std().and_then(|s| {
                    s.set_nonblocking(false)?;
                    s.set_read_timeout(Some(UAPI_IO_TIMEOUT))?;
                    s.set_write_timeout(Some(UAPI_IO_TIMEOUT))?;
                    Ok(s)
                });
                match stream {
                    Ok(stream) => client.clone().wrap_read_write(stream),
                    Err(e) => tracing::warn!(error = %e, "UAPI connection"),
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accepting a UAPI connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
