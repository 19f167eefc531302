//! The HTML report's plots, each drawn with plotters' SVG backend into a
//! `String` and inlined by [`super::html`] (no files, no fonts: the backend
//! writes `<text>` elements and the browser picks a sans-serif font).
//!
//! - [`latency_by_percentile`]: HdrHistogram's percentile-distribution plot.
//!   The x axis is `log10(1 / (1 − p))`, so 50%, 90%, 99%, 99.9% and 99.99%
//!   are evenly spread and the tail gets the room it deserves; it stops at
//!   the percentile the sample count resolves (`1 − 1/count`).
//! - [`over_time`]: one or more series per ~1 s interval (throughput,
//!   connections, generator lag), with an optional dashed limit line;
//!   [`timeline`], the same at any size with moments marked on it (the
//!   per-kind latency over time, with the violations found).

use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::prelude::*;
use std::ops::Range;
use thiserror::Error;

/// A plot that could not be drawn (the report shows the message instead).
#[derive(Debug, Error)]
#[error("plot '{title}': {message}")]
pub struct PlotError {
    /// The plot's title.
    pub title: String,
    /// What plotters said.
    pub message: String,
}

/// Size of the per-kind latency plots.
pub const LATENCY_SIZE: (u32, u32) = (560, 340);
/// Size of the over-time plots.
pub const TIME_SIZE: (u32, u32) = (1120, 300);

/// The x position of percentile `q` (0..1): `log10(1 / (1 − q))`.
pub fn percentile_x(q: f64) -> f64 {
    -(1.0 - q).max(1e-12).log10()
}

/// The label of x position `x`: `50%`, `90%`, `99.9%`, ...
pub fn percentile_label(x: f64) -> String {
    let p = (1.0 - 10f64.powf(-x)) * 100.0;
    let decimals = (x.round() as i64 - 2).max(0) as usize;
    format!("{p:.decimals$}%")
}

/// `(x, latency ms)` points of the percentile distribution of `h`, up to
/// the percentile its sample count resolves; empty for an empty histogram.
pub fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let x_max = x_limit(h.len());
    let mut pts: Vec<(f64, f64)> = h
        .iter_quantiles(5)
        .map(|v| (v.quantile_iterated_to(), v.value_iterated_to()))
        .filter(|(q, _)| *q < 1.0)
        .map(|(q, v)| (percentile_x(q), v as f64 / 1e3))
        .filter(|(x, _)| *x <= x_max)
        .collect();
    pts.push((x_max, h.max() as f64 / 1e3));
    pts
}

/// The rightmost x a sample count resolves: `log10(count)`, between 1 (90%) and 5 (99.999%).
fn x_limit(count: u64) -> f64 {
    (count.max(1) as f64).log10().clamp(1.0, 5.0)
}

/// The percentile axis, `0..max` in [`percentile_x`] units, with its
/// ticks at 0%, 50%, 90%, 99%, ... (plotters' own key-point combinator has
/// no label formatter for `f64`, hence this small axis type).
struct PercentileAxis(f64);

impl Ranged for PercentileAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let frac = v / self.0;
        limit.0 + (f64::from(limit.1 - limit.0) * frac).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, _hint: Hint) -> Vec<f64> {
        [0.0, 2f64.log10(), 1.0, 2.0, 3.0, 4.0, 5.0]
            .into_iter()
            .filter(|x| *x <= self.0 + 1e-9)
            .collect()
    }

    fn range(&self) -> Range<f64> {
        0.0..self.0
    }
}

fn err(title: &str) -> impl Fn(String) -> PlotError + '_ {
    move |message| PlotError {
        title: title.to_owned(),
        message,
    }
}

/// The percentile-distribution plot of one kind: a line per histogram
/// (`(legend, histogram)`, e.g. from the intended and the actual send time).
pub fn latency_by_percentile(
    title: &str,
    series: &[(&str, &Histogram<u64>)],
) -> Result<String, PlotError> {
    let e = err(title);
    let lines: Vec<(&str, Vec<(f64, f64)>)> = series
        .iter()
        .map(|(name, h)| (*name, percentile_points(h)))
        .filter(|(_, p)| !p.is_empty())
        .collect();
    let count = series.iter().map(|(_, h)| h.len()).max().unwrap_or(0);
    let x_max = x_limit(count);
    let y_max = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max)
        .max(0.001)
        * 1.08;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, LATENCY_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(PercentileAxis(x_max), 0f64..y_max)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_label_formatter(&|x| percentile_label(*x))
            .y_label_formatter(&|y| format!("{y:.1}"))
            .draw()
            .map_err(|x| e(x.to_string()))?;
        for (i, (name, pts)) in lines.into_iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                .map_err(|x| e(x.to_string()))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft).map_err(&e)?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

/// The legend box both kinds of plot draw.
fn draw_legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    at: SeriesLabelPosition,
) -> Result<(), String>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|x| x.to_string())
}

/// One series of an over-time plot: a legend and `(seconds, value)` points.
pub type Series = (String, Vec<(f64, f64)>);

/// A plot of `series` over the run's seconds, with an optional dashed
/// horizontal `limit` line (legend, value).
pub fn over_time(
    title: &str,
    y_desc: &str,
    series: &[Series],
    limit: Option<(&str, f64)>,
) -> Result<String, PlotError> {
    timeline(title, y_desc, series, limit, &[], TIME_SIZE)
}

/// A moment to mark on a timeline: seconds since the start, and what
/// happened (e.g. a violation's invariant, `I5`).
pub type Mark = (f64, String);

/// Like [`over_time`], at `size`, with each of `marks` drawn as a red
/// vertical line across the plot (same-second marks drawn once) and named
/// in the legend (`violations: I5, I6`).
pub fn timeline(
    title: &str,
    y_desc: &str,
    series: &[Series],
    limit: Option<(&str, f64)>,
    marks: &[Mark],
    size: (u32, u32),
) -> Result<String, PlotError> {
    let e = err(title);
    let x_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .chain(marks.iter().map(|(x, _)| *x))
        .fold(1.0f64, f64::max);
    let y_max = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .chain(limit.map(|(_, v)| v))
        .fold(0.0f64, f64::max)
        .max(1e-3)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(x.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .map_err(|x| e(x.to_string()))?;
        chart
            .configure_mesh()
            .x_desc("seconds since start")
            .y_desc(y_desc)
            .y_label_formatter(&|y| {
                if y.abs() >= 100.0 {
                    format!("{y:.0}")
                } else {
                    format!("{y:.1}")
                }
            })
            .draw()
            .map_err(|x| e(x.to_string()))?;
        for (i, (name, pts)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(|x| e(x.to_string()))?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
        }
        if let Some((name, v)) = limit {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, v), (x_max, v)],
                    6,
                    4,
                    RED.stroke_width(1),
                ))
                .map_err(|x| e(x.to_string()))?
                .label(name)
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
        }
        if !marks.is_empty() {
            // One line per distinct 0.1 s: a broken server can produce
            // hundreds of violations in the same second.
            let mut at: Vec<i64> = marks
                .iter()
                .map(|(x, _)| (x * 10.0).round() as i64)
                .collect();
            at.sort_unstable();
            at.dedup();
            let mut ids: Vec<&str> = marks.iter().map(|(_, id)| id.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            // Half-transparent: the latency lines stay readable under many marks.
            let violet = RGBColor(176, 0, 32).mix(0.5);
            chart
                .draw_series(at.into_iter().map(|t| {
                    let x = t as f64 / 10.0;
                    PathElement::new(vec![(x, 0.0), (x, y_max)], violet.stroke_width(1))
                }))
                .map_err(|x| e(x.to_string()))?
                .label(format!("violations: {}", ids.join(", ")))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x + 8, y - 6), (x + 8, y + 6)], violet.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight).map_err(&e)?;
        root.present().map_err(|x| e(x.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(2f64.log10()), "50%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(4.0), "99.99%");
        assert!((percentile_x(0.999) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn points_stop_at_the_resolved_percentile() {
        let mut h = Histogram::<u64>::new(3).expect("valid");
        for v in 1..=1000u64 {
            h.record(v * 10).expect("in range");
        }
        let pts = percentile_points(&h);
        let last = pts.last().expect("points");
        // x = log10(1000); y = the max in ms, to the histogram's precision.
        assert_eq!(last.0, 3.0);
        assert!((last.1 - 10.0).abs() < 0.02, "{last:?}");
        assert!(pts.iter().all(|(x, _)| *x <= 3.0));
        assert!(pts.windows(2).all(|w| w[0].1 <= w[1].1), "monotonic");
        let svg = latency_by_percentile("message_echo", &[("intended", &h)]).expect("draws");
        assert!(
            svg.starts_with("<svg") && svg.contains("99.9%"),
            "{}",
            &svg[..200]
        );
    }

    #[test]
    fn over_time_draws_a_limit() {
        let s = vec![("lag p99".to_owned(), vec![(1.0, 2.0), (2.0, 3.0)])];
        let svg = over_time("lag", "ms", &s, Some(("limit", 50.0))).expect("draws");
        assert!(svg.contains("<svg") && svg.contains("limit"));
        let empty = over_time("nothing", "ms", &[], None).expect("draws an empty plot");
        assert!(empty.contains("nothing"));
        let marks = vec![
            (1.5, "I5".to_owned()),
            (1.52, "I5".to_owned()),
            (3.0, "I6".to_owned()),
        ];
        let svg = timeline("lat", "ms", &s, None, &marks, LATENCY_SIZE).expect("draws");
        assert!(svg.contains("violations: I5, I6"), "{svg}");
        // Two distinct moments (1.5 and 1.52 s round to the same tenth), two lines.
        assert_eq!(svg.matches("stroke=\"#B00020\"").count(), 2 + 1, "{svg}");
    }
}
