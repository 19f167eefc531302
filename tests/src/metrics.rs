//! Reading `/metrics` (Prometheus text format) loosely.
//!
//! The contract fixes *what* is counted, not the metric names, so tests look
//! series up by substrings of `name{labels}` and assert that values move.

use std::collections::BTreeMap;

/// One scrape: every series (`name{labels}` as written) and its value.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub series: BTreeMap<String, f64>,
}

impl Scrape {
    /// Parses Prometheus text; comment lines are skipped.
    pub fn parse(text: &str) -> Scrape {
        let series = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|line| {
                // The value follows the last space outside the label braces;
                // an optional timestamp would follow it, which we do not use.
                let end = line.rfind('}').map_or(0, |i| i + 1);
                let (key, rest) = line.split_at(line[end..].find(' ').map(|i| end + i)?);
                let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
                Some((key.trim().to_owned(), value))
            })
            .collect();
        Scrape { series }
    }

    /// The series whose key contains every one of `parts`.
    pub fn matching<'a>(
        &'a self,
        parts: &'a [&'a str],
    ) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        self.series
            .iter()
            .filter(move |(k, _)| parts.iter().all(|p| k.contains(p)))
            .map(|(k, v)| (k.as_str(), *v))
    }

    /// The value of `key` (0 if absent: a counter not yet incremented).
    pub fn get(&self, key: &str) -> f64 {
        self.series.get(key).copied().unwrap_or(0.0)
    }

    /// The series of `after` (matching `parts`) whose value moved by exactly
    /// `delta` since `self`.
    pub fn moved_by(&self, after: &Scrape, parts: &[&str], delta: f64) -> Vec<String> {
        after
            .matching(parts)
            .filter(|(k, v)| (v - self.get(k) - delta).abs() < 1e-9)
            .map(|(k, _)| k.to_owned())
            .collect()
    }

    /// The series of `after` (matching `parts`) whose value grew by at least
    /// `delta` since `self`.
    pub fn grew_by_at_least(&self, after: &Scrape, parts: &[&str], delta: f64) -> Vec<String> {
        after
            .matching(parts)
            .filter(|(k, v)| v - self.get(k) >= delta - 1e-9)
            .map(|(k, _)| k.to_owned())
            .collect()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn parses_series() {
        let s = Scrape::parse(
            "# HELP x y\n# TYPE chat_events_sent counter\nchat_events_sent_total{type=\"new message\"} 3\nchat_open 2.0\nchat_t{a=\"b\"} 1 1700000000\n",
        );
        assert_eq!(s.get("chat_events_sent_total{type=\"new message\"}"), 3.0);
        assert_eq!(s.get("chat_open"), 2.0);
        assert_eq!(s.get("chat_t{a=\"b\"}"), 1.0);
        assert_eq!(s.matching(&["events", "new"]).count(), 1);
    }
}
