//! The in-memory store: users, tokens, friendships, pending requests,
//! conversations, messages and read state.
//!
//! Everything is sharded over independent `parking_lot` mutexes (the same
//! shard count as the ConnectionManager), so REST traffic never stalls
//! WebSocket traffic behind one global lock. Each conversation has a lock of
//! its own: message ids are assigned and delivered under it (G3), and two
//! conversations never contend.
//!
//! - [`users`]: users, tokens (constant-time comparison), friendships and
//!   friend requests.
//! - [`conversations`]: the pair → conversation map, the conversations and
//!   their messages, the message → conversation index.

pub mod conversations;
pub mod users;

pub use conversations::{Conversation, Conversations, StoredMessage};
pub use users::{Users, UsersError};

use parking_lot::{Mutex, MutexGuard};

/// A power-of-two array of mutexes, chosen by a key's low bits.
pub struct Sharded<T> {
    shards: Box<[Mutex<T>]>,
    mask: usize,
}

impl<T: Default> Sharded<T> {
    /// `n` shards (rounded up to a power of two).
    pub fn new(n: usize) -> Self {
        let n = n.max(1).next_power_of_two();
        Sharded {
            shards: (0..n).map(|_| Mutex::new(T::default())).collect(),
            mask: n - 1,
        }
    }
}

impl<T> Sharded<T> {
    /// Locks the shard of `key`.
    pub fn lock(&self, key: u64) -> MutexGuard<'_, T> {
        self.shards[(key as usize) & self.mask].lock()
    }

    /// Locks the shards of `a` and `b` in ascending shard order and calls
    /// `f` with the shard of `a` and, if different, the shard of `b`.
    pub fn with_two<R>(&self, a: u64, b: u64, f: impl FnOnce(&mut T, Option<&mut T>) -> R) -> R {
        let (ia, ib) = ((a as usize) & self.mask, (b as usize) & self.mask);
        if ia == ib {
            return f(&mut self.shards[ia].lock(), None);
        }
        // Lock order: ascending shard index.
        let (mut lo, mut hi) = (
            self.shards[ia.min(ib)].lock(),
            self.shards[ia.max(ib)].lock(),
        );
        if ia < ib {
            f(&mut lo, Some(&mut hi))
        } else {
            f(&mut hi, Some(&mut lo))
        }
    }

    /// Every shard, one at a time.
    pub fn iter(&self) -> impl Iterator<Item = &Mutex<T>> {
        self.shards.iter()
    }
}
