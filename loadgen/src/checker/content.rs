//! Self-describing message content.
//!
//! Every `content` the generator sends starts with a short ASCII header:
//!
//! ```text
//! lg1|c=12|s=5|i=123|a=130|xxxxxxxx...
//! ```
//!
//! - `c`: the sending connection ([`ConnId`], the generator's global index);
//! - `s`: the sequence number per (sending connection, peer user), from 1;
//! - `i`: the intended send time, `a`: the actual send time (µs since the
//!   start of the run, the generator's monotonic clock), so delivery latency
//!   is measured from the *scheduled* time (coordinated omission);
//! - then `x` padding up to the scenario's size (at most 4096 bytes, the
//!   contract's limit).
//!
//! A receiver learns who sent what, in which order and when, from the frame
//! alone; that is what lets each connection keep O(peers) state instead of a
//! history. Content the generator did not write decodes to `None` and is
//! not judged by the content-based checks.

use super::lifecycle::ConnId;
use server::protocol::MAX_CONTENT_BYTES;
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
    /// When it was actually written to the socket (µs since the start).
    pub actual_us: u64,
}

/// The header's first bytes; the `1` is the format version.
const PREFIX: &[u8] = b"lg1|c=";

/// The longest header: four numbers at their widest.
pub const MAX_HEADER_LEN: usize = 6 + 10 + 3 + 20 + 3 + 20 + 3 + 20 + 1;

/// Encodes `header`, padded with `x` to `total_len` bytes (clamped to at
/// least the header's length and at most 4096).
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
        "lg1|c={}|s={}|i={}|a={}|",
        header.conn.0, header.seq, header.intended_us, header.actual_us
    );
    let target = total_len.clamp(out.len(), MAX_CONTENT_BYTES.max(out.len()));
    // Padding in slices of one static run, not char by char.
    const RUN: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    while out.len() < target {
        let n = (target - out.len()).min(RUN.len());
        out.push_str(&RUN[..n]);
    }
}

/// Decodes the header of `content`, or `None` if the generator did not write it.
///
/// Allocation-free: it walks the bytes once and stops after the header.
pub fn decode(content: &str) -> Option<ContentHeader> {
    let rest = content.as_bytes().strip_prefix(PREFIX)?;
    let (conn, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|s=")?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|i=")?;
    let (intended_us, rest) = number(rest)?;
    let rest = rest.strip_prefix(b"|a=")?;
    let (actual_us, rest) = number(rest)?;
    rest.strip_prefix(b"|")?;
    Some(ContentHeader {
        conn: ConnId(u32::try_from(conn).ok()?),
        seq,
        intended_us,
        actual_us,
    })
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
        }
    }

    #[test]
    fn round_trip_with_padding() {
        let text = encode(&header(), 64);
        assert_eq!(text.len(), 64);
        assert!(text.starts_with("lg1|c=12|s=5|i=123|a=130|x"));
        assert_eq!(decode(&text), Some(header()));
    }

    #[test]
    fn length_is_clamped() {
        let short = encode(&header(), 0);
        assert_eq!(short, "lg1|c=12|s=5|i=123|a=130|");
        assert_eq!(decode(&short), Some(header()));
        assert_eq!(encode(&header(), 1_000_000).len(), MAX_CONTENT_BYTES);
        let widest = ContentHeader {
            conn: ConnId(u32::MAX),
            seq: u64::MAX,
            intended_us: u64::MAX,
            actual_us: u64::MAX,
        };
        let text = encode(&widest, 0);
        assert_eq!(text.len(), MAX_HEADER_LEN);
        assert_eq!(decode(&text), Some(widest));
    }

    #[test]
    fn garbage_is_not_judged() {
        for text in [
            "",
            "hello",
            "lg1|",
            "lg1|c=|s=1|i=1|a=1|",
            "lg1|c=1|s=1|i=1|a=1",
            "lg2|c=1|s=1|i=1|a=1|",
            "lg1|c=4294967296|s=1|i=1|a=1|",
            "lg1|c=1|s=99999999999999999999|i=1|a=1|",
            "lg1|c=1|s=-1|i=1|a=1|",
            "LG1|c=1|s=1|i=1|a=1|",
            "lg1|c=1|s=1|a=1|i=1|",
        ] {
            assert_eq!(decode(text), None, "{text:?}");
        }
    }
}
