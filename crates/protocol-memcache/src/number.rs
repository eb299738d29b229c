//! Decimal numbers as the protocol (and a stored counter) writes them: no sign for unsigned values,
//! an optional `-` for expiration times, no spaces, no overflow.

/// Parses an unsigned 64-bit decimal number.
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in text {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((digit - b'0') as u64)?;
    }
    Some(value)
}

/// Parses an unsigned 32-bit decimal number.
pub fn parse_u32(text: &[u8]) -> Option<u32> {
    parse_u64(text).and_then(|value| u32::try_from(value).ok())
}

/// Parses a signed 64-bit decimal number.
pub fn parse_i64(text: &[u8]) -> Option<i64> {
    match text.strip_prefix(b"-") {
        Some(magnitude) => {
            let magnitude = parse_u64(magnitude)?;
            if magnitude <= i64::MAX as u64 + 1 { Some((magnitude as i64).wrapping_neg()) } else { None }
        }
        None => parse_u64(text).and_then(|value| i64::try_from(value).ok()),
    }
}

/// Formats `value` in decimal into `digits`; returns the digits used.
pub fn format_u64(value: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    let mut rest = value;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            return &digits[at..];
        }
    }
}

/// Appends `value` in decimal.
pub fn write_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(format_u64(value, &mut [0u8; 20]));
}

/// Reads a stored value as the number `incr`/`decr` work on: decimal digits
/// of an unsigned 64-bit number, with trailing spaces allowed (memcached may
/// pad a `decr` result).
pub fn parse_counter(value: &[u8]) -> Option<u64> {
    parse_u64(value.trim_ascii_end())
}

/// Appends `value` in decimal, with a `-` when negative.
pub fn write_i64(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    write_u64(out, value.unsigned_abs());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_writes() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"-1"), None);
        assert_eq!(parse_u64(b"1x"), None);
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"-"), None);
        for value in [0, 7, 10, 12345, u64::MAX] {
            let mut out = Vec::new();
            write_u64(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
        }
        let mut out = Vec::new();
        write_i64(&mut out, -42);
        assert_eq!(out, b"-42");
    }
}
