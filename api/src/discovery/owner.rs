//! Owned affiliates (a Weft extension of the discovery API, wire-compatible): the proof a node
//! sends with its own affiliate so that nobody who lacks the cluster secret can overwrite or delete
//! that affiliate.
//!
//! ```text
//! token      = HMAC-SHA256(key = cluster secret, "weft-affiliate-owner-v1" ‖ 0 ‖ cluster id ‖ 0 ‖ affiliate id)
//! on the wire: AffiliateUpdateRequest.owner_token / AffiliateDeleteRequest.owner_token (field 1000)
//! server     : keeps SHA-256(token) with the affiliate. The first update that carries a token binds
//!              it (first writer binds); from then on an update that changes the data, or a delete,
//!              must carry a token with the same hash. Endpoint-only updates without a token (a
//!              peer publishing endpoints it harvested, as Talos does) are still merged. Affiliates
//!              never given a token (Talos clients, which do not know the field) behave exactly as in
//!              Sidero's service.
//! ```
//!
//! Why HMAC of the cluster secret: the threat is anyone who knows the cluster id — it travels in
//! clear on an h2c link and in every request — but not the secret, which never leaves the nodes.
//! The server learns only a hash, so a snapshot or a dump of it yields no token. Insiders holding the
//! cluster secret can compute every node's token; what they can do is bounded by the receivers'
//! checks instead (see the README's security section). Binding lasts as long as the affiliate: when
//! it expires (TTL) the binding goes with it.

use hmac::{KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};

use crate::config::CLUSTER_SECRET_LEN;

/// Length of an owner token and of its hash.
pub const OWNER_TOKEN_LEN: usize = 32;

/// Domain separation: these bytes key nothing else.
const CONTEXT: &[u8] = b"weft-affiliate-owner-v1";

/// The owner token of `affiliate_id` in `cluster_id` (see the module doc).
pub fn owner_token(
    secret: &[u8; CLUSTER_SECRET_LEN],
    cluster_id: &str,
    affiliate_id: &str,
) -> [u8; OWNER_TOKEN_LEN] {
    let mut mac =
        hmac::Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(CONTEXT);
    mac.update(&[0]);
    mac.update(cluster_id.as_bytes());
    mac.update(&[0]);
    mac.update(affiliate_id.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What the server keeps of a token: its SHA-256.
pub fn owner_token_hash(token: &[u8]) -> [u8; OWNER_TOKEN_LEN] {
    Sha256::digest(token).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_bind_secret_cluster_and_affiliate() {
        let a = owner_token(&[1; 32], "cluster", "node-a");
        assert_eq!(
            a,
            owner_token(&[1; 32], "cluster", "node-a"),
            "deterministic"
        );
        assert_ne!(a, owner_token(&[2; 32], "cluster", "node-a"), "secret");
        assert_ne!(a, owner_token(&[1; 32], "cluster2", "node-a"), "cluster");
        assert_ne!(a, owner_token(&[1; 32], "cluster", "node-b"), "affiliate");
        // The separator keeps ("ab", "c") and ("a", "bc") apart.
        assert_ne!(
            owner_token(&[1; 32], "ab", "c"),
            owner_token(&[1; 32], "a", "bc")
        );
        assert_ne!(
            owner_token_hash(&a),
            a,
            "the server keeps a hash, not the token"
        );
        assert_eq!(owner_token_hash(&a), owner_token_hash(&a));
    }
}
