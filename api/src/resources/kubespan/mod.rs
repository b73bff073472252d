//! KubeSpan resources (namespace `kubespan`).
//!
//! - [`identity`]: the node's WireGuard key pair and KubeSpan address, and its file.
//! - [`address`]: the KubeSpan ULA subnet and address (Talos's exact layout).
//! - [`key`]: WireGuard key generation and checks.
//! - [`peer_spec`]: the peers WireGuard should have (desired).
//! - [`peer_status`]: what WireGuard reports about them (observed).
//! - [`endpoint`]: endpoints harvested from peers that are up.

pub mod address;
pub mod endpoint;
pub mod identity;
pub mod key;
pub mod nat;
pub mod peer_spec;
pub mod peer_status;

pub use address::{kubespan_address, ula_prefix};
pub use endpoint::EndpointSpec;
pub use identity::{IdentityFile, IdentitySpec};
pub use key::{KeyError, generate_private_key, public_key_from_private};
pub use nat::NatStatusSpec;
pub use peer_spec::PeerSpec;
pub use peer_status::{PeerState, PeerStatusSpec};
