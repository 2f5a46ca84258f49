//! The two date forms of S3 responses.

use std::time::SystemTime;

fn civil(t: SystemTime) -> (i64, i64, i64, i64, i64, i64, i64, u32) {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (year, month, day, hour, minute, second) = sluice_sigv4::unix_to_civil(secs);
    let weekday = (secs.div_euclid(86_400) + 4).rem_euclid(7); // 1970-01-01 was a Thursday
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
        DAYS[wd as usize],
        MONTHS[(mo - 1) as usize]
    )
}

/// `2009-10-12T17:50:30.000Z` (LastModified in XML).
#[must_use]
pub fn iso8601(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s, _, ms) = civil(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
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
