//! Durations as the command line takes them: Go's syntax, as etcdctl's
//! timeouts take it (`5s`, `500ms`, `1m30s`), days too (`1d`, for how far
//! back a timeline starts), and a bare number of seconds. One parser, so
//! that every option taking a duration takes the same forms.

use std::time::Duration;

/// Units, in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", NANOS_PER_SECOND),
    ("m", 60 * NANOS_PER_SECOND),
    ("h", 3_600 * NANOS_PER_SECOND),
    ("d", 86_400 * NANOS_PER_SECOND),
];

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Fractional digits that count: more cannot change a value rounded to the
/// nanosecond (a day has fewer than 10^14 of them).
const FRACTION_DIGITS: usize = 20;

/// Why a text is not a duration (the text is part of each message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty duration")]
    Empty,
    #[error("{text}: missing unit (ms, s, m, h)")]
    MissingUnit { text: String },
    #[error("{text}: not a duration (e.g. 5s, 500ms, 1m30s)")]
    NotANumber { text: String },
    #[error("{text}: unknown unit {unit:?} (ms, s, m, h)")]
    UnknownUnit { text: String, unit: String },
    /// A bare number of seconds that is negative, not finite or too large.
    #[error(transparent)]
    Seconds(#[from] std::time::TryFromFloatSecsError),
    #[error("{text}: longer than a duration can be")]
    TooLong { text: String },
}

/// Parses `5s`, `500ms`, `1m30s`, `1.5h`, `2d` (units ns, us or µs, ms, s,
/// m, h, d; parts add up) or a bare number of seconds (`2`, `0.5`).
/// Surrounding white space is ignored. Parts with units are exact decimal
/// arithmetic, rounded to the nanosecond.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(DurationError::Empty);
    }
    if let Ok(secs) = t.parse::<f64>() {
        return Ok(Duration::try_from_secs_f64(secs)?);
    }
    let too_long = || DurationError::TooLong { text: text.into() };
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| DurationError::MissingUnit { text: text.into() })?;
        let (num, tail) = rest.split_at(num_len);
        let number =
            Decimal::parse(num).ok_or_else(|| DurationError::NotANumber { text: text.into() })?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let scale = UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, nanos)| *nanos)
            .ok_or_else(|| DurationError::UnknownUnit {
                text: text.into(),
                unit: unit.into(),
            })?;
        total = number
            .times(scale)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(too_long)?;
        rest = next;
    }
    let secs = u64::try_from(total / NANOS_PER_SECOND).map_err(|_| too_long())?;
    Ok(Duration::new(secs, (total % NANOS_PER_SECOND) as u32))
}

/// A number as written: digits, at most one `.`, at least one digit.
struct Decimal<'t> {
    whole: &'t str,
    fraction: &'t str,
}

impl<'t> Decimal<'t> {
    /// `num` holds only ASCII digits and dots.
    fn parse(num: &'t str) -> Option<Decimal<'t>> {
        let (whole, fraction) = num.split_once('.').unwrap_or((num, ""));
        if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
            return None;
        }
        Some(Decimal { whole, fraction })
    }

    /// The number times `scale`, rounded to a whole number (half up);
    /// `None` on overflow.
    fn times(&self, scale: u128) -> Option<u128> {
        let mut whole: u128 = 0;
        for d in self.whole.bytes() {
            whole = whole.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
        }
        let digits = &self.fraction[..self.fraction.len().min(FRACTION_DIGITS)];
        let (mut fraction, mut denominator) = (0u128, 1u128);
        for d in digits.bytes() {
            fraction = fraction * 10 + u128::from(d - b'0');
            denominator *= 10;
        }
        // fraction < 10^20 and scale <= 8.64 * 10^13: no overflow.
        let part = (fraction * scale + denominator / 2) / denominator;
        whole.checked_mul(scale)?.checked_add(part)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Result<Duration, DurationError> {
        Ok(Duration::from_secs(s))
    }

    /// What etcdctl's timeouts take: Go durations, a bare number is seconds.
    #[test]
    fn durations_as_etcdctl_takes_them() {
        assert_eq!(parse_duration("5s"), secs(5));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), secs(90));
        assert_eq!(parse_duration("2"), secs(2));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
    }

    /// What a timeline's `--since` takes: whole seconds, minutes, hours,
    /// days; an RFC 3339 time is not a duration.
    #[test]
    fn durations_as_a_timeline_takes_them() {
        assert_eq!(parse_duration("2h"), secs(7200));
        assert_eq!(parse_duration("15m"), secs(900));
        assert_eq!(parse_duration("1d"), secs(86400));
        assert_eq!(parse_duration("30s"), secs(30));
        assert!(parse_duration("2026-11-20T09:00:00Z").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("yesterday").is_err());
    }

    /// Fractions, every unit, parts that add up, white space around.
    #[test]
    fn fractions_units_and_sums() {
        assert_eq!(parse_duration("1.5h"), secs(5400));
        assert_eq!(parse_duration("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5.s"), secs(5));
        assert_eq!(parse_duration("1.1m"), secs(66));
        assert_eq!(parse_duration("0.25d"), secs(21_600));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("3us"), Ok(Duration::from_micros(3)));
        assert_eq!(parse_duration("3µs"), Ok(Duration::from_micros(3)));
        assert_eq!(
            parse_duration("1d2h3m4s5ms"),
            Ok(Duration::new(93_784, 5_000_000))
        );
        assert_eq!(parse_duration("5s5s"), secs(10));
        assert_eq!(parse_duration(" 2h\n"), secs(7200));
        assert_eq!(parse_duration("0.0000000015s"), Ok(Duration::from_nanos(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1e3"), secs(1000));
    }

    /// The messages name the text and what was wrong with it.
    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(parse_duration("  "), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("5 parsecs").unwrap_err().to_string(),
            "5 parsecs: unknown unit \" parsecs\" (ms, s, m, h)"
        );
        assert_eq!(
            parse_duration("5s3").unwrap_err().to_string(),
            "5s3: missing unit (ms, s, m, h)"
        );
        assert_eq!(
            parse_duration("1.2.3s").unwrap_err().to_string(),
            "1.2.3s: not a duration (e.g. 5s, 500ms, 1m30s)"
        );
        assert!(parse_duration(".s").is_err());
        assert!(parse_duration("-5").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("inf").is_err());
        assert!(parse_duration("1e3s").is_err());
    }

    /// Whole seconds up to `u64::MAX` are exact; beyond is an error.
    #[test]
    fn large_values_are_exact_or_refused() {
        assert_eq!(
            parse_duration("9007199254740993s"),
            secs(9_007_199_254_740_993)
        );
        assert_eq!(
            parse_duration("213503982334601d"),
            secs(213_503_982_334_601 * 86_400)
        );
        assert_eq!(parse_duration("18446744073709551615s"), secs(u64::MAX));
        assert_eq!(
            parse_duration("18446744073709551616s"),
            Err(DurationError::TooLong {
                text: "18446744073709551616s".into()
            })
        );
        assert!(parse_duration("99999999999999999999d").is_err());
        assert!(parse_duration(&format!("{}h", "9".repeat(60))).is_err());
    }
}
