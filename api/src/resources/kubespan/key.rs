//! WireGuard (Curve25519) keys as WireGuard tools write them: 32 bytes in standard base64, 44
//! characters.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use x25519_dalek::{PublicKey, StaticSecret};

/// Length of a WireGuard key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of a WireGuard key in standard base64.
pub const KEY_BASE64_LEN: usize = 44;

/// Why a key was refused. Never carries the key itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("empty key")]
    Empty,
    #[error("not standard base64")]
    NotBase64,
    #[error("decodes to {0} bytes, a WireGuard key has {KEY_LEN}")]
    WrongLength(usize),
    #[error("all-zero key")]
    AllZero,
}

/// A new private key, clamped the way `wg genkey` (and Go's `wgtypes.GeneratePrivateKey`, which
/// Talos uses) clamps it, so the stored bytes are exactly what the curve uses.
pub fn generate_private_key() -> String {
    STANDARD.encode(random_clamped())
}

/// The public key of a base64 private key.
pub fn public_key_from_private(private_key: &str) -> Result<String, KeyError> {
    let secret = StaticSecret::from(decode_key(private_key)?);
    Ok(STANDARD.encode(PublicKey::from(&secret).as_bytes()))
}

/// A new key pair: `(private, public)`, both base64.
pub fn generate_key_pair() -> (String, String) {
    let bytes = random_clamped();
    let public = PublicKey::from(&StaticSecret::from(bytes));
    (STANDARD.encode(bytes), STANDARD.encode(public.as_bytes()))
}

/// Decodes a base64 key, refusing anything that is not 32 bytes or is all zero (an all-zero key is
/// what an unset Go key field holds, never a real key).
pub fn decode_key(key: &str) -> Result<[u8; KEY_LEN], KeyError> {
    if key.is_empty() {
        return Err(KeyError::Empty);
    }
    let decoded = STANDARD.decode(key).map_err(|_| KeyError::NotBase64)?;
    let bytes: [u8; KEY_LEN] = decoded
        .as_slice()
        .try_into()
        .map_err(|_| KeyError::WrongLength(decoded.len()))?;
    if bytes == [0u8; KEY_LEN] {
        return Err(KeyError::AllZero);
    }
    Ok(bytes)
}

/// 32 random bytes with RFC 7748 clamping: the three low bits and the top bit cleared, the
/// second-highest bit set.
fn random_clamped() -> [u8; KEY_LEN] {
    let mut bytes = [0u8; KEY_LEN];
    rand::fill(&mut bytes);
    bytes[0] &= 248;
    bytes[31] = (bytes[31] & 127) | 64;
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn rfc7748_section_6_1_vectors() {
        // Alice's and Bob's key pairs from RFC 7748 §6.1.
        for (private, public) in [
            (
                "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
                "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
            ),
            (
                "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
                "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
            ),
        ] {
            let derived = public_key_from_private(&STANDARD.encode(hex(private))).expect("valid");
            assert_eq!(STANDARD.decode(derived).expect("b64"), hex(public));
        }
    }

    #[test]
    fn talos_example_pair() {
        // The pair in Talos's example `kubespan-identity.yaml`.
        assert_eq!(
            public_key_from_private("sF45u5ePau58WeeCUY3T8D9foEKaQ8Opx4cGC8g4XE4=").expect("valid"),
            "Oak2fBEWngBhwslBxDVgnRNHXs88OAp4kjroSX0uqUE="
        );
    }

    #[test]
    fn generated_keys_are_wireguard_shaped() {
        let (private, public) = generate_key_pair();
        assert_eq!(private.len(), KEY_BASE64_LEN);
        assert_eq!(public.len(), KEY_BASE64_LEN);
        assert_eq!(public_key_from_private(&private).expect("valid"), public);
        let bytes = decode_key(&private).expect("valid");
        assert_eq!(bytes[0] & 7, 0);
        assert_eq!(bytes[31] & 0xc0, 0x40);
        assert_ne!(generate_private_key(), private);
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        let zero = STANDARD.encode([0u8; KEY_LEN]);
        let short = STANDARD.encode([1u8; 16]);
        for (key, err) in [
            ("", KeyError::Empty),
            ("not base64!", KeyError::NotBase64),
            (short.as_str(), KeyError::WrongLength(16)),
            (zero.as_str(), KeyError::AllZero),
        ] {
            let got = public_key_from_private(key).expect_err("refused");
            assert_eq!(got, err);
            if !key.is_empty() {
                assert!(!got.to_string().contains(key));
            }
        }
    }
}
