//! Self-describing message content.
//!
//! Every `content` the generator sends starts with a short ASCII header:
//!
//! ```text
//! lg2|c=12|s=5|i=123|a=130|u=7|p=9|n=24|klmnopqrstuvwxyzABCDEFGH
//! ```
//!
//! - `c`: the sending connection ([`ConnId`], the generator's global index);
//! - `s`: the sequence number per (sending connection, peer user), from 1;
//! - `i`: the intended send time, `a`: the actual send time (µs since the
//!   start of the run, the generator's monotonic clock), so delivery latency
//!   is measured from the *scheduled* time (coordinated omission);
//! - `u`: the sending user, `p`: the peer (the receiver), as server ids;
//! - `n`: how many bytes of body follow the header;
//! - then the body: `n` bytes of a 64-character alphabet, starting at an
//!   offset fixed by `c` and `s`, so that the scenario's size is reached and
//!   a receiver can check the body byte for byte without having seen the
//!   send ([`check_body`]): a truncated, padded, altered or swapped body
//!   fails.
//!
//! A receiver learns who sent what, to whom, in which order and when, from
//! the frame alone; that is what lets each connection keep O(peers) state
//! instead of a history. Content the generator did not write decodes to
//! `None` and is not judged by the content-based checks.

use super::lifecycle::ConnId;
use server::protocol::{UserId, MAX_CONTENT_BYTES};
use std::fmt::Write as _;

/// What the generator writes at the start of every message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ContentHeader {
    /// The sending connection.
    pub conn: ConnId,
    /// The sequence number per (sending connection, peer).
    pub seq: u64,
    /// When the send was scheduled (µs since the start of the run).
    pub intended_us: u64,
    /// When the content was built to be sent (µs since the start).
    pub actual_us: u64,
    /// The sending user.
    pub sender: UserId,
    /// The peer: the receiving user.
    pub peer: UserId,
}

/// The header's first bytes; the `2` is the format version.
const PREFIX: &[u8] = b"lg2|c=";

/// The longest header: six numbers at their widest, and the body length.
pub const MAX_HEADER_LEN: usize = 6 + 10 + 3 + 20 + 3 + 20 + 3 + 20 + 3 + 20 + 3 + 20 + 3 + 4 + 1;

/// The body's alphabet, three times over so that any 64-byte run of the
/// pattern is one slice.
const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
const RUNS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

/// Where the body pattern of a message starts in the alphabet.
fn body_offset(h: &ContentHeader) -> usize {
    (h.seq.wrapping_add(u64::from(h.conn.0)) % ALPHABET.len() as u64) as usize
}

/// The body's next `n` (≤ 64) bytes, `done` bytes in.
fn body_slice(offset: usize, done: usize, n: usize) -> &'static str {
    let at = (offset + done) % ALPHABET.len();
    &RUNS[at..at + n]
}

/// Encodes `header`, with a body that brings the content to `total_len`
/// bytes (clamped to at least the header's length and at most 4096).
pub fn encode(header: &ContentHeader, total_len: usize) -> String {
    let mut out = String::with_capacity(total_len.clamp(MAX_HEADER_LEN, MAX_CONTENT_BYTES));
    encode_into(header, total_len, &mut out);
    out
}

/// Like [`encode`], reusing `out`'s allocation.
pub fn encode_into(header: &ContentHeader, total_len: usize, out: &mut String) {
    out.clear();
    // Writing to a String cannot fail: its fmt::Write never returns Err.
    let _ = write!(
        out,
        "lg2|c={}|s={}|i={}|a={}|u={}|p={}|n=",
        header.conn.0, header.seq, header.intended_us, header.actual_us, header.sender, header.peer
    );
    let target = total_len.min(MAX_CONTENT_BYTES);
    // The body's length is written in the header, so its own digits count:
    // the narrowest width that fits (one byte short of the target at a
    // power of ten).
    let fixed = out.len() + 1;
    let body = (1..=4usize)
        .find_map(|d| {
            let b = target.checked_sub(fixed + d)?;
            (digits_of(b) <= d).then_some(b)
        })
        .unwrap_or(0);
    let _ = write!(out, "{body}|");
    let offset = body_offset(header);
    let mut done = 0;
    while done < body {
        let n = (body - done).min(ALPHABET.len());
        out.push_str(body_slice(offset, done, n));
        done += n;
    }
}

fn digits_of(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Decodes the header of `content`, or `None` if the generator did not write it.
///
/// Allocation-free: it walks the bytes once and stops after the header.
pub fn decode(content: &str) -> Option<ContentHeader> {
    decode_with_body(content).map(|(h, _)| h)
}

/// The header, and where the body starts and how long it says it is.
fn decode_with_body(content: &str) -> Option<(ContentHeader, (usize, u64))> {
    let bytes = content.as_bytes();
    let rest = bytes.strip_prefix(PREFIX)?;
    let (conn, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|s=")?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|i=")?;
    let (intended_us, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|a=")?;
    let (actual_us, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|u=")?;
    let (sender, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|p=")?;
    let (peer, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|n=")?;
    let (body, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|")?;
    let header = ContentHeader {
        conn: ConnId(u32::try_from(conn).ok()?),
        seq,
        intended_us,
        actual_us,
        sender,
        peer,
    };
    Some((header, (bytes.len() - rest.len(), body)))
}

/// Why a body is not what its header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The content is not as long as the header says.
    Length { expected: u64, got: u64 },
    /// The first byte that differs from the pattern.
    Byte { at: usize },
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Length { expected, got } => {
                write!(f, "a body of {got} bytes where the header says {expected}")
            }
            BodyError::Byte { at } => write!(f, "body byte {at} differs from what was sent"),
        }
    }
}

/// Checks, byte for byte, that `content` (which decoded to a header) holds
/// exactly the body the generator wrote.
pub fn check_body(content: &str) -> Result<(), BodyError> {
    let Some((header, (start, expected))) = decode_with_body(content) else {
        return Ok(());
    };
    let body = &content.as_bytes()[start..];
    if body.len() as u64 != expected {
        return Err(BodyError::Length {
            expected,
            got: body.len() as u64,
        });
    }
    let offset = body_offset(&header);
    for (i, chunk) in body.chunks(ALPHABET.len()).enumerate() {
        let want = body_slice(offset, i * ALPHABET.len(), chunk.len()).as_bytes();
        if chunk != want {
            let k = chunk
                .iter()
                .zip(want)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            return Err(BodyError::Byte {
                at: i * ALPHABET.len() + k,
            });
        }
    }
    Ok(())
}

/// A decimal `u64` at the start of `bytes` (at least one digit, no overflow).
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for b in &bytes[..digits] {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((n, &bytes[digits..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ContentHeader {
        ContentHeader {
            conn: ConnId(12),
            seq: 5,
            intended_us: 123,
            actual_us: 130,
            sender: 7,
            peer: 9,
        }
    }

    #[test]
    fn round_trip_with_a_body() {
        let text = encode(&header(), 64);
        assert_eq!(text.len(), 64);
        assert!(
            text.starts_with("lg2|c=12|s=5|i=123|a=130|u=7|p=9|n=26|rstu"),
            "{text}"
        );
        assert_eq!(decode(&text), Some(header()));
        assert_eq!(check_body(&text), Ok(()));
    }

    #[test]
    fn every_length_is_reached_or_one_short() {
        for len in 0..=MAX_CONTENT_BYTES + 10 {
            let text = encode(&header(), len);
            let min = "lg2|c=12|s=5|i=123|a=130|u=7|p=9|n=0|".len();
            let want = len.clamp(min, MAX_CONTENT_BYTES);
            assert!(
                text.len() == want || text.len() + 1 == want,
                "{len}: {}",
                text.len()
            );
            assert_eq!(check_body(&text), Ok(()), "{len}");
        }
    }

    #[test]
    fn widest_header_fits() {
        let widest = ContentHeader {
            conn: ConnId(u32::MAX),
            seq: u64::MAX,
            intended_us: u64::MAX,
            actual_us: u64::MAX,
            sender: u64::MAX,
            peer: u64::MAX,
        };
        let text = encode(&widest, 0);
        assert!(text.len() <= MAX_HEADER_LEN);
        assert_eq!(decode(&text), Some(widest));
        let long = encode(&widest, MAX_CONTENT_BYTES);
        assert_eq!(long.len(), MAX_CONTENT_BYTES);
        assert_eq!(check_body(&long), Ok(()));
    }

    #[test]
    fn a_changed_body_is_caught() {
        let text = encode(&header(), 300);
        let body_at = text.find("n=").expect("has n") + 6;
        let mut flipped = text.clone().into_bytes();
        flipped[body_at + 100] = b'!';
        let flipped = String::from_utf8(flipped).expect("ascii");
        assert!(matches!(check_body(&flipped), Err(BodyError::Byte { .. })));
        let cut = &text[..text.len() - 1];
        assert_eq!(
            check_body(cut),
            Err(BodyError::Length {
                expected: 300 - body_at as u64,
                got: 300 - body_at as u64 - 1
            })
        );
        // Another message's body (another seq) under this header.
        let other = encode(&ContentHeader { seq: 6, ..header() }, 300);
        let spliced = format!("{}{}", &text[..body_at], &other[body_at..]);
        assert!(check_body(&spliced).is_err());
    }

    #[test]
    fn garbage_is_not_judged() {
        for text in [
            "",
            "hello",
            "lg2|",
            "lg2|c=|s=1|i=1|a=1|u=1|p=1|n=0|",
            "lg2|c=1|s=1|i=1|a=1|u=1|p=1|n=0",
            "lg1|c=1|s=1|i=1|a=1|",
            "lg2|c=4294967296|s=1|i=1|a=1|u=1|p=1|n=0|",
            "lg2|c=1|s=99999999999999999999|i=1|a=1|u=1|p=1|n=0|",
            "lg2|c=1|s=-1|i=1|a=1|u=1|p=1|n=0|",
            "LG2|c=1|s=1|i=1|a=1|u=1|p=1|n=0|",
            "lg2|c=1|s=1|a=1|i=1|u=1|p=1|n=0|",
        ] {
            assert_eq!(decode(text), None, "{text:?}");
            assert_eq!(check_body(text), Ok(()), "not ours, not judged: {text:?}");
        }
    }
}
