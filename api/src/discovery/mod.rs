//! The discovery service's client-side data, pure (no I/O): what a node encrypts and publishes,
//! and how it reads what its peers published.
//!
//! - [`crypto`]: AES-256-GCM for affiliate data and the deterministic block encryption of
//!   endpoints, keyed with the cluster secret (Sidero's discovery client, byte for byte).
//! - [`affiliate`]: affiliates and endpoints ⇄ their `sidero.discovery.client` protobufs, the
//!   checks every received affiliate must pass, and sealing/opening a whole affiliate.
//! - [`owner`]: owner tokens of owned affiliates (a Weft extension).

pub mod affiliate;
pub mod crypto;
pub mod owner;

pub use affiliate::{
    AffiliateError, OpenedAffiliate, SealedAffiliate, check_affiliate, open_affiliate,
    seal_affiliate, seal_leaving,
};
pub use crypto::{Cipher, CryptoError};
