//! Taking several shard locks at once, always in ascending shard order.

use super::Shard;
use crate::protocol::UserId;
use parking_lot::{Mutex, MutexGuard};

/// The guards of a set of shards, taken in ascending index order so that
/// two lock sets can never wait on each other in a cycle.
pub(crate) struct LockSet<'a> {
    mask: usize,
    /// Indexed by shard; `Some` for the shards in the set.
    guards: Vec<Option<MutexGuard<'a, Shard>>>,
}

impl<'a> LockSet<'a> {
    /// Locks the shards of `users`, ascending.
    pub(crate) fn lock(
        shards: &'a [Mutex<Shard>],
        mask: usize,
        users: impl IntoIterator<Item = UserId>,
    ) -> LockSet<'a> {
        let mut wanted = vec![false; shards.len()];
        for u in users {
            wanted[(u as usize) & mask] = true;
        }
        // Lock order: ascending shard index (the iteration order here).
        let guards = wanted
            .iter()
            .zip(shards)
            .map(|(w, s)| w.then(|| s.lock()))
            .collect();
        LockSet { mask, guards }
    }

    /// The locked shard that holds `user`.
    ///
    /// Callers only ask for users whose shard they put in the set; asking for
    /// another is a bug in this module, caught by the panic message.
    pub(crate) fn shard(&mut self, user: UserId) -> &mut Shard {
        self.guards[(user as usize) & self.mask]
            .as_deref_mut()
            .expect("LockSet::shard: the user's shard is in the lock set")
    }
}
