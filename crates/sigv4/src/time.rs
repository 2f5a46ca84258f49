//! The two time formats SigV4 uses (ISO 8601 basic for `x-amz-date`, the
//! HTTP-date forms for `Date`), as seconds since the Unix epoch; no
//! time-zone database, no clock, no allocation.

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

/// Parses an ISO 8601 extended UTC timestamp, `2026-12-07T12:00:00Z` or
/// with a fraction of a second (`...:00.000Z`, ignored), as POST policies
/// write their expiration.
#[must_use]
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let s = text.as_bytes();
    let (main, rest) = (s.get(..19)?, s.get(19..)?);
    if main[4] != b'-'
        || main[7] != b'-'
        || main[10] != b'T'
        || main[13] != b':'
        || main[16] != b':'
    {
        return None;
    }
    let zone_ok = match rest {
        [b'Z'] => true,
        [b'.', digits @ .., b'Z'] => {
            !digits.is_empty() && digits.len() <= 9 && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    if !zone_ok {
        return None;
    }
    civil_to_unix(
        decimal(&main[0..4])?,
        decimal(&main[5..7])?,
        decimal(&main[8..10])?,
        decimal(&main[11..13])?,
        decimal(&main[14..16])?,
        decimal(&main[17..19])?,
    )
}

/// Parses an HTTP-date (RFC 9110 section 5.6.7) as seconds since the epoch:
/// the one parser of the `Date` header SigV4 reads when `x-amz-date` is
/// absent and of the conditional request headers.
///
/// Accepted, each exactly (names and `GMT` are case-sensitive, the weekday
/// MUST be the one of the date):
/// - IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`;
/// - the same with a numeric zone, `Sun, 06 Nov 1994 08:49:37 -0000`, as
///   email-style formatters write it (RFC 5322 section 3.3; botocore's
///   `formatdate`). Any `+HHMM`/`-HHMM` is applied, the written time being
///   local time at that offset: it names one instant, so reading it as UTC
///   would be hours wrong, and refusing it would refuse a client whose only
///   fault is its time zone;
/// - RFC 850, `Sunday, 06-Nov-94 08:49:37 GMT`, its two-digit year placed
///   within 50 years of `now` (seconds since the epoch) as RFC 9110 says:
///   a year more than 50 years ahead is the century before;
/// - asctime, `Sun Nov  6 08:49:37 1994`, in UTC.
///
/// None for anything else; the caller MUST refuse a request dated by it
/// (SigV4) or ignore the header (RFC 9110 sections 13.1.3 and 13.1.4).
#[must_use]
pub fn parse_http_date(s: &[u8], now: i64) -> Option<i64> {
    match s.get(3)? {
        b',' => imf_fixdate(s),
        b' ' => asctime(s),
        _ => rfc850(s, now),
    }
}

const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
const DAY_NAMES: [&[u8]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const LONG_DAY_NAMES: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];

/// `Sun, 06 Nov 1994 08:49:37 GMT` or `... +HHMM`.
fn imf_fixdate(s: &[u8]) -> Option<i64> {
    let (date, zone) = (s.get(..25)?, s.get(25..)?);
    if date[3..5] != *b", " || date[7] != b' ' || date[11] != b' ' || date[16] != b' ' {
        return None;
    }
    let offset = match zone {
        b" GMT" => 0,
        [b' ', sign @ (b'+' | b'-'), hhmm @ ..] if hhmm.len() == 4 => {
            // RFC 5322: hours 00-99, minutes 00-59.
            let (h, m) = (decimal(&hhmm[..2])?, decimal(&hhmm[2..])?);
            if m > 59 {
                return None;
            }
            let east = h.checked_mul(3600)?.checked_add(m.checked_mul(60)?)?;
            if *sign == b'-' {
                east.checked_neg()?
            } else {
                east
            }
        }
        _ => return None,
    };
    let local = instant(
        &DAY_NAMES,
        &date[..3],
        decimal(&date[12..16])?,
        &date[8..11],
        decimal(&date[5..7])?,
        &date[17..25],
    )?;
    local.checked_sub(offset)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`.
fn rfc850(s: &[u8], now: i64) -> Option<i64> {
    let comma = s.iter().position(|&b| b == b',')?;
    let (name, rest) = (&s[..comma], &s[comma..]);
    if rest.len() != 24
        || rest[..2] != *b", "
        || rest[4] != b'-'
        || rest[8] != b'-'
        || rest[11] != b' '
        || rest[20..] != *b" GMT"
    {
        return None;
    }
    let year = two_digit_year(decimal(&rest[9..11])?, now)?;
    instant(
        &LONG_DAY_NAMES,
        name,
        year,
        &rest[5..8],
        decimal(&rest[2..4])?,
        &rest[12..20],
    )
}

/// `Sun Nov  6 08:49:37 1994`: the day is two digits or a space and one.
fn asctime(s: &[u8]) -> Option<i64> {
    if s.len() != 24 || s[3] != b' ' || s[7] != b' ' || s[10] != b' ' || s[19] != b' ' {
        return None;
    }
    let day = match &s[8..10] {
        [b' ', d] => decimal(&[*d])?,
        dd => decimal(dd)?,
    };
    instant(
        &DAY_NAMES,
        &s[..3],
        decimal(&s[20..24])?,
        &s[4..7],
        day,
        &s[11..19],
    )
}

/// The instant of a date and an `HH:MM:SS` time written in UTC, when
/// `day_name` (one of `names`, Sunday first) is that date's weekday.
fn instant(
    names: &[&[u8]; 7],
    day_name: &[u8],
    year: i64,
    month: &[u8],
    day: i64,
    hms: &[u8],
) -> Option<i64> {
    let (_, month) = MONTHS.iter().zip(1..).find(|(m, _)| **m == month)?;
    let [h1, h2, b':', m1, m2, b':', s1, s2] = *hms else {
        return None;
    };
    let t = civil_to_unix(
        year,
        month,
        day,
        decimal(&[h1, h2])?,
        decimal(&[m1, m2])?,
        decimal(&[s1, s2])?,
    )?;
    // 1970-01-01 was a Thursday.
    let weekday = days_from_civil(year, month, day)?
        .checked_add(4)?
        .rem_euclid(7);
    let name = names.get(usize::try_from(weekday).ok()?)?;
    (*name == day_name).then_some(t)
}

/// The year ending in `yy` that lies in the 100 years ending 50 years after
/// `now`'s: RFC 9110 makes a year more than 50 years ahead the century
/// before; one 50 or more years back is then the century after, so that
/// every two digits name exactly one year.
fn two_digit_year(yy: i64, now: i64) -> Option<i64> {
    let (this_year, ..) = unix_to_civil(now);
    let year = this_year
        .div_euclid(100)
        .checked_mul(100)?
        .checked_add(yy)?;
    if year > this_year.checked_add(50)? {
        year.checked_sub(100)
    } else if year <= this_year.checked_sub(50)? {
        year.checked_add(100)
    } else {
        Some(year)
    }
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

    /// 2026-12-01T00:00:00Z, the clock the RFC 850 years are placed by.
    const NOW: i64 = 1_796_083_200;

    /// Issue 13: botocore's SigV4 with a `Date` header writes it with
    /// `formatdate`, zone `-0000`; it was refused.
    #[test]
    fn issue_13_every_http_date_form() {
        const T: i64 = 1_795_952_739; // 2026-11-29T11:45:39Z
        for form in [
            "Sun, 29 Nov 2026 11:45:39 GMT",
            "Sun, 29 Nov 2026 11:45:39 -0000",
            "Sun, 29 Nov 2026 11:45:39 +0000",
            "Sun, 29 Nov 2026 12:45:39 +0100",
            "Sun, 29 Nov 2026 07:15:39 -0430",
            "Mon, 30 Nov 2026 01:45:39 +1400",
            "Wed, 25 Nov 2026 07:46:39 -9959",
            "Sunday, 29-Nov-26 11:45:39 GMT",
            "Sun Nov 29 11:45:39 2026",
        ] {
            assert_eq!(parse_http_date(form.as_bytes(), NOW), Some(T), "{form}");
        }
        // asctime's one-digit day, with a space or a zero before it.
        let t = Some(784_111_777);
        assert_eq!(parse_http_date(b"Sun Nov  6 08:49:37 1994", NOW), t);
        assert_eq!(parse_http_date(b"Sun Nov 06 08:49:37 1994", NOW), t);
        assert_eq!(parse_http_date(b"Sunday, 06-Nov-94 08:49:37 GMT", NOW), t);
        // The leap second, as the other forms take it.
        assert_eq!(
            parse_http_date(b"Wed, 31 Dec 2025 23:59:60 GMT", NOW),
            parse_http_date(b"Thu, 01 Jan 2026 00:00:00 GMT", NOW)
        );
    }

    /// RFC 9110 5.6.7: a two-digit year more than 50 years ahead of now is
    /// the century before; each two digits name one year of a 100-year
    /// window ending 50 years from now.
    #[test]
    fn rfc850_years_around_now() {
        let year = |d: &str, now| parse_http_date(d.as_bytes(), now).map(|t| unix_to_civil(t).0);
        // In 2026: 76 is 2076 (50 years ahead), 77 is 1977.
        assert_eq!(year("Wednesday, 01-Jan-76 00:00:00 GMT", NOW), Some(2076));
        assert_eq!(year("Saturday, 01-Jan-77 00:00:00 GMT", NOW), Some(1977));
        assert_eq!(year("Saturday, 01-Jan-00 00:00:00 GMT", NOW), Some(2000));
        // In 2099, 00 is 2100, not 99 years back; 49 is 2149, 50 is 2050.
        let in_2099 = 4_070_908_800;
        assert_eq!(year("Friday, 01-Jan-00 00:00:00 GMT", in_2099), Some(2100));
        assert_eq!(
            year("Saturday, 01-Jan-50 00:00:00 GMT", in_2099),
            Some(2050)
        );
        assert_eq!(year("Sunday, 01-Jan-50 00:00:00 GMT", in_2099), None);
        // Clocks at the ends of i64: an answer or None, never a panic.
        for now in [i64::MIN, i64::MAX] {
            let _ = year("Thursday, 01-Jan-70 00:00:00 GMT", now);
        }
    }

    #[test]
    fn malformed_http_dates() {
        for bad in [
            "",
            "Sun",
            "Sun,",
            "Sun, 29 Nov 2026 11:45:39",
            "Sun, 29 Nov 2026 11:45:39 UTC",
            "Sun, 29 Nov 2026 11:45:39 gmt",
            "Sun, 29 Nov 2026 11:45:39 GMT ",
            " Sun, 29 Nov 2026 11:45:39 GMT",
            "Sun, 29 Nov 2026 11:45:39 Z",
            "Sun, 29 Nov 2026 11:45:39 +000",
            "Sun, 29 Nov 2026 11:45:39 +00000",
            "Sun, 29 Nov 2026 11:45:39 +0060",
            "Sun, 29 Nov 2026 11:45:39 0000",
            "Sun, 29 Nov 2026 11:45:39 +-000",
            "Sun, 29 Nov 2026 11:45:39 EST",
            "Mon, 29 Nov 2026 11:45:39 GMT",
            "Sunday, 29 Nov 2026 11:45:39 GMT",
            "sun, 29 Nov 2026 11:45:39 GMT",
            "Sun, 29 nov 2026 11:45:39 GMT",
            "Sun, 29 Nov 26 11:45:39 GMT",
            "Sun, 9 Nov 2026 11:45:39 GMT",
            "Sun,  9 Nov 2026 11:45:39 GMT",
            "Sun, 29 Nov 2026 11:45 GMT",
            "Sun, 29 Nov 2026 11.45.39 GMT",
            "Sun, 29 Nov 2026 24:00:00 GMT",
            "Sun, 29 Nov 2026 11:60:00 GMT",
            "Sun, 29 Nov 2026 11:45:61 GMT",
            "Sun, 31 Nov 2026 11:45:39 GMT",
            "Sun, +9 Nov 2026 11:45:39 GMT",
            "Sun, 29 Nov +026 11:45:39 GMT",
            "Sun, 29-Nov-2026 11:45:39 GMT",
            "Sunday, 29-Nov-26 11:45:39 -0000",
            "Sunday, 29-Nov-26 11:45:39",
            "Sunday, 29-Nov-2026 11:45:39 GMT",
            "Monday, 29-Nov-26 11:45:39 GMT",
            "Sun, 29-Nov-26 11:45:39 GMT",
            "Sunday,29-Nov-26 11:45:39 GMT",
            ", 29-Nov-26 11:45:39 GMT",
            "Sun Nov 29 11:45:39 2026 GMT",
            "Sun Nov 29 11:45:39 26",
            "Sun Nov 9 11:45:39 2026",
            "Mon Nov 29 11:45:39 2026",
            "Sunday Nov 29 11:45:39 2026",
            "Sun Nov  0 11:45:39 2026",
            "Sun Nov 29 11:45:39  2026",
            "2026-11-29T11:45:39Z",
            "20261129T114539Z",
            "Sun, 29 Nov 2026 11:45:39 GMT\0",
            "Sun, 29 Nov 2026 11:45:39 \u{2212}0000",
        ] {
            assert_eq!(parse_http_date(bad.as_bytes(), NOW), None, "{bad:?}");
        }
        assert_eq!(
            parse_http_date(b"Sun, 29 Nov 2026 11:45:39 G\xffT", NOW),
            None
        );
    }

    #[test]
    fn known_instants() {
        assert_eq!(parse_amz_date(b"19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date(b"20130524T000000Z"), Some(1_369_353_600));
        assert_eq!(
            parse_http_date(b"Fri, 24 May 2013 00:00:00 GMT", NOW),
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
        assert_eq!(parse_http_date(b"Fri, 24 May 2013 00:00:00 UTC", NOW), None);
        assert_eq!(parse_http_date(b"Fri, 24 Mai 2013 00:00:00 GMT", NOW), None);
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
            parse_http_date(b"Sat, 01 Jan 0000 00:00:00 GMT", NOW),
            Some(YEAR_0)
        );
        assert_eq!(
            parse_http_date(b"Fri, 31 Dec 9999 23:59:59 GMT", NOW),
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
        assert_eq!(
            parse_http_date(b"Fri, 31 Dec 9999 99999:9:9 GMT", NOW),
            None
        );
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
