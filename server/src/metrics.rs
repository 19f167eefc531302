//! Prometheus metrics, served at `/metrics` in the text exposition format.
//!
//! Counters on the WebSocket hot path (events sent by type, error frames by
//! code) are created once at start for every label value and kept in arrays
//! indexed by the enum, so recording is one relaxed atomic add: no label
//! lookup, no lock. REST counters use a label family (REST is not the hot
//! path, and its route/status pairs are open-ended).

use crate::protocol::{ErrorCode, EventKind};
use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::{counter::Counter, family::Family, gauge::Gauge};
use prometheus_client::registry::Registry;

/// Labels of `chat_rest_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RestLabels {
    /// The matched route pattern, e.g. `/conversation/{id}/messages`.
    pub route: String,
    /// The HTTP status code.
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TypeLabel {
    r#type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabel {
    code: &'static str,
}

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    /// Open WebSocket connections (registered in the ConnectionManager).
    pub open_connections: Gauge,
    /// Users with at least one open connection.
    pub users_online: Gauge,
    /// Messages currently stored (accepted minus deleted).
    pub messages_stored: Gauge,
    /// Connections closed with 4010.
    pub slow_consumer_closes: Counter,
    /// WebSocket upgrades refused after the handshake (4008, 4011).
    pub rejected_connections: Counter,
    events_sent: Vec<Counter>,
    error_frames: Vec<Counter>,
    /// REST requests by route and status.
    pub rest_requests: Family<RestLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("chat");
        let open_connections = Gauge::default();
        let users_online = Gauge::default();
        let messages_stored = Gauge::default();
        let slow_consumer_closes = Counter::default();
        let rejected_connections = Counter::default();
        let events_family = Family::<TypeLabel, Counter>::default();
        let errors_family = Family::<CodeLabel, Counter>::default();
        let rest_requests = Family::<RestLabels, Counter>::default();
        registry.register(
            "open_connections",
            "Open WebSocket connections",
            open_connections.clone(),
        );
        registry.register(
            "users_online",
            "Users with at least one open connection",
            users_online.clone(),
        );
        registry.register(
            "messages_stored",
            "Messages stored (accepted minus deleted)",
            messages_stored.clone(),
        );
        registry.register(
            "slow_consumer_closes",
            "Connections closed with 4010 because their outbound queue was full",
            slow_consumer_closes.clone(),
        );
        registry.register(
            "rejected_connections",
            "WebSockets closed right after the handshake (4008 bad token, 4011 too many)",
            rejected_connections.clone(),
        );
        registry.register(
            "events_sent",
            "Events enqueued to connections, by type (one per recipient connection)",
            events_family.clone(),
        );
        registry.register(
            "error_frames",
            "Error frames sent to clients, by code (malformed or rule-breaking input)",
            errors_family.clone(),
        );
        registry.register(
            "rest_requests",
            "REST requests by route and status",
            rest_requests.clone(),
        );
        let events_sent = EventKind::ALL
            .iter()
            .map(|k| {
                events_family
                    .get_or_create(&TypeLabel { r#type: k.as_str() })
                    .clone()
            })
            .collect();
        let error_frames = ErrorCode::ALL
            .iter()
            .map(|c| {
                errors_family
                    .get_or_create(&CodeLabel { code: c.as_str() })
                    .clone()
            })
            .collect();
        Metrics {
            registry,
            open_connections,
            users_online,
            messages_stored,
            slow_consumer_closes,
            rejected_connections,
            events_sent,
            error_frames,
            rest_requests,
        }
    }

    /// Counts `n` events of `kind` enqueued.
    #[inline]
    pub fn events_sent(&self, kind: EventKind, n: u64) {
        if n > 0 {
            self.events_sent[kind as usize].inc_by(n);
        }
    }

    /// Counts one error frame.
    #[inline]
    pub fn error_frame(&self, code: ErrorCode) {
        self.error_frames[code as usize].inc();
    }

    /// Counts one REST request.
    pub fn rest_request(&self, route: &str, status: u16) {
        self.rest_requests
            .get_or_create(&RestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        encode(&mut out, &self.registry).expect("encoding metrics into a String");
        out
    }
}
