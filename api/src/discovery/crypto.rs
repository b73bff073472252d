//! The discovery service's encryption (Sidero's discovery client, byte for byte): everything a node
//! publishes is encrypted under the cluster secret, so the service stores only opaque blobs.
//!
//! ```text
//! affiliate data:  nonce (12 random bytes) ‖ AES-256-GCM(key, nonce, protobuf(Affiliate))  (no AAD;
//!                  the 16-byte tag ends the ciphertext)
//! endpoint:        AES-256 of each 16-byte block, independently (ECB), of
//!                  [len(pb)] ‖ pb ‖ zero padding to a multiple of 16,  pb = protobuf(Endpoint)
//!                  IPv4: 11 bytes → 1 block (16 B);  IPv6: 23 bytes → 2 blocks (32 B)
//! ```
//!
//! Endpoints are deterministic on purpose: the service deduplicates endpoint blobs byte for byte,
//! so the same endpoint announced twice (by its owner and by a peer that harvested it) must encrypt
//! the same. That leaks which affiliates share an endpoint to the service, which Sidero accepts.

use std::fmt;
use std::net::SocketAddr;

use aes::Aes256;
use aes::cipher::{Array, BlockCipherDecrypt as _, BlockCipherEncrypt as _};
use aes_gcm::aead::Aead as _;
use aes_gcm::{Aes256Gcm, KeyInit as _, Nonce};
use prost::Message as _;

use super::affiliate::{AffiliateError, endpoint_from_proto, endpoint_to_proto};
use crate::config::CLUSTER_SECRET_LEN;
use crate::config::validate::ClusterSecret;
use crate::proto::discovery::client;

/// Length of the random nonce in front of the affiliate data.
pub const NONCE_LEN: usize = 12;
/// Length of the GCM authentication tag at the end of the affiliate data.
pub const TAG_LEN: usize = 16;
/// AES block size: endpoint blobs are whole blocks.
pub const BLOCK_LEN: usize = 16;
/// Largest affiliate data blob the discovery service stores (Sidero's limit).
pub const MAX_DATA_LEN: usize = 2048;
/// Largest endpoint blob the discovery service stores (Sidero's limit: two blocks, an IPv6
/// endpoint).
pub const MAX_ENDPOINT_BLOB_LEN: usize = 32;
/// Most affiliates of one cluster the discovery service keeps (Sidero's limit).
pub const MAX_CLUSTER_AFFILIATES: usize = 1024;
/// Most endpoints one affiliate carries at the service (Sidero's limit).
pub const MAX_AFFILIATE_ENDPOINTS: usize = 64;
/// Largest legal watch message (or List reply): every affiliate of the largest cluster with the
/// largest data and every endpoint, plus generous protobuf framing (an id up to 256 bytes and
/// field headers per affiliate). About 4.6 MiB, over tonic's default 4 MiB decode limit, so both
/// sides set their limits from this: a full cluster must never make a node unable to watch.
pub const MAX_WATCH_MESSAGE_LEN: usize = MAX_CLUSTER_AFFILIATES
    * (MAX_DATA_LEN + MAX_AFFILIATE_ENDPOINTS * (MAX_ENDPOINT_BLOB_LEN + 4) + 512)
    + 1024;

/// Why a blob could not be encrypted or decrypted. Never carries key material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("affiliate data is {0} bytes, shorter than nonce and tag ({NONCE_LEN} + {TAG_LEN})")]
    DataTooShort(usize),
    #[error("affiliate data is {len} bytes, more than the {max} the discovery service stores")]
    DataTooLong { len: usize, max: usize },
    #[error(
        "affiliate data does not decrypt under the cluster secret (another cluster, or corrupted)"
    )]
    Decrypt,
    #[error("endpoint blob is {0} bytes, expected 16 or 32")]
    EndpointLength(usize),
    #[error("endpoint plaintext length byte {0} does not fit its blob")]
    EndpointFraming(u8),
    #[error("encrypting affiliate data failed")]
    Encrypt,
}

/// The cluster's discovery cipher: AES-256 keyed with the decoded cluster secret. `Debug` never
/// shows the key.
#[derive(Clone)]
pub struct Cipher {
    gcm: Aes256Gcm,
    block: Aes256,
    /// The secret itself, for owner tokens (`super::owner`).
    key: [u8; CLUSTER_SECRET_LEN],
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

impl Cipher {
    /// The cipher of the cluster whose secret is `secret`.
    pub fn new(secret: &ClusterSecret) -> Cipher {
        Cipher::from_key(secret.bytes())
    }

    /// The cipher for a raw 32-byte key.
    pub fn from_key(key: &[u8; CLUSTER_SECRET_LEN]) -> Cipher {
        Cipher {
            gcm: Aes256Gcm::new(&Array::from(*key)),
            block: Aes256::new(&Array::from(*key)),
            key: *key,
        }
    }

    /// The owner token this cluster's nodes send with `affiliate_id` (see [`super::owner`]).
    pub fn owner_token(
        &self,
        cluster_id: &str,
        affiliate_id: &str,
    ) -> [u8; super::owner::OWNER_TOKEN_LEN] {
        super::owner::owner_token(&self.key, cluster_id, affiliate_id)
    }

    /// Encrypts affiliate data with a fresh random nonce.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        self.seal_with_nonce(nonce, plaintext)
    }

    /// Encrypts with a chosen nonce (tests use fixed ones; a nonce must never repeat under a key).
    fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let sealed = self
            .gcm
            .encrypt(&Nonce::from(nonce), plaintext)
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Decrypts affiliate data: refuses blobs too short to hold a nonce and a tag, longer than the
    /// service's limit, or that fail authentication.
    pub fn open(&self, blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::DataTooShort(blob.len()));
        }
        if blob.len() > MAX_DATA_LEN {
            return Err(CryptoError::DataTooLong {
                len: blob.len(),
                max: MAX_DATA_LEN,
            });
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
        self.gcm
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Encrypts one endpoint (see the module doc).
    pub fn seal_endpoint(&self, endpoint: SocketAddr) -> Vec<u8> {
        let pb = endpoint_to_proto(endpoint).encode_to_vec();
        // At most 2 + 16 + 1 + 3 = 22 bytes, so the length fits its byte.
        let mut plain = Vec::with_capacity(MAX_ENDPOINT_BLOB_LEN);
        plain.push(pb.len() as u8);
        plain.extend_from_slice(&pb);
        plain.resize(plain.len().div_ceil(BLOCK_LEN) * BLOCK_LEN, 0);
        for block in plain.chunks_exact_mut(BLOCK_LEN) {
            // `chunks_exact` yields whole blocks, so the conversion cannot fail.
            let mut b = Array::try_from(&*block).unwrap_or_default();
            self.block.encrypt_block(&mut b);
            block.copy_from_slice(&b);
        }
        plain
    }

    /// Decrypts one endpoint blob and checks what it holds.
    pub fn open_endpoint(&self, blob: &[u8]) -> Result<SocketAddr, AffiliateError> {
        if blob.is_empty()
            || !blob.len().is_multiple_of(BLOCK_LEN)
            || blob.len() > MAX_ENDPOINT_BLOB_LEN
        {
            return Err(CryptoError::EndpointLength(blob.len()).into());
        }
        let mut plain = blob.to_vec();
        for block in plain.chunks_exact_mut(BLOCK_LEN) {
            let mut b = Array::try_from(&*block).unwrap_or_default();
            self.block.decrypt_block(&mut b);
            block.copy_from_slice(&b);
        }
        let len = plain[0];
        let pb = plain
            .get(1..1 + usize::from(len))
            .ok_or(CryptoError::EndpointFraming(len))?;
        let endpoint = client::Endpoint::decode(pb).map_err(|_| AffiliateError::Protobuf)?;
        endpoint_from_proto(&endpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    /// 00 01 02 … 1f, FIPS-197's AES-256 key.
    fn counting_key() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    fn raw_aes_decrypt(key: &[u8; 32], blocks: &[u8]) -> Vec<u8> {
        let aes = Aes256::new(&Array::from(*key));
        let mut out = blocks.to_vec();
        for block in out.chunks_exact_mut(16) {
            let mut b = Array::try_from(&*block).expect("16 bytes");
            aes.decrypt_block(&mut b);
            block.copy_from_slice(&b);
        }
        out
    }

    fn raw_aes_encrypt_block(key: &[u8; 32], block: &[u8]) -> Vec<u8> {
        let aes = Aes256::new(&Array::from(*key));
        let mut b = Array::try_from(block).expect("16 bytes");
        aes.encrypt_block(&mut b);
        b.to_vec()
    }

    /// The block cipher is plain AES-256 (FIPS-197 appendix C.3).
    #[test]
    fn fips_197_aes_256() {
        let ct = raw_aes_encrypt_block(&counting_key(), &hex("00112233445566778899aabbccddeeff"));
        assert_eq!(ct, hex("8ea2b7ca516745bfeafc49904b496089"));
    }

    /// GCM as NIST specifies it (McGrew–Viega test case 14: zero key, zero IV, one zero block),
    /// laid out nonce ‖ ciphertext ‖ tag.
    #[test]
    fn gcm_known_answer_and_layout() {
        let cipher = Cipher::from_key(&[0u8; 32]);
        let blob = cipher
            .seal_with_nonce([0u8; NONCE_LEN], &[0u8; 16])
            .expect("seal");
        assert_eq!(
            blob,
            [
                vec![0u8; 12],
                hex("cea7403d4d606b6e074ec5d3baf39d18"),
                hex("d0d1c8a799996bf0265b98b5d48ab919"),
            ]
            .concat()
        );
        assert_eq!(cipher.open(&blob).expect("open"), vec![0u8; 16]);
    }

    #[test]
    fn data_round_trip_with_random_nonces() {
        let cipher = Cipher::from_key(&counting_key());
        let a = cipher.seal(b"affiliate").expect("seal");
        let b = cipher.seal(b"affiliate").expect("seal");
        assert_ne!(a, b, "a fresh nonce each time");
        assert_eq!(a.len(), NONCE_LEN + 9 + TAG_LEN);
        assert_eq!(cipher.open(&a).expect("open"), b"affiliate");
        assert_eq!(cipher.open(&b).expect("open"), b"affiliate");
    }

    #[test]
    fn data_failures_are_errors() {
        let cipher = Cipher::from_key(&counting_key());
        let other = Cipher::from_key(&[9u8; 32]);
        let blob = cipher.seal(b"affiliate").expect("seal");
        assert_eq!(other.open(&blob), Err(CryptoError::Decrypt));
        let mut flipped = blob.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(cipher.open(&flipped), Err(CryptoError::Decrypt));
        for short in [0, 1, NONCE_LEN, NONCE_LEN + TAG_LEN - 1] {
            assert_eq!(
                cipher.open(&blob[..short.min(blob.len())]),
                Err(CryptoError::DataTooShort(short))
            );
        }
        // Nonce and tag alone: an empty plaintext, valid only if it authenticates.
        let empty = cipher.seal(b"").expect("seal");
        assert_eq!(empty.len(), NONCE_LEN + TAG_LEN);
        assert_eq!(cipher.open(&empty).expect("open"), b"");
        let huge = vec![0u8; MAX_DATA_LEN + 1];
        assert_eq!(
            cipher.open(&huge),
            Err(CryptoError::DataTooLong {
                len: MAX_DATA_LEN + 1,
                max: MAX_DATA_LEN
            })
        );
    }

    /// 10.5.0.2:51820 as Sidero's client encrypts it, plaintext written out by hand:
    /// protobuf `Endpoint{ip: 0a050002, port: 51820}` = `0a 04 0a 05 00 02` (field 1, 4 bytes)
    /// `10 ec 94 03` (field 2, varint 51820), 10 bytes; with its length byte and zero padding, one
    /// block.
    #[test]
    fn ipv4_endpoint_blocks_by_hand() {
        let key = counting_key();
        let cipher = Cipher::from_key(&key);
        let blob = cipher.seal_endpoint("10.5.0.2:51820".parse().expect("ep"));
        let plain = hex("0a 0a040a050002 10ec9403 0000000000");
        assert_eq!(plain.len(), 16);
        assert_eq!(blob.len(), 16);
        assert_eq!(raw_aes_decrypt(&key, &blob), plain);
        assert_eq!(blob, raw_aes_encrypt_block(&key, &plain));
        assert_eq!(
            cipher.open_endpoint(&blob).expect("open"),
            "10.5.0.2:51820".parse::<SocketAddr>().expect("ep")
        );
    }

    /// [2001:db8::3]:443: `0a 10 <16 address bytes>` `10 bb 03` (varint 443) = 21 bytes, plus the
    /// length byte = 22, padded to two blocks, each encrypted on its own (ECB).
    #[test]
    fn ipv6_endpoint_blocks_by_hand() {
        let key = counting_key();
        let cipher = Cipher::from_key(&key);
        let blob = cipher.seal_endpoint("[2001:db8::3]:443".parse().expect("ep"));
        let plain = hex("15 0a10 20010db8000000000000000000000003 10bb03 00000000000000000000");
        assert_eq!(plain.len(), 32);
        assert_eq!(blob.len(), 32);
        assert_eq!(raw_aes_decrypt(&key, &blob), plain);
        assert_eq!(blob[..16], raw_aes_encrypt_block(&key, &plain[..16])[..]);
        assert_eq!(blob[16..], raw_aes_encrypt_block(&key, &plain[16..])[..]);
        assert_eq!(
            cipher.open_endpoint(&blob).expect("open"),
            "[2001:db8::3]:443".parse::<SocketAddr>().expect("ep")
        );
        // Deterministic: the service deduplicates by bytes.
        assert_eq!(
            blob,
            cipher.seal_endpoint("[2001:db8::3]:443".parse().expect("ep"))
        );
    }

    #[test]
    fn bad_endpoint_blobs_are_errors() {
        let key = counting_key();
        let cipher = Cipher::from_key(&key);
        let good = cipher.seal_endpoint("10.5.0.2:51820".parse().expect("ep"));
        for len in [0, 15, 17, 48] {
            let blob = vec![0u8; len];
            assert_eq!(
                cipher.open_endpoint(&blob),
                Err(CryptoError::EndpointLength(len).into())
            );
        }
        // Under another key the length byte and protobuf are garbage.
        assert!(Cipher::from_key(&[1u8; 32]).open_endpoint(&good).is_err());
        // A length byte that overruns the blob.
        let enc = |plain: &[u8]| {
            let aes = Aes256::new(&Array::from(key));
            let mut b = Array::try_from(plain).expect("16");
            aes.encrypt_block(&mut b);
            b.to_vec()
        };
        let overrun = enc(&hex("20 0a040a050002 10ec9403 0000000000"));
        assert_eq!(
            cipher.open_endpoint(&overrun),
            Err(CryptoError::EndpointFraming(0x20).into())
        );
        // Well framed, but port 0 and a 3-byte address are refused.
        let port0 = enc(&hex("06 0a040a050002 000000000000000000"));
        assert_eq!(
            cipher.open_endpoint(&port0),
            Err(AffiliateError::EndpointPort(0))
        );
        let short_ip = enc(&hex("09 0a030a0500 10ec9403 000000000000"));
        assert_eq!(
            cipher.open_endpoint(&short_ip),
            Err(AffiliateError::AddressLength {
                field: "endpoint",
                len: 3
            })
        );
    }
}
