//! Who takes part: users, their devices and their friend graph, generated
//! from the plan's seed, or read from a `--population` file.
//!
//! Everything random here comes from [`schedule_rng`]: a ChaCha8 generator
//! seeded with the run's seed, on a stream chosen by (user, purpose). So the
//! same seed gives the same users, graph and action schedule, and a user's
//! schedule does not change when another user's does (each has its own
//! stream). Population-wide draws use the reserved user index
//! [`POPULATION`].
//!
//! Friend graphs: *uniform* is a random graph with every degree `k` (the
//! configuration model, leftover stubs placed by edge swaps); *power law* is
//! a Chung–Lu graph whose expected degrees are the quantiles of a Pareto
//! distribution, so with thousands of users a few of them have thousands of
//! friends (see `graph.rs`).
//!
//! - `graph.rs`: the two graph generators.
//! - `external.rs`: the `--population FILE` format ([`External`]).

mod external;
mod graph;
#[cfg(test)]
mod tests;

pub use external::{External, ExternalUser, PopulationError};

use crate::scenario::{Friends, Plan};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

/// The user index of population-wide random streams (no real user has it).
pub const POPULATION: u32 = u32::MAX;

/// Stream numbers for [`schedule_rng`]: one per purpose, so that adding a
/// draw to one behaviour leaves every other behaviour's schedule unchanged.
/// Numbers from 16 up are free for the driver.
pub mod stream {
    /// The friend graph (with [`super::POPULATION`]).
    pub const GRAPH: u32 = 0;
    /// Connections per user (with [`super::POPULATION`]).
    pub const CONNECTIONS: u32 = 1;
    /// Which connections are slow consumers (with [`super::POPULATION`]).
    pub const SLOW: u32 = 2;
    /// A user's WS send_message schedule.
    pub const SEND: u32 = 3;
    /// A user's typing schedule (both kinds).
    pub const TYPING: u32 = 4;
    /// A user's mark_read draws.
    pub const MARK_READ: u32 = 5;
    /// A user's get_online_friends schedule.
    pub const ONLINE_FRIENDS: u32 = 6;
    /// A user's device churn schedule.
    pub const CHURN: u32 = 7;
    /// A user's REST schedule.
    pub const REST: u32 = 8;
    /// A user's friend requests.
    pub const FRIEND_REQUEST: u32 = 9;
    /// Content sizes and padding.
    pub const CONTENT: u32 = 10;
    /// Bad-token connections (with [`super::POPULATION`]).
    pub const BAD_TOKENS: u32 = 11;
}

/// A deterministic generator for (seed, user, purpose): ChaCha8 seeded with
/// `seed`, on stream `user_index << 32 | stream`.
pub fn schedule_rng(seed: u64, user_index: u32, stream: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream((u64::from(user_index) << 32) | u64::from(stream));
    rng
}

/// Open-model intended send times: a Poisson process of `rate_per_s`
/// events per second, as offsets from the start, ending before `duration`.
pub fn arrivals<R: Rng>(rng: R, rate_per_s: f64, duration: Duration) -> Arrivals<R> {
    Arrivals {
        rng,
        rate: if rate_per_s.is_finite() {
            rate_per_s
        } else {
            0.0
        },
        end: duration.as_secs_f64(),
        t: 0.0,
    }
}

/// The iterator of [`arrivals`]: exponential gaps of mean `1 / rate`.
#[derive(Debug, Clone)]
pub struct Arrivals<R> {
    rng: R,
    rate: f64,
    end: f64,
    t: f64,
}

impl<R: Rng> Iterator for Arrivals<R> {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        if self.rate <= 0.0 {
            return None;
        }
        // 1 − U is in (0, 1], so the logarithm is finite and the gap ≥ 0.
        let u: f64 = self.rng.gen();
        self.t += -(1.0 - u).ln() / self.rate;
        if self.t >= self.end {
            self.rate = 0.0; // fused
            return None;
        }
        Some(Duration::from_secs_f64(self.t))
    }
}

/// Users (indexed `0..len`), their connection counts and friend graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Population {
    /// The seed it was generated from (names users).
    pub seed: u64,
    /// Connections (devices) of each user.
    pub connections: Vec<u32>,
    /// Friends of each user: sorted, symmetric, no self loops, no duplicates.
    pub friends: Vec<Vec<u32>>,
}

impl Population {
    /// Generates the population of `plan`, deterministically from `plan.seed`.
    pub fn generate(plan: &Plan) -> Population {
        let n = plan.users as usize;
        let mut rng = schedule_rng(plan.seed, POPULATION, stream::CONNECTIONS);
        let connections = (0..n)
            .map(|_| plan.connections_per_user.sample(&mut rng))
            .collect();
        let mut rng = schedule_rng(plan.seed, POPULATION, stream::GRAPH);
        let friends = match plan.friends {
            Friends::Uniform { degree } => graph::uniform(n, degree as usize, &mut rng),
            Friends::PowerLaw { min, max, exponent } => {
                graph::power_law(n, min as usize, max as usize, exponent, &mut rng)
            }
        };
        Population {
            seed: plan.seed,
            connections,
            friends,
        }
    }

    /// The population of a `--population` file: its first `plan.users`
    /// users (all if it has fewer), their friendships among themselves, and
    /// connection counts drawn from the plan.
    pub fn from_external(ext: &External, plan: &Plan) -> Population {
        let n = ext.users.len().min(plan.users as usize);
        let mut rng = schedule_rng(plan.seed, POPULATION, stream::CONNECTIONS);
        let connections = (0..n)
            .map(|_| plan.connections_per_user.sample(&mut rng))
            .collect();
        let mut friends = ext.friend_graph();
        friends.truncate(n);
        for list in &mut friends {
            list.retain(|&f| (f as usize) < n);
        }
        Population {
            seed: plan.seed,
            connections,
            friends,
        }
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.friends.len()
    }

    /// Whether there are no users.
    pub fn is_empty(&self) -> bool {
        self.friends.is_empty()
    }

    /// The prefix of generated usernames: `lg{seed}_`.
    pub fn username_prefix(&self) -> String {
        format!("lg{}_", self.seed)
    }

    /// Username of user `i`: `lg{seed}_{i + 1}`, counting from 1 like the
    /// server's bulk provisioning (`{prefix}{n}`), so that on a fresh server
    /// `POST /admin/users/bulk` with [`Population::username_prefix`] gives
    /// exactly these names. At most 30 characters (the protocol allows 32).
    pub fn username(&self, i: u32) -> String {
        format!("lg{}_{}", self.seed, u64::from(i) + 1)
    }

    /// Friends of user `i` (sorted).
    pub fn friends_of(&self, i: u32) -> &[u32] {
        self.friends.get(i as usize).map_or(&[], Vec::as_slice)
    }

    /// Whether `a` and `b` are friends.
    pub fn are_friends(&self, a: u32, b: u32) -> bool {
        self.friends_of(a).binary_search(&b).is_ok()
    }

    /// Every friendship once, as `(a, b)` with `a < b`.
    pub fn pairs(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.friends.iter().enumerate().flat_map(|(a, fs)| {
            let a = a as u32;
            fs.iter().filter(move |&&b| b > a).map(move |&b| (a, b))
        })
    }

    /// Number of friendships.
    pub fn friendship_count(&self) -> usize {
        self.friends.iter().map(Vec::len).sum::<usize>() / 2
    }

    /// All connections of all users.
    pub fn total_connections(&self) -> u64 {
        self.connections.iter().map(|&k| u64::from(k)).sum()
    }

    /// The largest friend count.
    pub fn max_degree(&self) -> usize {
        self.friends.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// The slow-consumer connections, as (user, device index): exactly
    /// round(fraction × total connections) of them, chosen from the seed.
    pub fn slow_connections(&self, plan: &Plan) -> Vec<(u32, u32)> {
        let mut all: Vec<(u32, u32)> = self
            .connections
            .iter()
            .enumerate()
            .flat_map(|(u, &k)| (0..k).map(move |d| (u as u32, d)))
            .collect();
        let count = (plan.slow_consumer.fraction * all.len() as f64).round() as usize;
        let mut rng = schedule_rng(plan.seed, POPULATION, stream::SLOW);
        let amount = count.min(all.len());
        let (chosen, _) = all.partial_shuffle(&mut rng, amount);
        let mut chosen = chosen.to_vec();
        chosen.sort_unstable();
        chosen
    }
}
