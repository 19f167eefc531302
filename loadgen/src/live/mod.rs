//! Watching a run while it lasts: `--metrics-addr` (Prometheus/OpenMetrics,
//! [`exporter`]) and `--events PATH` (JSON lines, [`events`]).
//!
//! Both are fed once per interval by the driver's loop, from what its
//! per-interval drain already built: the merged [`Recorder`] of the last
//! interval, and a [`Snapshot`] of the gauges and of the checker's findings
//! taken at the same moment. Connection tasks never touch either, so
//! watching a run costs the run nothing per frame. The snapshot is all an
//! exporter needs, so a sharded generator can feed one per shard.
//!
//! Violations appear as they are found, to the interval: each interval
//! reads the checker's tally (counted even past the listed cap) and the
//! violations listed since the last one.

pub mod events;
pub mod exporter;
pub mod histogram;

use crate::checker::InvariantId;
use crate::driver::shared::Shared;
use crate::error::LoadgenError;
use crate::metrics::Recorder;
use crate::report::Report;
use crate::Outcome;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// What to watch with (`--metrics-addr`, `--metrics-linger`, `--events`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveOptions {
    /// Serve `/metrics` here while the run lasts.
    pub metrics_addr: Option<SocketAddr>,
    /// How long to keep serving after the run, so a last scrape sees it.
    pub metrics_linger: Duration,
    /// Write the JSON-lines stream here.
    pub events: Option<PathBuf>,
    /// This generator's shard, `index/count` (`0/1` until scale-out).
    pub shard: String,
}

/// One interval's gauges and checker totals.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// End of the interval, since the run started.
    pub at: Duration,
    /// Connections open now.
    pub open_connections: i64,
    /// Users whose last presence transition started was to online.
    pub users_online: i64,
    /// Checks performed so far, per [`InvariantId::index`].
    pub checked: [u64; 12],
    /// Violations found so far (listed or not), per [`InvariantId::index`].
    pub violations: [u64; 12],
    /// Violations listed since the previous snapshot, as JSON.
    pub new_violations: Vec<serde_json::Value>,
    /// Whether the generator's lag p99 so far passes the scenario's limit.
    pub saturated: bool,
    /// Whether the run is over.
    pub finished: bool,
}

/// The live outputs of one run (both may be off: then it does nothing).
pub struct Live {
    opts: LiveOptions,
    metrics: Option<(Arc<exporter::Metrics>, exporter::Server)>,
    events: Option<events::Events>,
    /// Violations already taken from the checker's list.
    listed: usize,
}

impl Live {
    /// Nothing to watch with.
    pub fn off() -> Live {
        Live {
            opts: LiveOptions::default(),
            metrics: None,
            events: None,
            listed: 0,
        }
    }

    /// Binds the exporter and creates the events file; a port in use or an
    /// unwritable file is a usage error, before the run.
    pub fn start(opts: &LiveOptions) -> Result<Live, LoadgenError> {
        let metrics = match opts.metrics_addr {
            None => None,
            Some(addr) => {
                let shard = if opts.shard.is_empty() {
                    "0/1"
                } else {
                    &opts.shard
                };
                let m = Arc::new(exporter::Metrics::new(shard));
                let server = exporter::Server::start(addr, m.clone()).map_err(|e| {
                    LoadgenError::Usage(format!("--metrics-addr {addr}: cannot serve: {e}"))
                })?;
                // stderr: stdout carries the summary scripts read.
                eprintln!("metrics: http://{}/metrics", server.addr);
                Some((m, server))
            }
        };
        let events = match &opts.events {
            None => None,
            Some(path) => {
                Some(events::Events::create(path).map_err(|e| LoadgenError::io(path, e))?)
            }
        };
        Ok(Live {
            opts: opts.clone(),
            metrics,
            events,
            listed: 0,
        })
    }

    /// Whether anything is watching.
    pub fn is_on(&self) -> bool {
        self.metrics.is_some() || self.events.is_some()
    }

    /// The exporter's address, when serving.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, s)| s.addr)
    }

    /// One interval of the driver's loop: `last` is what its drain took,
    /// `total` everything so far.
    pub fn interval(&mut self, shared: &Shared, last: &Recorder, total: &Recorder) {
        if !self.is_on() {
            return;
        }
        let snap = self.snapshot(shared, total);
        if let Some((m, _)) = &self.metrics {
            m.interval(last, &snap);
        }
        if let Some(ev) = &mut self.events {
            ev.interval(last, &snap);
        }
    }

    /// Reads the gauges and the checker's findings (one short lock of the
    /// checker's tables, as a barrier takes it).
    fn snapshot(&mut self, shared: &Shared, total: &Recorder) -> Snapshot {
        let users_online = (0..shared.users.len() as u32)
            .filter(|i| shared.presence_since(*i, true).is_some())
            .count() as i64;
        let mut snap = Snapshot {
            at: shared.start.elapsed(),
            open_connections: shared.open_connections.load(Ordering::Relaxed),
            users_online,
            saturated: total.lag().is_some_and(|h| {
                h.value_at_quantile(0.99) > crate::metrics::micros(shared.plan.saturation_lag)
            }),
            ..Snapshot::default()
        };
        let new = {
            let facts = shared.facts.lock();
            let tally = &facts.findings.tally;
            for id in InvariantId::ALL {
                snap.checked[id.index()] = tally.checked.get(id);
                snap.violations[id.index()] = tally.violations.get(id);
            }
            let listed = &facts.findings.violations;
            let new = listed.get(self.listed..).unwrap_or_default().to_vec();
            self.listed = listed.len();
            new
        };
        snap.new_violations = new
            .iter()
            .map(|v| serde_json::to_value(v).unwrap_or_default())
            .collect();
        snap
    }

    /// The run is over: the final summary line, `finished` = 1, and the
    /// exporter kept up for `--metrics-linger` so a last scrape sees it all.
    pub async fn finish(mut self, report: &Report, outcome: &Outcome) -> Result<(), LoadgenError> {
        if let Some(ev) = &mut self.events {
            ev.summary(report, outcome)
                .map_err(|e| LoadgenError::io(ev.path(), e))?;
        }
        if let Some((m, server)) = self.metrics.take() {
            m.finish();
            tokio::time::sleep(self.opts.metrics_linger).await;
            server.stop();
        }
        Ok(())
    }
}
