//! I5 means "exactly once *and intact*" (issue 12): a delivered
//! `new_message` must be the message that was sent, not only one with the
//! right header.
//!
//! For every message whose content carries the generator's header
//! ([`super::content`]), on every receiving connection:
//!
//! - the body is byte-exact: as long as the header says, and equal to the
//!   pattern fixed by the header ([`check_body`]);
//! - `sender_id` is the sending user written in the header;
//! - the WS form's `receiver_id` is the peer written in the header, and
//!   the REST form reaches only that peer (§3: "to the receiver only");
//! - the timestamp (`timestamp` for the WS form, `created_at` for the
//!   REST form) is present, well-formed (`YYYY-MM-DDTHH:MM:SS.ffffff`,
//!   §3), and, where the server's clock offset is known ([`ClockBound`]),
//!   falls between the send and the arrival of the message on the
//!   server's clock, give or take the offset's uncertainty.
//!
//! A message id that differs between deliveries of one send is caught by
//! [`super::sent::SentLog::record_accepted`] ("stored twice"); a
//! conversation id of a conversation the user is not in, by I7.

use super::content::{check_body, ContentHeader};
use super::ctx::{involve_user, CheckCtx};
use super::view::ConnView;
use super::violation::{Findings, InvariantId};
use server::protocol::NewMessage;

/// What the generator knows of the server's clock: the server's wall clock
/// minus the generator's lies in `[offset_lo_us, offset_hi_us]`, and the
/// generator's wall clock read `start_wall_us` (µs since the Unix epoch)
/// at the run's start (the checker's times are µs since then).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockBound {
    pub start_wall_us: i64,
    pub offset_lo_us: i64,
    pub offset_hi_us: i64,
}

impl ClockBound {
    /// The bound from one reading of the server's HTTP `Date` header
    /// (whole seconds, `date_us`), answered between the generator's wall
    /// times `asked_us` and `answered_us`: the server's clock read `date_us`
    /// to `date_us` + 1 s at some instant in between.
    pub fn from_date(start_wall_us: i64, date_us: i64, asked_us: i64, answered_us: i64) -> Self {
        ClockBound {
            start_wall_us,
            offset_lo_us: date_us - answered_us,
            offset_hi_us: date_us + 1_000_000 - asked_us,
        }
    }

    /// The window, on the server's clock (µs since the epoch), in which a
    /// message sent at run time `sent_us` and received at `received_us`
    /// was stamped. Widened by 0.05% of the run's length, the most that
    /// clock slewing can move the wall clock against the monotonic one.
    pub fn window(&self, sent_us: u64, received_us: u64) -> (i64, i64) {
        let slew = (received_us / 2000) as i64;
        (
            self.start_wall_us + sent_us as i64 + self.offset_lo_us - slew,
            self.start_wall_us + received_us as i64 + self.offset_hi_us + slew,
        )
    }
}

/// µs since the Unix epoch of a contract timestamp, if well-formed.
pub fn parse_timestamp(ts: &str) -> Option<i64> {
    // Exactly `2024-01-01T12:00:00.000000`: 26 bytes, no offset.
    if ts.len() != 26 {
        return None;
    }
    let t = chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%dT%H:%M:%S%.6f").ok()?;
    Some(t.and_utc().timestamp_micros())
}

impl ConnView {
    /// The intactness checks of one delivery with generator header `h`.
    pub(super) fn check_intact(
        &self,
        ctx: &dyn CheckCtx,
        at: u64,
        m: &NewMessage,
        h: ContentHeader,
        found: &mut Findings,
    ) {
        let rest_form = m.receiver_id.is_none();
        let mut wrong = Vec::new();
        if let Err(e) = check_body(&m.content) {
            wrong.push(format!("content: {e}"));
        }
        if m.sender_id != h.sender {
            wrong.push(format!(
                "sender_id {} (sent by user {})",
                m.sender_id, h.sender
            ));
        }
        match m.receiver_id {
            Some(r) if r != h.peer => {
                wrong.push(format!("receiver_id {r} (sent to user {})", h.peer))
            }
            None if self.user != h.peer => wrong.push(format!(
                "REST form on user {}'s connection (sent to user {} only)",
                self.user, h.peer
            )),
            _ => {}
        }
        let (field, ts) = if rest_form {
            ("created_at", m.created_at.as_deref())
        } else {
            ("timestamp", m.timestamp.as_deref())
        };
        match ts.map(|t| (t, parse_timestamp(t))) {
            None => wrong.push(format!("no {field}")),
            Some((t, None)) => {
                wrong.push(format!("{field} {t:?} is not YYYY-MM-DDTHH:MM:SS.ffffff"))
            }
            Some((t, Some(us))) => {
                if let Some(clock) = ctx.clock() {
                    let (lo, hi) = clock.window(h.actual_us, at);
                    if us < lo || us > hi {
                        wrong.push(format!(
                            "{field} {t} is {} ms outside the send-to-arrival window on the server's clock (offset known to [{}, {}] ms)",
                            if us < lo { (us - lo) / 1000 } else { (us - hi) / 1000 },
                            clock.offset_lo_us / 1000,
                            clock.offset_hi_us / 1000
                        ));
                    }
                }
            }
        }
        if wrong.is_empty() {
            return;
        }
        let mut v = self
            .violation(
                ctx,
                InvariantId::I5,
                at,
                format!(
                    "message {} (connection {} seq {} to user {}) arrived altered on connection {}: {}",
                    m.message_id,
                    h.conn,
                    h.seq,
                    h.peer,
                    self.conn,
                    wrong.join("; ")
                ),
            )
            .expected("the message as sent: body byte-exact, sender and receiver as sent, a well-formed timestamp between send and arrival")
            .observed(wrong.join("; "));
        involve_user(ctx, &mut v, h.sender, h.actual_us, at);
        found.push(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_only_in_the_contract_format() {
        assert_eq!(
            parse_timestamp("1970-01-01T00:00:01.000002"),
            Some(1_000_002)
        );
        for bad in [
            "1970-01-01T00:00:01.000002Z",
            "1970-01-01 00:00:01.000002",
            "1970-01-01T00:00:01.00002",
            "1970-01-01T00:00:01",
            "1970-13-01T00:00:01.000002",
            "",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_window_follows_the_offset_bound() {
        // The server's Date said 100 s while we asked at 99.5 s and got the
        // answer at 99.7 s: its clock is 0.3 s to 1.5 s ahead of ours.
        let b = ClockBound::from_date(50_000_000, 100_000_000, 99_500_000, 99_700_000);
        assert_eq!((b.offset_lo_us, b.offset_hi_us), (300_000, 1_500_000));
        let (lo, hi) = b.window(2_000_000, 2_000_000);
        assert_eq!(lo, 52_000_000 + 300_000 - 1000);
        assert_eq!(hi, 52_000_000 + 1_500_000 + 1000);
    }
}
