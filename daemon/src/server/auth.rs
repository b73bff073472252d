//! Who is calling: the role in the client certificate's Organization. The TLS layer has already
//! checked that the certificate chains to the cluster CA and is within its validity.

use tonic::{Request, Status};
use weft_api::pki::{self, Role};

/// The caller's strongest role, or PermissionDenied when its certificate carries none.
pub fn role<T>(request: &Request<T>) -> Result<Role, Status> {
    let certs = request
        .peer_certs()
        .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    let leaf = certs
        .first()
        .ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    let info = pki::cert_info_der(leaf)
        .map_err(|e| Status::unauthenticated(format!("client certificate: {e}")))?;
    let roles = info.roles();
    if roles.contains(&Role::Admin) {
        Ok(Role::Admin)
    } else if roles.contains(&Role::Reader) {
        Ok(Role::Reader)
    } else {
        Err(Status::permission_denied(
            "the client certificate carries no Weft role (os:admin or os:reader in its Organization)",
        ))
    }
}

/// PermissionDenied unless the caller is `os:admin`; `what` names what was refused.
pub fn require_admin<T>(request: &Request<T>, what: &str) -> Result<(), Status> {
    match role(request)? {
        Role::Admin => Ok(()),
        other => Err(Status::permission_denied(format!(
            "{what} needs the os:admin role; this client has {other}"
        ))),
    }
}
