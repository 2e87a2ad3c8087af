//! Durations as people write them (`2s`, `500ms`, `1.5s`, `2m`) and as
//! people read them (`1.5s`, `212µs`).

use std::time::Duration;

/// Units accepted after the number, with their length in seconds.
const UNITS: &[(&str, f64)] = &[
    ("ns", 1e-9),
    ("us", 1e-6),
    ("µs", 1e-6),
    ("ms", 1e-3),
    ("s", 1.0),
    ("m", 60.0),
    ("h", 3600.0),
];

/// Parses `<number><unit>`: a decimal number (`2`, `1.5`, `.5`) and one of
/// `ns`, `us`/`µs`, `ms`, `s`, `m`, `h`. A unit is required, so `2` is
/// refused rather than guessed; so is zero, which no flag can use (an
/// interval, a timeout, a run's length).
///
/// # Errors
/// A sentence saying what was expected, for clap to show.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let expected = || format!("{text:?} is not a duration: expected e.g. 2s, 500ms, 1.5s or 2m");
    let Some(&(_, seconds)) = UNITS.iter().find(|(name, _)| *name == unit.trim()) else {
        return Err(expected());
    };
    let value: f64 = number.parse().map_err(|_| expected())?;
    match Duration::try_from_secs_f64(value * seconds) {
        Ok(duration) if duration.is_zero() => Err(format!("{text:?}: must be more than zero")),
        Ok(duration) => Ok(duration),
        Err(_) => Err(expected()),
    }
}

/// The duration in the largest unit that keeps it readable: `1.5s`,
/// `2.13ms`, `212µs`, `850ns`.
pub(crate) fn display(duration: Duration) -> String {
    let secs = duration.as_secs_f64();
    if secs >= 1.0 {
        trim(format!("{secs:.3}")) + "s"
    } else if secs >= 1e-3 {
        trim(format!("{:.3}", secs * 1e3)) + "ms"
    } else if secs >= 1e-6 {
        trim(format!("{:.1}", secs * 1e6)) + "µs"
    } else {
        format!("{}ns", duration.as_nanos())
    }
}

/// `2.500` → `2.5`, `2.000` → `2`.
fn trim(number: String) -> String {
    if number.contains('.') {
        number
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    } else {
        number
    }
}

/// A duration in milliseconds, as a float (for JSON and for rtt lines).
pub(crate) fn millis(duration: Duration) -> f64 {
    // From whole nanoseconds, so 0.194037 ms prints as such.
    duration.as_nanos() as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        assert_eq!(parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("250µs"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("10ns"), Ok(Duration::from_nanos(10)));
        assert_eq!(parse(" 3s "), Ok(Duration::from_secs(3)));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "2", "s", "2 seconds", "1.2.3s", "-1s", "2x", "ms5"] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains("not a duration"), "{bad}: {err}");
        }
        for zero in ["0s", "0.0ms", "0h"] {
            assert!(
                parse(zero).unwrap_err().contains("more than zero"),
                "{zero}"
            );
        }
    }

    #[test]
    fn displays_readably() {
        assert_eq!(display(Duration::from_millis(1500)), "1.5s");
        assert_eq!(display(Duration::from_secs(2)), "2s");
        assert_eq!(display(Duration::from_micros(2130)), "2.13ms");
        assert_eq!(display(Duration::from_micros(212)), "212µs");
        assert_eq!(display(Duration::from_nanos(850)), "850ns");
    }
}
