//! Prometheus metrics, served at `/metrics` in the format the scraper asks
//! for (see [`Format::negotiate`]): OpenMetrics 1.0.0 when its `Accept` names
//! `application/openmetrics-text`, the classic text format 0.0.4 otherwise,
//! as Prometheus' own client libraries do.
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
    /// Messages currently stored (accepted minus deleted minus evicted).
    pub messages_stored: Gauge,
    /// Messages evicted by the retention bound (oldest first).
    pub messages_evicted: Counter,
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
        let messages_evicted = Counter::default();
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
            "Messages stored (accepted minus deleted minus evicted)",
            messages_stored.clone(),
        );
        registry.register(
            "messages_evicted",
            "Messages dropped from history by the per-conversation retention bound, oldest first",
            messages_evicted.clone(),
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
            messages_evicted,
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

    /// Counts one message stored and `evicted` dropped to make room.
    #[inline]
    pub fn message_stored(&self, evicted: usize) {
        self.messages_stored.inc();
        if evicted > 0 {
            self.messages_stored.dec_by(evicted as i64);
            self.messages_evicted.inc_by(evicted as u64);
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

    /// The OpenMetrics 1.0.0 exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        encode(&mut out, &self.registry).expect("encoding metrics into a String");
        out
    }

    /// Every metric in `format`.
    pub fn render_as(&self, format: Format) -> String {
        match format {
            Format::OpenMetrics => self.render(),
            Format::Text004 => openmetrics_to_text004(&self.render()),
        }
    }
}

/// The two exposition formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0.0 (`application/openmetrics-text`).
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4 (`text/plain`).
    Text004,
}

impl Format {
    /// The `Content-Type` of an answer in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text004 => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for, chosen as client_golang's
    /// `expfmt.NegotiateIncludingOpenMetrics` does: media ranges by
    /// descending `q` (ties keep their order; `q=0` means "not this"); the
    /// first that is `application/openmetrics-text` (version 1.0.0, 0.0.1
    /// or none) gives OpenMetrics, the first that is `text/plain` (version
    /// 0.0.4 or none) gives the text format; anything else (`*/*`, absent,
    /// unparsable) gives the text format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text004;
        };
        let mut ranges: Vec<(f32, &str, Option<&str>)> = accept
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next().filter(|m| !m.is_empty())?;
                let (mut q, mut version) = (1.0f32, None);
                for param in parts {
                    let Some((k, v)) = param.split_once('=') else {
                        continue;
                    };
                    let v = v.trim().trim_matches('"');
                    match k.trim().to_ascii_lowercase().as_str() {
                        "q" => q = v.parse().unwrap_or(0.0),
                        "version" => version = Some(v),
                        _ => {}
                    }
                }
                (q > 0.0).then_some((q, media, version))
            })
            .collect();
        // Stable: equal q keeps the client's order.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, media, version) in ranges {
            if media.eq_ignore_ascii_case("application/openmetrics-text")
                && matches!(version, None | Some("1.0.0" | "0.0.1"))
            {
                return Format::OpenMetrics;
            }
            if media.eq_ignore_ascii_case("text/plain") && matches!(version, None | Some("0.0.4")) {
                return Format::Text004;
            }
        }
        Format::Text004
    }
}

/// Rewrites prometheus-client's OpenMetrics output (the only format that
/// crate writes) as text format 0.0.4. The samples are the same; what
/// differs is metadata: 0.0.4 names a counter family by its sample name
/// (`x_total`, where OpenMetrics says `x`), has no `# UNIT` and no `# EOF`,
/// and knows only counter, gauge, histogram, summary and untyped.
pub fn openmetrics_to_text004(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    // A family's HELP comes before its TYPE; the name it carries depends on
    // the type, so it waits for the TYPE line.
    let mut help: Option<(&str, &str)> = None;
    let flush_help = |out: &mut String, help: &mut Option<(&str, &str)>| {
        if let Some((name, text)) = help.take() {
            out.push_str(&format!("# HELP {name} {text}\n"));
        }
    };
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, &mut help);
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" | "stateset" => (name.to_owned(), "gauge"),
                "gaugehistogram" => (name.to_owned(), "histogram"),
                "unknown" => (name.to_owned(), "untyped"),
                k => (name.to_owned(), k),
            };
            if let Some((help_name, text)) = help.take() {
                let help_name = if help_name == rest.split(' ').next().unwrap_or("") {
                    name.as_str()
                } else {
                    help_name
                };
                out.push_str(&format!("# HELP {help_name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        flush_help(&mut out, &mut help);
        out.push_str(line);
        out.push('\n');
    }
    flush_help(&mut out, &mut help);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_accept() {
        use Format::*;
        let cases: &[(Option<&str>, Format)] = &[
            (None, Text004),
            (Some(""), Text004),
            (Some("*/*"), Text004),
            (Some("text/plain"), Text004),
            (Some("text/plain; version=0.0.4"), Text004),
            (Some("application/openmetrics-text"), OpenMetrics),
            (Some("application/openmetrics-text; version=1.0.0; charset=utf-8"), OpenMetrics),
            (Some("application/openmetrics-text;version=0.0.1"), OpenMetrics),
            // A version we do not speak is skipped.
            (Some("application/openmetrics-text;version=2.0.0"), Text004),
            // Prometheus' scrape header: OpenMetrics preferred.
            (
                Some("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
                OpenMetrics,
            ),
            // Prometheus with OpenMetrics switched off.
            (Some("text/plain;version=0.0.4;q=1,*/*;q=0.1"), Text004),
            // q decides, not the order.
            (Some("text/plain;q=0.3, application/openmetrics-text;q=0.9"), OpenMetrics),
            (Some("application/openmetrics-text;q=0.3, text/plain;q=0.9"), Text004),
            // q=0 refuses.
            (Some("application/openmetrics-text;q=0"), Text004),
            (Some("APPLICATION/OpenMetrics-Text"), OpenMetrics),
            (Some(";;,,=;q=x"), Text004),
        ];
        for (accept, want) in cases {
            assert_eq!(Format::negotiate(*accept), *want, "Accept: {accept:?}");
        }
    }

    #[test]
    fn text004_names_counters_by_their_samples_and_drops_eof() {
        let m = Metrics::new();
        m.slow_consumer_closes.inc();
        m.open_connections.set(3);
        let om = m.render();
        assert!(
            om.contains("# TYPE chat_slow_consumer_closes counter"),
            "{om}"
        );
        assert!(om.trim_end().ends_with("# EOF"), "{om}");
        let text = m.render_as(Format::Text004);
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("# TYPE chat_slow_consumer_closes_total counter"),
            "{text}"
        );
        assert!(
            text.contains("# HELP chat_slow_consumer_closes_total "),
            "{text}"
        );
        assert!(
            text.contains("chat_slow_consumer_closes_total 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE chat_open_connections gauge"),
            "{text}"
        );
        assert!(text.contains("# HELP chat_open_connections "), "{text}");
        assert!(text.contains("chat_open_connections 3\n"), "{text}");
        // Every sample of the OpenMetrics text is there, unchanged.
        let samples = |s: &str| -> Vec<String> {
            s.lines()
                .filter(|l| !l.starts_with('#'))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(samples(&om), samples(&text));
        // Every sample's family is declared by a TYPE line naming it.
        for sample in samples(&text) {
            let name = sample.split(['{', ' ']).next().unwrap_or("");
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}:\n{text}"
            );
        }
    }
}
