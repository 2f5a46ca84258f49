//! The two date forms of S3 responses.

use std::time::SystemTime;

/// The time now in seconds since the epoch (0 before it).
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn civil(t: SystemTime) -> (i64, i64, i64, i64, i64, i64, i64, u32) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (year, month, day, hour, minute, second) = sluice_sigv4::unix_to_civil(secs);
    // 1970-01-01 was a Thursday. secs is at most u64::MAX as i64 wrapped,
    // and a day count is far from the ends of i64.
    let weekday = secs.div_euclid(86_400).wrapping_add(4).rem_euclid(7);
    (
        year,
        month,
        day,
        hour,
        minute,
        second,
        weekday,
        d.subsec_millis(),
    )
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (Date, Last-Modified).
#[must_use]
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, wd, _) = civil(t);
    format!(
        "{}, {d:02} {} {y:04} {h:02}:{mi:02}:{s:02} GMT",
        DAYS.get(wd as usize).unwrap_or(&"Thu"),
        MONTHS
            .get(usize::try_from(mo).unwrap_or(0).wrapping_sub(1))
            .unwrap_or(&"Jan")
    )
}

/// `2009-10-12T17:50:30.000Z` (LastModified in XML).
#[must_use]
pub fn iso8601(t: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    iso8601_into(&mut out, t);
    out
}

/// [`iso8601`] appended to `out`, without formatting machinery (listings
/// write one per key).
pub fn iso8601_into(out: &mut String, t: SystemTime) {
    let (y, mo, d, h, mi, s, _, ms) = civil(t);
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: u64| {
        for digit in buf.iter_mut().skip(at).take(width).rev() {
            *digit = b"0123456789"[(v % 10) as usize];
            v /= 10;
        }
    };
    put(0, 4, y.max(0) as u64);
    put(5, 2, mo.max(0) as u64);
    put(8, 2, d.max(0) as u64);
    put(11, 2, h.max(0) as u64);
    put(14, 2, mi.max(0) as u64);
    put(17, 2, s.max(0) as u64);
    put(20, 3, u64::from(ms));
    out.push_str(std::str::from_utf8(&buf).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(784_111_777_123);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(iso8601(t), "1994-11-06T08:49:37.123Z");
    }
}
