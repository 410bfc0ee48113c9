//! Kubernetes timestamps: `metav1.Time` and `metav1.MicroTime`, stored in
//! protobuf as `Timestamp { int64 seconds = 1; int32 nanos = 2; }` (Unix
//! time), printed in JSON as RFC 3339 in UTC with a `Z` suffix.
//!
//! Kubernetes' rules (apimachinery `time.go`, `time_proto.go`,
//! `micro_time.go`, `micro_time_proto.go`):
//! * an empty `Timestamp` message is Go's zero time, printed as JSON `null`;
//!   so is any value equal to the zero time (0001-01-01T00:00:00Z);
//! * `Time` ignores `nanos` on decode and prints whole seconds
//!   (`2006-01-02T15:04:05Z07:00`);
//! * `MicroTime` keeps `nanos` (normalised like Go's `time.Unix`: out-of-range
//!   nanos carry into seconds) and prints exactly six fractional digits,
//!   truncated, not rounded (`2006-01-02T15:04:05.000000Z07:00`).
//!
//! Out-of-range times: Go's formatter does not fail on years outside
//! 0000..=9999, it prints them as they are: a year below zero as `-` and at
//! least four digits (`-0001-…`), a year above 9999 with all its digits
//! (`10000-…`). This module does the same, using the proleptic Gregorian
//! calendar over the whole `i64` range, so a corrupt or hostile timestamp is
//! kept and shown the way `kubectl` would show it instead of failing the
//! decode. (Go itself wraps around for |seconds| within ~6·10^10 of the `i64`
//! limits; there we print the arithmetically correct date.) Such strings do
//! not sort correctly as text against normal ones, which is acceptable for
//! values no API server writes.

use crate::proto::meta::v1::{MicroTime, Time};

/// Unix seconds of Go's zero `time.Time`, 0001-01-01T00:00:00Z.
pub(crate) const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

const SECONDS_PER_DAY: i64 = 86_400;
const NANOS_PER_SECOND: i32 = 1_000_000_000;

/// Renders a `metav1.Time` holding `seconds` as Kubernetes prints it in JSON:
/// RFC 3339, UTC, whole seconds, e.g. `2008-01-01T01:01:01Z`. `None` means
/// Kubernetes prints `null` (the value is Go's zero time).
pub fn format_time(seconds: i64) -> Option<String> {
    if seconds == GO_ZERO_TIME_UNIX {
        return None;
    }
    let mut out = String::with_capacity(20);
    write_date_time(
        &mut out,
        seconds.div_euclid(SECONDS_PER_DAY),
        seconds.rem_euclid(SECONDS_PER_DAY),
    );
    out.push('Z');
    Some(out)
}

/// Renders a `metav1.MicroTime` as Kubernetes prints it in JSON: RFC 3339,
/// UTC, exactly six fractional digits, e.g. `2010-01-01T01:01:01.000010Z`.
/// `nanos` outside `0..1e9` carries into the seconds. `None` means Kubernetes
/// prints `null` (the value is Go's zero time).
pub fn format_micro_time(seconds: i64, nanos: i32) -> Option<String> {
    let (days, second_of_day, nanos) = normalise(seconds, nanos);
    let zero_days = GO_ZERO_TIME_UNIX.div_euclid(SECONDS_PER_DAY);
    if days == zero_days && second_of_day == 0 && nanos == 0 {
        return None;
    }
    Some(micro_text(days, second_of_day, nanos))
}

/// The text every time in the database has, for any instant: what
/// [`format_micro_time`] prints, Go's zero time included (a time the user
/// names, such as a query bound, is a time, not a null).
pub fn format_micro(seconds: i64, nanos: i32) -> String {
    let (days, second_of_day, nanos) = normalise(seconds, nanos);
    micro_text(days, second_of_day, nanos)
}

/// (days since 1970-01-01, second of the day, nanoseconds 0..1e9) of
/// `seconds` and `nanos`, the nanos' overflow carried into the seconds.
fn normalise(seconds: i64, nanos: i32) -> (i64, i64, i32) {
    let carry = i64::from(nanos.div_euclid(NANOS_PER_SECOND));
    let nanos = nanos.rem_euclid(NANOS_PER_SECOND);
    // Split before adding the carry so that extreme seconds cannot overflow.
    let mut days = seconds.div_euclid(SECONDS_PER_DAY);
    let mut second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) + carry;
    if second_of_day < 0 {
        days -= 1;
        second_of_day += SECONDS_PER_DAY;
    } else if second_of_day >= SECONDS_PER_DAY {
        days += 1;
        second_of_day -= SECONDS_PER_DAY;
    }
    (days, second_of_day, nanos)
}

/// `YYYY-MM-DDThh:mm:ss.ffffffZ`, the microseconds truncated.
fn micro_text(days: i64, second_of_day: i64, nanos: i32) -> String {
    let mut out = String::with_capacity(27);
    write_date_time(&mut out, days, second_of_day);
    out.push('.');
    let micros = nanos / 1_000;
    push_digits(&mut out, micros.unsigned_abs(), 6);
    out.push('Z');
    out
}

/// JSON text of a decoded `metav1.Time`; `None` where Kubernetes prints
/// `null` (empty message or zero time).
pub(crate) fn time_text(time: &Time) -> Option<String> {
    if time.seconds.is_none() && time.nanos.is_none() {
        return None;
    }
    // Go's Time.Unmarshal drops nanos: time.Unix(p.Seconds, 0).
    format_time(time.seconds.unwrap_or(0))
}

/// JSON text of a decoded `metav1.MicroTime`; `None` where Kubernetes prints
/// `null` (empty message or zero time).
pub(crate) fn micro_time_text(time: &MicroTime) -> Option<String> {
    if time.seconds.is_none() && time.nanos.is_none() {
        return None;
    }
    format_micro_time(time.seconds.unwrap_or(0), time.nanos.unwrap_or(0))
}

/// Writes `YYYY-MM-DDThh:mm:ss` for `days` since 1970-01-01 plus
/// `second_of_day` (0..86400).
fn write_date_time(out: &mut String, days: i64, second_of_day: i64) {
    let (year, month, day) = civil_from_days(days);
    write_year(out, year);
    out.push('-');
    push_digits(out, month, 2);
    out.push('-');
    push_digits(out, day, 2);
    out.push('T');
    let second_of_day = second_of_day.unsigned_abs() as u32;
    push_digits(out, second_of_day / 3600, 2);
    out.push(':');
    push_digits(out, second_of_day / 60 % 60, 2);
    out.push(':');
    push_digits(out, second_of_day % 60, 2);
}

/// Go's `appendInt(year, 4)`: sign, then at least four digits.
fn write_year(out: &mut String, year: i64) {
    if year < 0 {
        out.push('-');
    }
    let magnitude = year.unsigned_abs();
    if magnitude < 10_000 {
        push_digits(out, magnitude as u32, 4);
    } else {
        out.push_str(&magnitude.to_string());
    }
}

/// Appends `value` as exactly `width` decimal digits (`value` < 10^width).
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width.saturating_sub(1));
    while divisor > 0 {
        let digit = (value / divisor % 10) as u8;
        out.push(char::from(b'0' + digit));
        divisor /= 10;
    }
}

/// Proleptic Gregorian (year, month, day) of `days` since 1970-01-01; exact
/// for every `i64` day count that `i64` seconds can produce (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097; // 0..=146096
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Microseconds since 1970-01-01T00:00:00Z of a time as the database
/// writes it — `YYYY-MM-DDThh:mm:ssZ` or with 1 to 9 fractional digits
/// (truncated to microseconds), UTC, and years as [`format_time`] prints
/// them (a sign, more than four digits). `None` for any other text, and
/// for a time outside what `i64` microseconds hold (about ±292,000 years).
pub fn parse_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let (negative, rest) = match b.first()? {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    let year_len = rest.iter().position(|&c| c == b'-')?;
    if !(4..=12).contains(&year_len) {
        return None;
    }
    let magnitude = digits(&rest[..year_len])?;
    let year = if negative { -magnitude } else { magnitude };
    let t = &rest[year_len..];
    // -MM-DDThh:mm:ss then [.f…]Z
    if t.len() < 16 || t[0] != b'-' || t[3] != b'-' || t[6] != b'T' || t[9] != b':' || t[12] != b':'
    {
        return None;
    }
    let month = digits(&t[1..3])?;
    let day = digits(&t[4..6])?;
    let (hour, minute, second) = (digits(&t[7..9])?, digits(&t[10..12])?, digits(&t[13..15])?);
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let micros = match &t[15..] {
        [b'Z'] => 0,
        [b'.', fraction @ .., b'Z'] if (1..=9).contains(&fraction.len()) => {
            let value = digits(fraction)?;
            let scale = 10i64.pow(9 - fraction.len() as u32);
            value * scale / 1_000
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    days.checked_mul(SECONDS_PER_DAY * 1_000_000)?
        .checked_add((hour * 3600 + minute * 60 + second) * 1_000_000 + micros)
}

/// The value of ASCII decimal digits (at most 18 of them); `None` for
/// anything else.
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    b.iter().try_fold(0i64, |n, &c| {
        c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
    })
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`, the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_second_times() {
        assert_eq!(format_time(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(
            format_time(1_199_149_261).as_deref(),
            Some("2008-01-01T01:01:01Z")
        );
        assert_eq!(format_time(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            format_time(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
    }

    #[test]
    fn go_zero_time_is_null() {
        assert_eq!(format_time(GO_ZERO_TIME_UNIX), None);
        assert_eq!(format_micro_time(GO_ZERO_TIME_UNIX, 0), None);
        assert_eq!(
            format_micro_time(GO_ZERO_TIME_UNIX, 1_000).as_deref(),
            Some("0001-01-01T00:00:00.000001Z")
        );
        // Reached through a nanos carry.
        assert_eq!(
            format_micro_time(GO_ZERO_TIME_UNIX - 1, 1_000_000_000),
            None
        );
        assert_eq!(
            format_time(GO_ZERO_TIME_UNIX + 1).as_deref(),
            Some("0001-01-01T00:00:01Z")
        );
    }

    #[test]
    fn micro_times_have_six_truncated_digits() {
        assert_eq!(
            format_micro_time(1_262_307_661, 10_000).as_deref(),
            Some("2010-01-01T01:01:01.000010Z")
        );
        assert_eq!(
            format_micro_time(0, 999_999_999).as_deref(),
            Some("1970-01-01T00:00:00.999999Z")
        );
        assert_eq!(
            format_micro_time(0, 0).as_deref(),
            Some("1970-01-01T00:00:00.000000Z")
        );
        // Out-of-range nanos normalise like Go's time.Unix.
        assert_eq!(
            format_micro_time(0, -1_000).as_deref(),
            Some("1969-12-31T23:59:59.999999Z")
        );
        assert_eq!(
            format_micro_time(0, 2_000_000_500).as_deref(),
            Some("1970-01-01T00:00:02.000000Z")
        );
        assert_eq!(
            format_micro_time(0, i32::MIN).as_deref(),
            Some("1969-12-31T23:59:57.852516Z")
        );
    }

    /// `format_micro` prints what `format_micro_time` prints, and the zero
    /// time too.
    #[test]
    fn database_time_text_of_any_instant() {
        assert_eq!(
            format_micro(GO_ZERO_TIME_UNIX, 0),
            "0001-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            format_micro(GO_ZERO_TIME_UNIX - 1, 1_000_000_000),
            "0001-01-01T00:00:00.000000Z"
        );
        for (seconds, nanos) in [(1_795_167_000, 250_000_999), (0, -1_000), (-1, 5)] {
            assert_eq!(
                Some(format_micro(seconds, nanos)),
                format_micro_time(seconds, nanos)
            );
        }
        assert_eq!(
            format_micro(1_795_167_000, 123_456_789),
            "2026-11-20T09:30:00.123456Z"
        );
    }

    #[test]
    fn years_beyond_four_digits_print_like_go() {
        assert_eq!(
            format_time(253_402_300_799).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(
            format_time(253_402_300_800).as_deref(),
            Some("10000-01-01T00:00:00Z")
        );
        assert_eq!(
            format_time(-62_167_219_200).as_deref(),
            Some("0000-01-01T00:00:00Z")
        );
        assert_eq!(
            format_time(-62_167_219_201).as_deref(),
            Some("-0001-12-31T23:59:59Z")
        );
    }

    #[test]
    fn extreme_values_do_not_panic() {
        for seconds in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            for nanos in [i32::MIN, -1, 0, 1, i32::MAX] {
                let text = format_micro_time(seconds, nanos).expect("not the zero time");
                assert!(text.ends_with('Z'), "{text}");
            }
            assert!(format_time(seconds).is_some());
        }
        assert_eq!(
            format_time(i64::MAX).as_deref(),
            Some("292277026596-12-04T15:30:07Z")
        );
        assert_eq!(
            format_time(i64::MIN).as_deref(),
            Some("-292277022657-01-27T08:29:52Z")
        );
    }

    #[test]
    fn agrees_with_the_time_crate_on_four_digit_years() {
        let format = time::format_description::well_known::Rfc3339;
        let mut seconds = -62_135_596_799i64; // 0001-01-01T00:00:01Z
        while seconds < 253_402_300_799 {
            let expected = time::OffsetDateTime::from_unix_timestamp(seconds)
                .unwrap()
                .format(&format)
                .unwrap();
            assert_eq!(format_time(seconds).unwrap(), expected, "{seconds}");
            seconds += 9_999_991; // about 116 days, a prime step
        }
    }

    #[test]
    fn empty_timestamp_messages_are_null() {
        assert_eq!(time_text(&Time::default()), None);
        assert_eq!(micro_time_text(&MicroTime::default()), None);
        let epoch = Time {
            seconds: Some(0),
            nanos: None,
        };
        assert_eq!(time_text(&epoch).as_deref(), Some("1970-01-01T00:00:00Z"));
        // A nanos-only message is not empty: Go decodes it as the epoch, and
        // Time drops the nanos.
        let nanos_only = Time {
            seconds: None,
            nanos: Some(5),
        };
        assert_eq!(
            time_text(&nanos_only).as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        let micro = MicroTime {
            seconds: None,
            nanos: Some(5_000),
        };
        assert_eq!(
            micro_time_text(&micro).as_deref(),
            Some("1970-01-01T00:00:00.000005Z")
        );
    }

    #[test]
    fn parses_what_it_prints() {
        for seconds in [
            0i64,
            -1,
            1_795_167_000,
            951_782_400,
            GO_ZERO_TIME_UNIX,
            253_402_300_800,
            -62_167_219_201,
        ] {
            let whole = format_time(seconds).unwrap_or_else(|| "0001-01-01T00:00:00Z".into());
            assert_eq!(parse_micros(&whole), Some(seconds * 1_000_000), "{whole}");
            let micro = format_micro(seconds, 123_456_789);
            assert_eq!(
                parse_micros(&micro),
                Some(seconds * 1_000_000 + 123_456),
                "{micro}"
            );
        }
        assert_eq!(
            parse_micros("2026-11-20T09:30:00.5Z"),
            Some(1_795_167_000_500_000)
        );
        assert_eq!(
            parse_micros("2026-11-20T09:30:00.123456789Z"),
            Some(1_795_167_000_123_456)
        );
        for bad in [
            "",
            "2026-11-20",
            "2026-11-20T09:30:00",
            "2026-11-20T09:30:00+01:00",
            "2026-02-30T00:00:00Z",
            "2026-11-20T24:00:00Z",
            "2026-11-20T09:30:00.Z",
            "2026-11-20 09:30:00Z",
            "26-11-20T09:30:00Z",
        ] {
            assert_eq!(parse_micros(bad), None, "{bad}");
        }
        // Beyond i64 microseconds.
        assert_eq!(parse_micros(&format_time(i64::MAX).unwrap()), None);
    }
}
