//! Friend-graph generators: uniform degree (configuration model with
//! edge-swap repair) and power law (Chung–Lu with Miller–Hagberg skipping,
//! linear in users + friendships).
//!
//! Both build adjacency in ordered sets, so the result depends only on the
//! random generator passed in, never on hashing.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

/// A graph under construction: adjacency sets (ordered, so that iteration
/// order and thus the result depend only on the seed) and an edge list for
/// picking a random edge.
pub(super) struct Graph {
    adj: Vec<BTreeSet<u32>>,
    edges: Vec<(u32, u32)>,
}

impl Graph {
    pub(super) fn new(n: usize) -> Graph {
        Graph {
            adj: vec![BTreeSet::new(); n],
            edges: Vec::new(),
        }
    }

    fn has(&self, a: u32, b: u32) -> bool {
        self.adj[a as usize].contains(&b)
    }

    /// Adds a-b unless it is a loop or already there.
    pub(super) fn add(&mut self, a: u32, b: u32) -> bool {
        if a == b || self.has(a, b) {
            return false;
        }
        self.adj[a as usize].insert(b);
        self.adj[b as usize].insert(a);
        self.edges.push((a, b));
        true
    }

    fn remove_at(&mut self, idx: usize) {
        let (a, b) = self.edges.swap_remove(idx);
        self.adj[a as usize].remove(&b);
        self.adj[b as usize].remove(&a);
    }

    pub(super) fn into_adjacency(self) -> Vec<Vec<u32>> {
        self.adj
            .into_iter()
            .map(|s| s.into_iter().collect())
            .collect()
    }
}

/// A random graph on `n` nodes with every degree `k` (capped at n − 1).
///
/// Configuration model: `k` stubs per node, shuffled and paired; pairs that
/// would be a loop or a repeat go back into the pool for a few more rounds,
/// and the last leftovers are placed by edge swaps (remove c-d, add a-c and
/// b-d), which keep every other degree. If n·k is odd one node has k − 1.
pub(super) fn uniform(n: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<u32>> {
    let k = k.min(n.saturating_sub(1));
    let mut g = Graph::new(n);
    if k + 1 == n {
        for a in 0..n as u32 {
            for b in a + 1..n as u32 {
                g.add(a, b);
            }
        }
        return g.into_adjacency();
    }
    let mut stubs: Vec<u32> = (0..n as u32)
        .flat_map(|v| std::iter::repeat_n(v, k))
        .collect();
    if stubs.len() % 2 == 1 {
        stubs.pop();
    }
    for _ in 0..8 {
        stubs.shuffle(rng);
        let mut left = Vec::new();
        for pair in stubs.chunks_exact(2) {
            if !g.add(pair[0], pair[1]) {
                left.extend_from_slice(pair);
            }
        }
        stubs = left;
        if stubs.is_empty() {
            break;
        }
    }
    for pair in stubs.chunks_exact(2) {
        let (a, b) = (pair[0], pair[1]);
        for _ in 0..1000 {
            if g.edges.is_empty() {
                break;
            }
            let idx = rng.gen_range(0..g.edges.len());
            let (c, d) = g.edges[idx];
            let (c, d) = if rng.gen() { (c, d) } else { (d, c) };
            if [c, d].iter().any(|x| *x == a || *x == b) || g.has(a, c) || g.has(b, d) {
                continue;
            }
            g.remove_at(idx);
            g.add(a, c);
            g.add(b, d);
            break;
        }
    }
    g.into_adjacency()
}

/// A Chung–Lu graph whose expected degrees are Pareto quantiles with
/// P(k) ∝ k^(−exponent), between `min` and `max` (capped at n − 1).
///
/// Weights are the deterministic quantiles (i + ½)/n of the distribution,
/// assigned to users in a random order: the largest weights (the hubs) are
/// then always there, not left to chance. Edge u-v has probability
/// min(1, w_u·w_v / Σw); the skipping algorithm (Miller & Hagberg 2011)
/// draws the gap to the next edge geometrically. A node left without a
/// friend is then given one at random, so every user can send.
pub(super) fn power_law(
    n: usize,
    min: usize,
    max: usize,
    exponent: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<Vec<u32>> {
    let mut g = Graph::new(n);
    if n < 2 {
        return g.into_adjacency();
    }
    let wmax = max.min(n - 1).max(1) as f64;
    let wmin = (min.max(1) as f64).min(wmax);
    let a = exponent - 1.0;
    // Descending: the quantile decreases as i grows.
    let w: Vec<f64> = (0..n)
        .map(|i| (wmin * ((i as f64 + 0.5) / n as f64).powf(-1.0 / a)).min(wmax))
        .collect();
    let mut who: Vec<u32> = (0..n as u32).collect();
    who.shuffle(rng);
    let total: f64 = w.iter().sum();
    for u in 0..n - 1 {
        let mut v = u + 1;
        let mut p = (w[u] * w[v] / total).min(1.0);
        while v < n && p > 0.0 {
            if p < 1.0 {
                let r: f64 = rng.gen();
                let skip = ((1.0 - r).ln() / (1.0 - p).ln()).floor();
                // Saturating: a huge skip just ends this row.
                v = v.saturating_add(if skip.is_finite() { skip as usize } else { n });
            }
            if v < n {
                let q = (w[u] * w[v] / total).min(1.0);
                let r: f64 = rng.gen();
                if r < q / p {
                    g.add(who[u], who[v]);
                }
                p = q;
                v += 1;
            }
        }
    }
    for x in 0..n as u32 {
        while g.adj[x as usize].is_empty() {
            let y = rng.gen_range(0..n as u32);
            g.add(x, y);
        }
    }
    g.into_adjacency()
}
