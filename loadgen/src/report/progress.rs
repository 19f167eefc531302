//! The live progress bar (indicatif): elapsed time, send rate, delivery p99
//! and open connections. Hidden with `--quiet` or when stdout is not a terminal.

use crate::driver::shared::Shared;
use crate::metrics::{LatencyKind, Recorder};
use crate::scenario::Plan;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::atomic::Ordering;

/// A progress bar, or nothing.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar over the plan's ramp-up + duration, if `enabled`.
    pub fn new(enabled: bool, plan: &Plan) -> Progress {
        let bar = enabled.then(|| {
            let total = (plan.ramp_up + plan.duration).as_secs().max(1);
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress { bar }
    }

    /// Updates from the last second's recorder.
    pub fn update(&self, shared: &Shared, last_second: &Recorder) {
        let Some(bar) = &self.bar else { return };
        let p99 = last_second
            .latency(LatencyKind::MessageDelivery)
            .map_or(0, |h| h.value_at_quantile(0.99));
        bar.set_position(shared.start.elapsed().as_secs());
        bar.set_message(format!(
            "sent {}/s · delivery p99 {} · open {}",
            last_second.messages_sent,
            super::text::fmt_us(p99),
            shared.open_connections.load(Ordering::Relaxed)
        ));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
