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

/// How memcached reads the numbers of a command line: C's `strtol` and
/// `strtoul` in base 10 (leading white space, a `+` or `-`, digits, then the
/// end of the token or white space), then stored in the field's width. A
/// number that fits 64 bits but not the field is cut to the field's low
/// bits, as memcached's casts cut it (`4294967296` as 32-bit flags is 0); a
/// drop-in replacement reads every line as memcached does.
pub mod memcached {
    /// The sign, the magnitude (`None` past 2^64 - 1) and whether the token
    /// is a number at all, as `strto*` sees it.
    fn scan(text: &[u8]) -> Option<(bool, Option<u64>)> {
        let text = &text[text.iter().position(|b| !is_c_space(*b)).unwrap_or(text.len())..];
        let (negative, text) = match text.first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let digits = text.iter().position(|b| !b.is_ascii_digit()).unwrap_or(text.len());
        if digits == 0 || text.get(digits).is_some_and(|b| !is_c_space(*b)) {
            return None;
        }
        let magnitude = text[..digits]
            .iter()
            .try_fold(0u64, |value, digit| value.checked_mul(10)?.checked_add((digit - b'0') as u64));
        Some((negative, magnitude))
    }

    fn is_c_space(byte: u8) -> bool {
        matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }

    /// `strtol`: a signed 64-bit number, `None` out of range.
    fn strtol(text: &[u8]) -> Option<i64> {
        match scan(text)? {
            (false, Some(magnitude)) => i64::try_from(magnitude).ok(),
            (true, Some(magnitude)) if magnitude <= i64::MAX as u64 + 1 => {
                Some((magnitude as i64).wrapping_neg())
            }
            _ => None,
        }
    }

    /// `safe_strtoull`: `strtoull`, refusing a negative number that wraps
    /// past 2^63 (`-1`), accepting one that does not (`-0`).
    pub fn u64(text: &[u8]) -> Option<u64> {
        let (negative, magnitude) = scan(text)?;
        let value = if negative { magnitude?.wrapping_neg() } else { magnitude? };
        if negative && value > i64::MAX as u64 {
            return None;
        }
        Some(value)
    }

    /// `safe_strtoul` into 32 bits: flags, `verbosity`'s level.
    pub fn u32(text: &[u8]) -> Option<u32> {
        u64(text).map(|value| value as u32)
    }

    /// `safe_strtol` into 32 bits: expiration times, value lengths.
    pub fn i32(text: &[u8]) -> Option<i32> {
        strtol(text).map(|value| value as i32)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn reads_as_memcached_does() {
            assert_eq!(super::u64(b"18446744073709551615"), Some(u64::MAX));
            assert_eq!(super::u64(b"18446744073709551616"), None);
            assert_eq!(super::u64(b"+5"), Some(5));
            assert_eq!(super::u64(b"-0"), Some(0));
            assert_eq!(super::u64(b"-1"), None);
            assert_eq!(super::u64(b"5x"), None);
            assert_eq!(super::u64(b"5\t"), Some(5));
            assert_eq!(super::u64(b""), None);
            assert_eq!(super::u64(b"-"), None);
            assert_eq!(super::u32(b"4294967296"), Some(0));
            assert_eq!(super::u32(b"4294967297"), Some(1));
            assert_eq!(super::i32(b"2147483648"), Some(i32::MIN));
            assert_eq!(super::i32(b"4294967299"), Some(3));
            assert_eq!(super::i32(b"-1"), Some(-1));
            assert_eq!(super::i32(b"9223372036854775808"), None);
            assert_eq!(super::i32(b"-9223372036854775808"), Some(0));
        }
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

/// Reads a stored value as the number `incr`/`decr` work on, as memcached's
/// `strtoull` does: leading white space, a `+` and leading zeros are
/// skipped, and the digits must end the value or be followed by white space
/// (memcached pads a shortened counter with spaces).
pub fn parse_counter(value: &[u8]) -> Option<u64> {
    let text = value.trim_ascii_start();
    let text = text.strip_prefix(b"+").unwrap_or(text);
    let digits = text.iter().position(|byte| !byte.is_ascii_digit()).unwrap_or(text.len());
    if digits == 0 || text.get(digits).is_some_and(|byte| !byte.is_ascii_whitespace()) {
        return None;
    }
    let significant = &text[..digits];
    let zeros = significant.iter().take_while(|&&digit| digit == b'0').count().min(digits - 1);
    parse_u64(&significant[zeros..])
}

/// A counter after `incr` or `decr`: its value and how it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// The new value.
    pub value: u64,
    digits: [u8; 20],
    /// Digits used, at the end of `digits`.
    len: usize,
    /// Spaces stored after the digits.
    padding: usize,
}

impl Counter {
    /// A new counter holding `value`, unpadded (`ma` creating an item).
    pub fn fresh(value: u64) -> Self {
        let mut digits = [0u8; 20];
        let len = format_u64(value, &mut digits).len();
        Self { value, digits, len, padding: 0 }
    }

    /// The decimal digits, as replied.
    pub fn digits(&self) -> &[u8] {
        &self.digits[20 - self.len..]
    }

    /// Bytes stored: the digits, then the padding.
    pub fn stored_len(&self) -> usize {
        self.len + self.padding
    }

    /// Appends the stored text to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.digits());
        out.resize(out.len() + self.padding, b' ');
    }
}

/// Applies `incr` (wrapping at 2^64) or `decr` (stopping at 0) of `delta`
/// to the stored `current`. As memcached, a result no longer than `current`
/// is written over it, padded with spaces to the same length. `None` if
/// `current` is not a number.
pub fn next_counter(current: &[u8], increment: bool, delta: u64) -> Option<Counter> {
    let value = parse_counter(current)?;
    let value = if increment { value.wrapping_add(delta) } else { value.saturating_sub(delta) };
    let mut digits = [0u8; 20];
    let len = format_u64(value, &mut digits).len();
    Some(Counter { value, digits, len, padding: current.len().saturating_sub(len) })
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
    fn counters_read_and_shrink_as_memcached_does() {
        assert_eq!(parse_counter(b"12"), Some(12));
        assert_eq!(parse_counter(b" 12  "), Some(12));
        assert_eq!(parse_counter(b"+7"), Some(7));
        assert_eq!(parse_counter(b"12 ab"), Some(12));
        assert_eq!(parse_counter(b"000000000000000000000001"), Some(1));
        assert_eq!(parse_counter(b"0"), Some(0));
        assert_eq!(parse_counter(b"12ab"), None);
        assert_eq!(parse_counter(b""), None);
        assert_eq!(parse_counter(b"  "), None);
        assert_eq!(parse_counter(b"-1"), None);
        assert_eq!(parse_counter(b"18446744073709551616"), None);
        let stored = |current: &[u8], increment, delta| {
            let counter = next_counter(current, increment, delta)?;
            let mut out = Vec::new();
            counter.write(&mut out);
            assert_eq!(out.len(), counter.stored_len());
            Some((counter.value, String::from_utf8(out).unwrap()))
        };
        assert_eq!(stored(b"100", false, 1), Some((99, "99 ".into())));
        assert_eq!(stored(b"99", true, 1), Some((100, "100".into())));
        assert_eq!(stored(b"18446744073709551615", true, 2), Some((1, format!("1{}", " ".repeat(19)))));
        assert_eq!(stored(b"5", false, 9), Some((0, "0".into())));
        assert_eq!(stored(b"x", true, 1), None);
    }

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
