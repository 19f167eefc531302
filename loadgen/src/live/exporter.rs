//! The Prometheus/OpenMetrics exporter of `--metrics-addr`.
//!
//! Every metric is updated once per interval from what the driver's
//! per-interval drain already built (the merged [`Recorder`] of the last
//! second and a [`Snapshot`] of the gauges and the checker's tally), never
//! from a connection task: recording stays lock-free and the exporter's
//! cost does not grow with the load. A scrape reads atomics, plus one
//! uncontended lock per latency histogram.
//!
//! The HTTP server runs on a thread and a one-thread runtime of its own, so
//! a scrape never takes a turn on the generator's runtime (which, against an
//! external server, is a single thread timing every action).
//!
//! Metric names (prefix `loadgen_`; `deploy/grafana/loadgen.json` queries
//! them, and a test checks that it queries nothing else):
//! `latency_seconds{kind,from}` (histogram; `from` is `intended` or
//! `actual`), `messages_sent_total`, `messages_delivered_total`,
//! `frames_received_total{type}`, `errors_total{kind}`,
//! `checks_total{invariant}`, `violations_total{invariant}`,
//! `open_connections`, `users_online`, `generator_lag_p99_seconds` (the
//! last interval), `saturated` (1 when lag p99 so far passes the limit, as
//! the report would say now), `elapsed_seconds`, `finished` (1 once the
//! run is over and the final numbers are in), `shard_info{shard}` (always
//! `0/1` until the generator scales out; a shard then exports its own).

use super::histogram::BucketHistogram;
use super::Snapshot;
use crate::checker::InvariantId;
use crate::metrics::{LatencyKind, Recorder};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use server::protocol::EventKind;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    kind: &'static str,
    from: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvariantLabel {
    invariant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabel {
    shard: String,
}

/// The registry and the handles the drain updates.
pub struct Metrics {
    registry: Registry,
    latency: Family<LatencyLabels, BucketHistogram>,
    sent: Counter,
    delivered: Counter,
    frames: Family<TypeLabel, Counter>,
    errors: Family<KindLabel, Counter>,
    checks: Family<InvariantLabel, Counter>,
    violations: Family<InvariantLabel, Counter>,
    open_connections: Gauge,
    users_online: Gauge,
    lag_p99: Gauge<f64, AtomicU64>,
    saturated: Gauge,
    elapsed: Gauge<f64, AtomicU64>,
    finished: Gauge,
}

impl Metrics {
    /// Registers every metric, with every fixed label value present from
    /// the first scrape (a series that appears late breaks `rate()`).
    pub fn new(shard: &str) -> Metrics {
        let m = Metrics {
            registry: Registry::with_prefix("loadgen"),
            latency: Family::default(),
            sent: Counter::default(),
            delivered: Counter::default(),
            frames: Family::default(),
            errors: Family::default(),
            checks: Family::default(),
            violations: Family::default(),
            open_connections: Gauge::default(),
            users_online: Gauge::default(),
            lag_p99: Gauge::default(),
            saturated: Gauge::default(),
            elapsed: Gauge::default(),
            finished: Gauge::default(),
        };
        let mut m = m;
        let shard_info = Family::<ShardLabel, Gauge>::default();
        shard_info
            .get_or_create(&ShardLabel {
                shard: shard.to_owned(),
            })
            .set(1);
        for k in LatencyKind::ALL {
            for from in ["intended", "actual"] {
                let _ = m.latency.get_or_create(&LatencyLabels {
                    kind: k.as_str(),
                    from,
                });
            }
        }
        for t in EventKind::ALL {
            let _ = m.frames.get_or_create(&TypeLabel { r#type: t.as_str() });
        }
        for id in InvariantId::ALL {
            let label = InvariantLabel {
                invariant: id.as_str(),
            };
            let _ = m.checks.get_or_create(&label);
            let _ = m.violations.get_or_create(&label);
        }
        let r = &mut m.registry;
        r.register(
            "latency_seconds",
            "Latency per kind, from the intended (open-model schedule) or the actual send time",
            m.latency.clone(),
        );
        r.register(
            "messages_sent",
            "Send actions performed (WS and REST)",
            m.sent.clone(),
        );
        r.register(
            "messages_delivered",
            "new_message frames received, one per receiving connection",
            m.delivered.clone(),
        );
        r.register(
            "frames_received",
            "Frames received from the server, by type",
            m.frames.clone(),
        );
        r.register("errors", "Errors by kind", m.errors.clone());
        r.register(
            "checks",
            "Invariant checks performed, by invariant",
            m.checks.clone(),
        );
        r.register(
            "violations",
            "Invariant violations found, by invariant",
            m.violations.clone(),
        );
        r.register(
            "open_connections",
            "WebSocket connections open now",
            m.open_connections.clone(),
        );
        r.register(
            "users_online",
            "Users the generator has brought online (last presence transition started was to online)",
            m.users_online.clone(),
        );
        r.register(
            "generator_lag_p99_seconds",
            "Generator lag (actual - intended send time) p99 over the last interval",
            m.lag_p99.clone(),
        );
        r.register(
            "saturated",
            "1 when the generator's lag p99 so far passes the scenario's saturation_lag",
            m.saturated.clone(),
        );
        r.register(
            "elapsed_seconds",
            "Seconds since the run started, at the last interval",
            m.elapsed.clone(),
        );
        r.register(
            "finished",
            "1 once the run is over and these are its final numbers",
            m.finished.clone(),
        );
        r.register(
            "shard_info",
            "This generator's shard (index/count)",
            shard_info,
        );
        m
    }

    /// Adds one interval: `last` is what the drain took for it.
    pub fn interval(&self, last: &Recorder, snap: &Snapshot) {
        if let Some(b) = last.buckets() {
            for k in LatencyKind::ALL {
                for (from, actual) in [("intended", false), ("actual", true)] {
                    let (counts, sum_us) = b.get(k.index(), actual);
                    if sum_us > 0 || counts.iter().any(|n| *n > 0) {
                        self.latency
                            .get_or_create(&LatencyLabels {
                                kind: k.as_str(),
                                from,
                            })
                            .add(counts, sum_us);
                    }
                }
            }
        }
        self.sent.inc_by(last.messages_sent);
        self.delivered.inc_by(last.messages_delivered);
        for (t, n) in last.frames() {
            if n > 0 {
                self.frames
                    .get_or_create(&TypeLabel { r#type: t.as_str() })
                    .inc_by(n);
            }
        }
        for (kind, n) in last.errors() {
            self.errors
                .get_or_create(&KindLabel { kind: kind.clone() })
                .inc_by(*n);
        }
        // The tally is cumulative: add what is new since the last interval.
        for (family, totals) in [
            (&self.checks, &snap.checked),
            (&self.violations, &snap.violations),
        ] {
            for id in InvariantId::ALL {
                let c = family.get_or_create(&InvariantLabel {
                    invariant: id.as_str(),
                });
                let now = totals[id.index()];
                c.inc_by(now.saturating_sub(c.get()));
            }
        }
        self.open_connections.set(snap.open_connections);
        self.users_online.set(snap.users_online);
        let lag_p99_us = last.lag().map_or(0, |h| h.value_at_quantile(0.99));
        self.lag_p99.set(lag_p99_us as f64 / 1e6);
        self.saturated.set(i64::from(snap.saturated));
        self.elapsed.set(snap.at.as_secs_f64());
        if snap.finished {
            self.finished.set(1);
        }
    }

    /// Marks the run over (`loadgen_finished` = 1).
    pub fn finish(&self) {
        self.finished.set(1);
    }

    /// The exposition text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The HTTP server: `GET /metrics` on its own thread and runtime.
pub struct Server {
    /// The bound address (the port is the OS's choice with `:0`).
    pub addr: SocketAddr,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds `addr` now (so a taken port is a usage error before the run)
    /// and serves `metrics` until [`Server::stop`].
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("loadgen-metrics".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = axum::Router::new().route(
                        "/metrics",
                        axum::routing::get(move || {
                            let metrics = metrics.clone();
                            async move {
                                (
                                    [(
                                        axum::http::header::CONTENT_TYPE,
                                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                    )],
                                    metrics.encode(),
                                )
                            }
                        }),
                    );
                    let mut graceful = stopped.clone();
                    let mut deadline = stopped;
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                        let _ = graceful.wait_for(|s| *s).await;
                    });
                    // A scraper's keep-alive connection must not hold the
                    // process open: 2 s after the stop, stop anyway.
                    tokio::select! {
                        _ = serve => {}
                        _ = async move {
                            let _ = deadline.wait_for(|s| *s).await;
                            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        } => {}
                    }
                });
            })?;
        Ok(Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops serving and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop.send_replace(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}
