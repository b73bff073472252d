//! Base62 as Go's `github.com/jxskiss/base62` encodes it (`StdEncoding`), which Talos uses for node
//! ids. Weft must produce the same strings, and decode them the same way, because `/etc/machine-id`
//! style values are derived from the decoded bytes.
//!
//! The encoding is not a big-number base conversion. It reads the input as a bit string from the
//! end, six bits at a time; a group whose value has the `0b01_1110` bits set (30, 31, 62, 63) is
//! written as its low five bits only (30 or 31), and its sixth bit starts the next group. Decoding
//! knows a character stands for five bits when its value is 30 or 31. The last character carries
//! whatever bits remain.
//!
//! The alphabet is the library's default, `A–Z a–z 0–9` (value 0 is `A`). Talos calls
//! `base62.EncodeToString`, which uses that default; a description of it as "0-9A-Za-z" is wrong.
//! The tests decode real Talos node ids to 32 bytes and re-encode them unchanged.

/// The `StdEncoding` alphabet.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Values with these bits set (30, 31, 62, 63) are written in five bits.
const COMPACT_MASK: u8 = 0b01_1110;
const MASK5: u8 = 0b01_1111;
const MASK6: u8 = 0b11_1111;

/// A character outside the alphabet, at this byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("illegal base62 data at input byte {0}")]
pub struct Base62Error(pub usize);

/// Encodes `src`.
pub fn encode(src: &[u8]) -> String {
    let mut out = String::with_capacity(src.len() * 9 / 5 + 1);
    // Bits not yet written, counted from the start of `src`; groups are taken from the end.
    let mut pos = src.len() * 8;
    while pos > 0 {
        let mut size = 6;
        let mut b = six_bits_ending_at(src, pos);
        if b & COMPACT_MASK == COMPACT_MASK {
            // Write five bits, except when these are the last bits and fit in five anyway.
            if pos > 6 || b > MASK5 {
                size = 5;
            }
            b &= MASK5;
        }
        out.push(char::from(ALPHABET[usize::from(b)]));
        pos = pos.saturating_sub(size);
    }
    out
}

/// The six bits of `src` just before bit `pos` (bits numbered from the start, most significant bit
/// of each byte first); fewer, zero-extended, when `pos < 6`. `0 < pos <= src.len() * 8`.
fn six_bits_ending_at(src: &[u8], pos: usize) -> u8 {
    let (mut i, mut r) = (pos / 8, pos % 8);
    if r == 0 {
        i -= 1;
        r = 8;
    }
    // The top `r` bits of byte `i` are the lowest bits of the group.
    let mut b = src[i] >> (8 - r);
    if r < 6 && i > 0 {
        b |= src[i - 1] << r;
    }
    b & MASK6
}

/// Decodes `text`.
pub fn decode(text: &str) -> Result<Vec<u8>, Base62Error> {
    let bytes = text.as_bytes();
    // Bytes come out least significant (last) first.
    let mut out = Vec::with_capacity(bytes.len() * 6 / 8 + 1);
    let (mut acc, mut bits) = (0u32, 0u32);
    for (i, &c) in bytes.iter().enumerate() {
        let x = value_of(c).ok_or(Base62Error(i))?;
        acc |= u32::from(x) << bits;
        bits += if i == bytes.len() - 1 {
            // The last character holds only the bits that were left: as many as its value needs.
            u8::BITS - x.leading_zeros()
        } else if x & COMPACT_MASK == COMPACT_MASK {
            5
        } else {
            6
        };
        if bits >= 8 {
            // Truncation intended: the low eight bits are the next byte.
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
    out.reverse();
    Ok(out)
}

fn value_of(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Node ids printed by real Talos nodes (Talos documentation).
    const TALOS_NODE_IDS: [&str; 3] = [
        "Utoh3O0ZneV0kT2IUBrh7TgdouRcUW2yzaaMl4VXnCd",
        "2VfX3nu67ZtZPl57IdJrU87BMjVWkSBJiL9ulP9TCnF",
        "6EVq8RHIne03LeZiJ60WsJcoQOtttw1ejvTS6SOBzhUA",
    ];

    #[test]
    fn talos_node_ids_are_32_bytes_and_canonical() {
        for id in TALOS_NODE_IDS {
            let bytes = decode(id).expect("valid");
            assert_eq!(bytes.len(), 32, "{id}");
            assert_eq!(encode(&bytes), id);
        }
    }

    #[test]
    fn hand_worked_vectors() {
        // 0xff: the low six bits are 63 → five bits written, 31 = 'f'; three bits (7 = 'H') remain.
        assert_eq!(encode(&[0xff]), "fH");
        // 0x00: six zero bits ('A'), then the remaining two ('A').
        assert_eq!(encode(&[0x00]), "AA");
        // 0x01 0x00: from the end: 0 ('A'), 0b000100 = 4 ('E'), then 0b0000 ('A').
        assert_eq!(encode(&[0x01, 0x00]), "AEA");
        assert_eq!(encode(&[]), "");
        for (text, bytes) in [("fH", vec![0xff]), ("AA", vec![0]), ("AEA", vec![1, 0])] {
            assert_eq!(decode(text).expect("valid"), bytes);
        }
    }

    #[test]
    fn round_trips() {
        for len in 0..80 {
            for fill in [0x00u8, 0xff, 0x5a] {
                let src = vec![fill; len];
                assert_eq!(
                    decode(&encode(&src)).expect("valid"),
                    src,
                    "{len} x {fill:#x}"
                );
            }
        }
        for _ in 0..2000 {
            let mut src = [0u8; 32];
            rand::fill(&mut src);
            let text = encode(&src);
            assert!(text.bytes().all(|c| c.is_ascii_alphanumeric()));
            assert_eq!(decode(&text).expect("valid"), src);
        }
    }

    #[test]
    fn rejects_foreign_characters() {
        assert_eq!(decode("abc-def"), Err(Base62Error(3)));
        assert_eq!(
            decode("ab=").expect_err("bad").to_string(),
            "illegal base62 data at input byte 2"
        );
    }
}
