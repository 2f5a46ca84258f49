//! The two time formats SigV4 uses, as seconds since the Unix epoch; no
//! time-zone database, no allocation.

use core::num::Wrapping as W;

/// Parses an ISO 8601 basic timestamp `YYYYMMDDTHHMMSSZ` (`x-amz-date`).
#[must_use]
pub fn parse_amz_date(s: &[u8]) -> Option<i64> {
    if s.len() != 16 || s[8] != b'T' || s[15] != b'Z' {
        return None;
    }
    civil_to_unix(
        decimal(&s[0..4])?,
        decimal(&s[4..6])?,
        decimal(&s[6..8])?,
        decimal(&s[9..11])?,
        decimal(&s[11..13])?,
        decimal(&s[13..15])?,
    )
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the `Date` header
/// form SigV4 accepts when `x-amz-date` is absent.
#[must_use]
pub fn parse_http_date(s: &[u8]) -> Option<i64> {
    let s = core::str::from_utf8(s).ok()?;
    let mut parts = s.split(' ');
    let (_weekday, day, month, year, time, zone) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    if parts.next().is_some()
        || zone != "GMT"
        || day.len() != 2
        || year.len() != 4
        || time.len() != 8
    {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (_, month) = MONTHS.iter().zip(1..).find(|(m, _)| **m == month)?;
    let mut hms = time.split(':');
    let (h, m, sec) = (hms.next()?, hms.next()?, hms.next()?);
    let p = |t: &str| decimal(t.as_bytes());
    civil_to_unix(p(year)?, month, p(day)?, p(h)?, p(m)?, p(sec)?)
}

/// A non-empty run of ASCII digits as a number; None for anything else or
/// a number past i64::MAX.
fn decimal(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0i64, |n, &b| {
        n.checked_mul(10)?
            .checked_add(i64::from(char::from(b).to_digit(10)?))
    })
}

/// Formats seconds since the epoch as `YYYYMMDDTHHMMSSZ`.
#[must_use]
pub fn format_amz_date(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = unix_to_civil(unix);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// The client's date and time as seconds since the epoch; None for a date
/// or time that does not exist. The parsers give at most four-digit years,
/// but the arithmetic is checked for any input.
fn civil_to_unix(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo)
        || !(1..=days_in_month(y, mo)).contains(&d)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=60).contains(&s)
    {
        return None;
    }
    let seconds_of_day = h
        .checked_mul(3600)?
        .checked_add(mi.checked_mul(60)?)?
        .checked_add(s)?;
    days_from_civil(y, mo, d)?
        .checked_mul(86_400)?
        .checked_add(seconds_of_day)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm), for a month in 1..=12 and a day in 1..=31; None when the
/// year is so far out that the day count overflows.
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    // Years counted from March, so that the leap day ends them; the month
    // becomes 0 for March .. 11 for February.
    let (y, mp) = if m > 2 {
        (y, m.checked_sub(3)?)
    } else {
        (y.checked_sub(1)?, m.checked_add(9)?)
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (mp.checked_mul(153)?.checked_add(2)? / 5).checked_add(d.checked_sub(1)?)?;
    let doe = yoe
        .checked_mul(365)?
        .checked_add(yoe / 4)?
        .checked_sub(yoe / 100)?
        .checked_add(doy)?;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// Seconds since the epoch to (year, month, day, hour, minute, second), UTC.
/// Defined for every i64.
#[must_use]
pub fn unix_to_civil(unix: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's algorithm. For any i64, |days| < 2^47 and every
    // value below is within a few times that (the ones of an era, 0 to
    // 146_096, far less), so the wrapping operations never wrap.
    let z = (W(days) + W(719_468)).0;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (W(doe) - W(doe / 1460) + W(doe / 36_524) - W(doe / 146_096)).0 / 365;
    let doy = (W(doe) - (W(365) * W(yoe) + W(yoe / 4) - W(yoe / 100))).0;
    let mp = (W(5) * W(doy) + W(2)).0 / 153;
    let d = (W(doy) - W((W(153) * W(mp) + W(2)).0 / 5) + W(1)).0;
    let m = if mp < 10 { W(mp) + W(3) } else { W(mp) - W(9) }.0;
    let y = (W(yoe) + W(era) * W(400) + W(i64::from(m <= 2))).0;
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(parse_amz_date(b"19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date(b"20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(
            parse_http_date(b"Fri, 24 May 2013 00:00:00 GMT"),
            Some(1_369_353_600)
        );
        assert_eq!(parse_amz_date(b"20240229T235959Z"), Some(1_709_251_199));
        assert_eq!(format_amz_date(1_709_251_199), "20240229T235959Z");
        assert_eq!(format_amz_date(1_369_353_600), "20130524T000000Z");
    }

    #[test]
    fn malformed_dates() {
        for bad in [
            "20130524T000000",
            "20130524 000000Z",
            "20130230T000000Z",
            "2013052AT000000Z",
            "20131324T000000Z",
            "20130524T240000Z",
        ] {
            assert_eq!(parse_amz_date(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_http_date(b"Fri, 24 May 2013 00:00:00 UTC"), None);
        assert_eq!(parse_http_date(b"Fri, 24 Mai 2013 00:00:00 GMT"), None);
    }

    /// The ends of what the parsers accept (four-digit years), and of i64.
    #[test]
    fn extremes() {
        const YEAR_0: i64 = -62_167_219_200;
        const END_OF_9999: i64 = 253_402_300_799;
        assert_eq!(parse_amz_date(b"00000101T000000Z"), Some(YEAR_0));
        assert_eq!(parse_amz_date(b"99991231T235959Z"), Some(END_OF_9999));
        assert_eq!(parse_amz_date(b"99991231T235960Z"), Some(END_OF_9999 + 1));
        assert_eq!(
            parse_http_date(b"Sat, 01 Jan 0000 00:00:00 GMT"),
            Some(YEAR_0)
        );
        assert_eq!(
            parse_http_date(b"Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(END_OF_9999)
        );
        assert_eq!(format_amz_date(YEAR_0), "00000101T000000Z");
        assert_eq!(format_amz_date(END_OF_9999), "99991231T235959Z");
        // Every i64 has a date (chrono and Java agree on these two).
        assert_eq!(unix_to_civil(i64::MAX), (292_277_026_596, 12, 4, 15, 30, 7));
        assert_eq!(
            unix_to_civil(i64::MIN),
            (-292_277_022_657, 1, 27, 8, 29, 52)
        );
        assert_eq!(format_amz_date(i64::MAX), "2922770265961204T153007Z");
        // Years no parser yields: the checked arithmetic refuses them
        // (the old code overflowed).
        assert_eq!(civil_to_unix(i64::MAX, 12, 31, 23, 59, 59), None);
        assert_eq!(civil_to_unix(i64::MIN, 1, 1, 0, 0, 0), None);
        assert_eq!(
            civil_to_unix(292_277_026_596, 12, 4, 15, 30, 7),
            Some(i64::MAX)
        );
        assert_eq!(civil_to_unix(292_277_026_596, 12, 4, 15, 30, 8), None);
        // The day of i64::MIN starts before it: refused (its product with
        // 86 400 overflows), never wrapped.
        assert_eq!(civil_to_unix(-292_277_022_657, 1, 27, 8, 29, 52), None);
        assert_eq!(
            civil_to_unix(-292_277_022_657, 1, 28, 0, 0, 0),
            Some(i64::MIN + 55_808)
        );
        // Numbers too long for their field.
        assert_eq!(parse_http_date(b"Fri, 31 Dec 9999 99999:9:9 GMT"), None);
        assert_eq!(decimal(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(decimal(b"9223372036854775808"), None);
        assert_eq!(decimal(b""), None);
    }

    /// Every day of the years the parsers accept has the day number one
    /// more than the day before.
    #[test]
    fn days_from_civil_counts_every_day_of_years_0_to_9999() {
        let mut expected = days_from_civil(0, 1, 1).unwrap();
        assert_eq!(expected, -719_528);
        for y in 0..=9999 {
            for m in 1..=12 {
                for d in 1..=days_in_month(y, m) {
                    assert_eq!(days_from_civil(y, m, d), Some(expected), "{y}-{m}-{d}");
                    assert_eq!(unix_to_civil(expected * 86_400), (y, m, d, 0, 0, 0));
                    expected += 1;
                }
            }
        }
        assert_eq!(expected, 2_932_897);
    }

    #[test]
    fn round_trip_many_instants() {
        for unix in (-10_000_000_000i64..10_000_000_000).step_by(86_399_917) {
            assert_eq!(
                parse_amz_date(format_amz_date(unix).as_bytes()),
                Some(unix),
                "{unix}"
            );
        }
    }
}
