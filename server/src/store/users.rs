//! Users, API tokens, friendships and friend requests.
//!
//! Tokens are 192 random bits, URL-safe base64 (32 characters). The first 8
//! characters are a selector used for the hash lookup; the whole token is
//! then compared in constant time (`subtle`), so response timing tells an
//! attacker nothing about how much of a guessed token was right.

use super::Sharded;
use crate::protocol::{rest::ProvisionedUser, UserId};
use base64::Engine;
use rand::RngCore;
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use subtle::ConstantTimeEq;

const TOKEN_BYTES: usize = 24;
const SELECTOR_LEN: usize = 8;
/// The most users one bulk call creates (§8).
pub const MAX_BULK: u64 = 100_000;

/// One user.
#[derive(Debug)]
pub struct User {
    /// 1–32 of `A-Za-z0-9_.-`.
    pub username: Arc<str>,
    /// Friends (friendships only grow: the protocol has no unfriend).
    pub friends: BTreeSet<UserId>,
    /// Users who asked this one to be friends, not yet accepted.
    pub requests_from: BTreeSet<UserId>,
}

/// Why a user operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsersError {
    #[error("username must be 1-32 of A-Za-z0-9_.-")]
    InvalidUsername,
    #[error("username is taken")]
    UsernameTaken,
    #[error("count must be 1..=100000")]
    InvalidCount,
    #[error("no such user")]
    UnknownUser,
    #[error("a user cannot target themselves")]
    SelfTarget,
    #[error("already friends, or a request is pending")]
    Conflict,
    #[error("no such pending request")]
    NoSuchRequest,
}

type UserShard = HashMap<UserId, User>;

/// Users, tokens and the friend graph.
pub struct Users {
    users: Sharded<UserShard>,
    tokens: Sharded<HashMap<String, (UserId, String)>>,
    /// Name uniqueness; taken only by provisioning (never on the hot path).
    usernames: parking_lot::Mutex<HashMap<Arc<str>, UserId>>,
    next_id: AtomicU64,
}

fn valid_username(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn selector_key(token: &str) -> u64 {
    token
        .bytes()
        .take(SELECTOR_LEN)
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
}

/// Both users of a pair, mutably, from one or two locked shards.
fn pair_mut<'a>(
    first: &'a mut UserShard,
    second: Option<&'a mut UserShard>,
    a: UserId,
    b: UserId,
) -> Option<(&'a mut User, &'a mut User)> {
    match second {
        Some(second) => Some((first.get_mut(&a)?, second.get_mut(&b)?)),
        None if a == b => None,
        None => {
            let [ua, ub] = first.get_disjoint_mut([&a, &b]);
            Some((ua?, ub?))
        }
    }
}

impl Users {
    /// An empty store with `shards` shards.
    pub fn new(shards: usize) -> Users {
        Users {
            users: Sharded::new(shards),
            tokens: Sharded::new(shards),
            usernames: Default::default(),
            next_id: AtomicU64::new(1),
        }
    }

    /// Creates one user with a fresh token.
    pub fn create(&self, username: &str) -> Result<ProvisionedUser, UsersError> {
        if !valid_username(username) {
            return Err(UsersError::InvalidUsername);
        }
        let mut names = self.usernames.lock();
        if names.contains_key(username) {
            return Err(UsersError::UsernameTaken);
        }
        Ok(self.insert(&mut names, username))
    }

    /// Creates `count` users named `{prefix}{n}`, n counting up from 1 and
    /// skipping taken names (§8). All or nothing: names are checked first.
    pub fn create_bulk(
        &self,
        count: u64,
        prefix: &str,
    ) -> Result<Vec<ProvisionedUser>, UsersError> {
        if !(1..=MAX_BULK).contains(&count) {
            return Err(UsersError::InvalidCount);
        }
        let mut names = self.usernames.lock();
        let mut chosen = Vec::with_capacity(count as usize);
        let mut n = 1u64;
        while (chosen.len() as u64) < count {
            let name = format!("{prefix}{n}");
            if !valid_username(&name) {
                return Err(UsersError::InvalidUsername);
            }
            if !names.contains_key(name.as_str()) {
                chosen.push(name);
            }
            n += 1;
        }
        Ok(chosen
            .iter()
            .map(|name| self.insert(&mut names, name))
            .collect())
    }

    fn insert(&self, names: &mut HashMap<Arc<str>, UserId>, username: &str) -> ProvisionedUser {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let name: Arc<str> = Arc::from(username);
        let token = new_token();
        names.insert(name.clone(), id);
        self.users.lock(id).insert(
            id,
            User {
                username: name,
                friends: BTreeSet::new(),
                requests_from: BTreeSet::new(),
            },
        );
        self.tokens
            .lock(selector_key(&token))
            .insert(token[..SELECTOR_LEN].to_owned(), (id, token.clone()));
        ProvisionedUser {
            user_id: id,
            username: username.to_owned(),
            api_token: token,
        }
    }

    /// The user a token belongs to; the comparison is constant-time.
    pub fn authenticate(&self, token: &str) -> Option<UserId> {
        if token.len() < SELECTOR_LEN || !token.is_char_boundary(SELECTOR_LEN) {
            return None;
        }
        let shard = self.tokens.lock(selector_key(token));
        let (id, full) = shard.get(&token[..SELECTOR_LEN])?;
        bool::from(full.as_bytes().ct_eq(token.as_bytes())).then_some(*id)
    }

    /// Whether the user exists.
    pub fn exists(&self, id: UserId) -> bool {
        self.users.lock(id).contains_key(&id)
    }

    /// The user's name.
    pub fn username(&self, id: UserId) -> Option<Arc<str>> {
        self.users.lock(id).get(&id).map(|u| u.username.clone())
    }

    /// The user's friends, ascending (a copy: no lock outlives the call).
    pub fn friends_of(&self, id: UserId) -> Vec<UserId> {
        self.users
            .lock(id)
            .get(&id)
            .map(|u| u.friends.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Whether `a` and `b` are friends.
    pub fn are_friends(&self, a: UserId, b: UserId) -> bool {
        self.users
            .lock(a)
            .get(&a)
            .is_some_and(|u| u.friends.contains(&b))
    }

    /// Some existing user near `near` that is not `of` and not a friend of
    /// `of` (for the typing-leak fault only).
    pub fn some_stranger(&self, of: UserId, near: UserId) -> Option<UserId> {
        (1..=64u64)
            .map(|d| near.wrapping_add(d))
            .chain((1..near.min(64)).map(|d| near - d))
            .find(|c| *c != of && self.exists(*c) && !self.are_friends(of, *c))
    }

    /// Creates friendships (no events). All or nothing: an unknown id or a
    /// self pair fails before anything is created. Returns how many were new.
    pub fn add_friendships(&self, pairs: &[(UserId, UserId)]) -> Result<u64, UsersError> {
        for &(a, b) in pairs {
            if !self.exists(a) || !self.exists(b) {
                return Err(UsersError::UnknownUser);
            }
        }
        if pairs.iter().any(|(a, b)| a == b) {
            return Err(UsersError::SelfTarget);
        }
        // Users are never removed, so the checks above still hold.
        Ok(pairs
            .iter()
            .map(|&(a, b)| u64::from(self.befriend(a, b)))
            .sum())
    }

    /// Makes `a` and `b` friends; true if they were not already.
    fn befriend(&self, a: UserId, b: UserId) -> bool {
        self.users.with_two(a, b, |first, second| {
            let Some((ua, ub)) = pair_mut(first, second, a, b) else {
                return false;
            };
            ub.friends.insert(a);
            ub.requests_from.remove(&a);
            ua.requests_from.remove(&b);
            ua.friends.insert(b)
        })
    }

    /// `from` asks `to` to be friends. Returns `from`'s username for the event.
    pub fn send_request(&self, from: UserId, to: UserId) -> Result<Arc<str>, UsersError> {
        if from == to {
            return Err(UsersError::SelfTarget);
        }
        self.users.with_two(from, to, |first, second| {
            let (sender, receiver) =
                pair_mut(first, second, from, to).ok_or(UsersError::UnknownUser)?;
            if sender.friends.contains(&to)
                || receiver.requests_from.contains(&from)
                || sender.requests_from.contains(&to)
            {
                return Err(UsersError::Conflict);
            }
            receiver.requests_from.insert(from);
            Ok(sender.username.clone())
        })
    }

    /// `me` accepts `sender`'s request: they become friends. Returns `me`'s
    /// username for the event.
    pub fn accept_request(&self, me: UserId, sender: UserId) -> Result<Arc<str>, UsersError> {
        if me == sender {
            // Also keeps `pair_mut` from asking for one key twice.
            return Err(UsersError::SelfTarget);
        }
        if !self.exists(sender) {
            return Err(UsersError::NoSuchRequest);
        }
        self.users.with_two(me, sender, |first, second| {
            let (user, other) =
                pair_mut(first, second, me, sender).ok_or(UsersError::NoSuchRequest)?;
            if !user.requests_from.remove(&sender) {
                return Err(UsersError::NoSuchRequest);
            }
            user.friends.insert(sender);
            other.friends.insert(me);
            Ok(user.username.clone())
        })
    }
}
