//! Timestamps without a date crate: ISO 8601 parsing (journal `short-iso`,
//! RFC 3339 syslog) and formatting, via the civil-from-days algorithm.

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn digits(s: &str, at: usize, n: usize) -> Option<u32> {
    let part = s.get(at..at + n)?;
    if part.bytes().all(|b| b.is_ascii_digit()) {
        part.parse().ok()
    } else {
        None
    }
}

/// Parses `2022-09-28T08:24:19.537448+00:00`, `...+0000`, `...Z` (the
/// `T` may be a space) into seconds since the epoch. Without an offset the
/// time is taken as UTC.
pub fn parse_iso8601(s: &str) -> Option<f64> {
    let s = s.trim();
    let y = i64::from(digits(s, 0, 4)?);
    let mo = digits(s, 5, 2)?;
    let d = digits(s, 8, 2)?;
    let h = digits(s, 11, 2)?;
    let mi = digits(s, 14, 2)?;
    let sec = digits(s, 17, 2)?;
    let seps = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| s.as_bytes().get(i) != Some(&c))
        || !matches!(s.as_bytes().get(10), Some(b'T' | b' '))
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut frac = 0.0;
    if let Some(r) = rest.strip_prefix('.').or_else(|| rest.strip_prefix(',')) {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        let (f, r) = r.split_at(n);
        if let Some(f) = f.get(..n.min(9)) {
            if !f.is_empty() {
                frac = f.parse::<f64>().ok()? / 10f64.powi(f.len() as i32);
            }
        }
        rest = r;
    }
    let offset = match rest.as_bytes().first() {
        None | Some(b'Z') | Some(b'z') => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let r = &rest[1..];
            let oh = i64::from(digits(r, 0, 2)?);
            let om = match r.as_bytes().get(2) {
                Some(b':') => i64::from(digits(r, 3, 2)?),
                Some(_) => i64::from(digits(r, 2, 2)?),
                None => 0,
            };
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        Some(_) => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset;
    Some(secs as f64 + frac)
}

/// Formats seconds since the epoch as `2022-09-28T08:24:19.537Z`.
pub fn format_iso8601(unix: f64) -> String {
    let millis = (unix * 1000.0).round() as i64;
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_shapes() {
        assert_eq!(parse_iso8601("2022-09-28T06:36:27Z"), Some(1_664_346_987.0));
        assert_eq!(
            parse_iso8601("2022-09-28T08:36:27+0200"),
            Some(1_664_346_987.0)
        );
        assert_eq!(
            parse_iso8601("2022-09-28T06:36:27+00:00"),
            Some(1_664_346_987.0)
        );
        let f = parse_iso8601("2022-09-28T08:24:19.537448+00:00").unwrap_or(0.0);
        assert!((f - 1_664_353_459.537_448).abs() < 1e-3);
        assert_eq!(parse_iso8601("Sep 28 08:24:19"), None);
        assert_eq!(parse_iso8601("2022-13-28T08:24:19Z"), None);
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(
            format_iso8601(1_664_353_459.537),
            "2022-09-28T08:24:19.537Z"
        );
        assert_eq!(format_iso8601(0.0), "1970-01-01T00:00:00.000Z");
        let t = 951_782_400.0; // 2000-02-29
        assert_eq!(format_iso8601(t), "2000-02-29T00:00:00.000Z");
        assert_eq!(parse_iso8601(&format_iso8601(t)), Some(t));
    }
}
