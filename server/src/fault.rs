//! Fault injection: deliberate protocol bugs, to show that the load
//! generator's checker catches each one (INVARIANTS.md, "The checker must be
//! shown to fail").
//!
//! Off by default. Only a named `--fault` (or `CHAT_FAULT`, or the embedded
//! server's config) turns one on, and the server logs a warning at start and
//! periodically while any is active. Each fault is one `if` at the place it
//! breaks, next to the guarantee it breaks.

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};

/// One deliberate bug.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// Send "offline" on every disconnect, even while another device stays open (breaks G1).
    OfflineOnEveryDisconnect,
    /// Skip the echo of a message to the sender's own connections (breaks G3).
    NoEcho,
    /// Deliver every message twice (breaks G3).
    DuplicateMessage,
    /// Drop one delivery in ten (breaks G3).
    DropDelivery,
    /// Swap consecutive messages of a conversation on the wire (breaks G3).
    ReorderMessages,
    /// Also send typing indicators to a non-friend (breaks G4).
    TypingLeak,
    /// Answer get_online_friends from the first snapshot taken for that user (breaks G2).
    StaleOnlineFriends,
    /// Close a bad-token socket with 1000 instead of 4008.
    BadTokenClose1000,
    /// Leave one stored message in seven out of the history (breaks G5).
    HistoryMissing,
    /// Change one byte of the content of one message in ten, stored and
    /// delivered (breaks §2: the content is the client's).
    CorruptContent,
    /// Put the sender in the WS form's `receiver_id` (breaks §3's fields).
    WrongReceiverId,
    /// Stamp messages one hour ahead, as a server on local time UTC+1 would
    /// (breaks §3: timestamps are UTC).
    SkewedTimestamp,
    /// Send no `is_typing:false` when a typer's last connection closes
    /// (breaks §1, "no typing indicator outlives its typer").
    TypingStuckOffline,
}

/// How often [`Fault::DropDelivery`] drops: one delivery in this many.
pub const DROP_ONE_IN: u64 = 10;
/// How often [`Fault::HistoryMissing`] hides: message ids divisible by this.
pub const HISTORY_MISSING_EVERY: u64 = 7;
/// Which messages [`Fault::CorruptContent`] alters: ids divisible by this.
pub const CORRUPT_EVERY: u64 = 10;

/// The active faults, checked with one bit test on the paths they touch.
#[derive(Debug, Default)]
pub struct Faults {
    bits: u32,
    drop_counter: AtomicU64,
}

impl Faults {
    /// The set of faults turned on.
    pub fn new(list: &[Fault]) -> Faults {
        let bits = list.iter().fold(0u32, |b, f| b | (1 << *f as u32));
        Faults {
            bits,
            drop_counter: AtomicU64::new(0),
        }
    }

    /// Whether `fault` is on.
    #[inline]
    pub fn on(&self, fault: Fault) -> bool {
        self.bits & (1 << fault as u32) != 0
    }

    /// Whether any fault is on.
    pub fn any(&self) -> bool {
        self.bits != 0
    }

    /// The faults that are on, by name.
    pub fn names(&self) -> Vec<String> {
        Fault::value_variants()
            .iter()
            .filter(|f| self.on(**f))
            .filter_map(|f| f.to_possible_value().map(|v| v.get_name().to_owned()))
            .collect()
    }

    /// With [`Fault::DropDelivery`]: true for one call in [`DROP_ONE_IN`].
    pub fn drop_this_delivery(&self) -> bool {
        self.on(Fault::DropDelivery)
            && self.drop_counter.fetch_add(1, Ordering::Relaxed) % DROP_ONE_IN == DROP_ONE_IN - 1
    }
}
