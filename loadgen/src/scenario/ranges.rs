//! Value-or-range types of scenario files: `2` or `{ min = 1, max = 4 }`,
//! `"1s"` or `{ min = "200ms", max = "2s" }`.
//!
//! A single value means a fixed one (`min == max`); a range is sampled
//! uniformly from `min..=max`. Deserialization goes through an untagged
//! helper enum, whose own error ("did not match any variant") says nothing,
//! so it is replaced by one that shows the two accepted forms. Validation
//! (`min <= max`) happens in the plan, where the field name is known.

use rand::Rng;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A count: fixed (`2`) or uniform over `min..=max` (`{ min = 1, max = 4 }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    /// Smallest value.
    pub min: u32,
    /// Largest value (inclusive).
    pub max: u32,
}

impl CountRange {
    /// A fixed count.
    pub const fn fixed(n: u32) -> CountRange {
        CountRange { min: n, max: n }
    }

    /// Whether this is one fixed value.
    pub fn is_fixed(&self) -> bool {
        self.min == self.max
    }

    /// One value drawn uniformly from `min..=max` (`min` if the range is empty).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        if self.max <= self.min {
            self.min
        } else {
            rng.gen_range(self.min..=self.max)
        }
    }

    /// The mean of the uniform distribution.
    pub fn mean(&self) -> f64 {
        (f64::from(self.min) + f64::from(self.max)) / 2.0
    }
}

impl fmt::Display for CountRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_fixed() {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..={}", self.min, self.max)
        }
    }
}

/// A duration: fixed (`"1s"`) or uniform over `min..=max`
/// (`{ min = "200ms", max = "2s" }`), in humantime syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// Shortest duration.
    pub min: Duration,
    /// Longest duration (inclusive).
    pub max: Duration,
}

impl DurationRange {
    /// A fixed duration.
    pub const fn fixed(d: Duration) -> DurationRange {
        DurationRange { min: d, max: d }
    }

    /// From milliseconds, for defaults.
    pub const fn millis(min: u64, max: u64) -> DurationRange {
        DurationRange {
            min: Duration::from_millis(min),
            max: Duration::from_millis(max),
        }
    }

    /// One duration drawn uniformly from `min..=max`, at microsecond resolution.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        if self.max <= self.min {
            return self.min;
        }
        let lo = self.min.as_micros().min(u128::from(u64::MAX)) as u64;
        let hi = self.max.as_micros().min(u128::from(u64::MAX)) as u64;
        Duration::from_micros(rng.gen_range(lo..=hi))
    }
}

impl fmt::Display for DurationRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = humantime::format_duration;
        if self.min == self.max {
            write!(f, "{}", h(self.min))
        } else {
            write!(f, "{}..={}", h(self.min), h(self.max))
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawCount {
    One(u32),
    Range { min: u32, max: u32 },
}

impl<'de> Deserialize<'de> for CountRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawCount::deserialize(d) {
            Ok(RawCount::One(n)) => Ok(CountRange::fixed(n)),
            Ok(RawCount::Range { min, max }) => Ok(CountRange { min, max }),
            Err(_) => Err(D::Error::custom(
                "expected a non-negative integer like 2, or a range like { min = 1, max = 4 }",
            )),
        }
    }
}

impl Serialize for CountRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Range {
            min: u32,
            max: u32,
        }
        if self.is_fixed() {
            s.serialize_u32(self.min)
        } else {
            Range {
                min: self.min,
                max: self.max,
            }
            .serialize(s)
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDuration {
    One(#[serde(with = "humantime_serde")] Duration),
    Range {
        #[serde(with = "humantime_serde")]
        min: Duration,
        #[serde(with = "humantime_serde")]
        max: Duration,
    },
}

impl<'de> Deserialize<'de> for DurationRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawDuration::deserialize(d) {
            Ok(RawDuration::One(v)) => Ok(DurationRange::fixed(v)),
            Ok(RawDuration::Range { min, max }) => Ok(DurationRange { min, max }),
            Err(_) => Err(D::Error::custom(
                "expected a duration like \"1s\", or a range like { min = \"200ms\", max = \"2s\" }",
            )),
        }
    }
}

impl Serialize for DurationRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Range {
            #[serde(with = "humantime_serde")]
            min: Duration,
            #[serde(with = "humantime_serde")]
            max: Duration,
        }
        if self.min == self.max {
            humantime_serde::serialize(&self.min, s)
        } else {
            Range {
                min: self.min,
                max: self.max,
            }
            .serialize(s)
        }
    }
}
