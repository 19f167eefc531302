//! What a shard keeps so that `loadgen merge` can decide the checks whose
//! two sides live in different shards (`--shard I/N`; nothing is kept in
//! an unsplit run). See `merge::cross` for the checks and docs/scale-out.md.
//!
//! - `sends`: every message of this shard's users to a user of another
//!   shard that certainly got a `message_id` (its echo arrived), with the
//!   time it was sent (the content header's actual send time).
//! - `received`: per connection of this shard, the ids of the messages it
//!   received from users of other shards.
//! - `offline_seen`: every `offline(X)` a connection of this shard received
//!   about a user X of another shard.
//! - `lives`: every connection's lifecycle times (open, Confirmed, Closing,
//!   Closed), kept whole (the checker forgets closed ones after 2δ).
//!
//! Memory grows with cross-shard deliveries and presence events (a few
//! dozen bytes each), unlike the online checker's; it is kept only when a
//! run is split.

use super::shared::Shared;
use crate::checker::{Delivery, Noted};
use serde::{Deserialize, Serialize};
use server::protocol::{ServerEvent, Status, UserId};
use std::collections::HashMap;

/// One connection's lifecycle, µs since the common start.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LifeRecord {
    pub conn: u32,
    pub user: UserId,
    pub opened_at: u64,
    pub confirmed_at: Option<u64>,
    pub closing_at: Option<u64>,
    pub closed_at: Option<u64>,
}

/// A message sent to a user of another shard.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SendRecord {
    pub message_id: u64,
    pub sender: UserId,
    pub peer: UserId,
    pub sent_at: u64,
}

/// An `offline(about)` received by `conn` at `at`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct OfflineRecord {
    pub conn: u32,
    pub about: UserId,
    pub at: u64,
}

/// A shard's evidence for the cross-shard checks.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Evidence {
    pub sends: Vec<SendRecord>,
    pub received: HashMap<u32, Vec<u64>>,
    pub offline_seen: Vec<OfflineRecord>,
    pub lives: Vec<LifeRecord>,
    /// Ids already in `sends` (a message echoes to every device).
    #[serde(skip)]
    seen: std::collections::HashSet<u64>,
}

impl Evidence {
    /// Notes what connection `conn` learned from `event` at `now`.
    pub fn observe(
        &mut self,
        shared: &Shared,
        conn: u32,
        now: u64,
        event: &ServerEvent,
        noted: &Noted,
    ) {
        let remote = |u: UserId| shared.index(u).is_some_and(|i| !shared.shard.owns(i));
        match (event, noted) {
            (ServerEvent::NewMessage(_), Noted::Message(d)) => self.message(conn, d, &remote),
            (
                ServerEvent::FriendStatusChange {
                    user_id,
                    status: Status::Offline,
                },
                _,
            ) if remote(*user_id) => self.offline_seen.push(OfflineRecord {
                conn,
                about: *user_id,
                at: now,
            }),
            _ => {}
        }
    }

    fn message(&mut self, conn: u32, d: &Delivery, remote: &dyn Fn(UserId) -> bool) {
        if remote(d.sender_id) {
            self.received.entry(conn).or_default().push(d.message_id);
        } else if remote(d.peer) && d.sender_id != d.peer {
            if let Some(h) = d.header {
                if self.seen.insert(d.message_id) {
                    self.sends.push(SendRecord {
                        message_id: d.message_id,
                        sender: d.sender_id,
                        peer: d.peer,
                        sent_at: h.actual_us,
                    });
                }
            }
        }
    }

    /// Keeps the lifecycle of a connection that will not change any more
    /// (or of one still open at the end).
    pub fn life(&mut self, shared: &Shared, slot: &super::conn::ConnSlot) {
        let l = *slot.life.lock();
        self.lives.push(LifeRecord {
            conn: slot.id,
            user: shared.users[slot.user as usize].id,
            opened_at: l.opened_at,
            confirmed_at: l.confirmed_at,
            closing_at: l.closing_at,
            closed_at: l.closed_at,
        });
    }
}
