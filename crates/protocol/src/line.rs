//! Line framing for the text protocols, written once: a line ends with LF,
//! optionally after a CR; its words are separated by spaces.

use memchr::memchr;

/// A line at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its terminator.
    pub text: &'a [u8],
    /// The bytes it takes, terminator included.
    pub len: usize,
}

/// The first line of `input`, if its end is within the first `max` bytes.
pub fn first_line(input: &[u8], max: usize) -> Option<Line<'_>> {
    let newline = memchr(b'\n', &input[..input.len().min(max)])?;
    let text = &input[..newline];
    Some(Line { text: text.strip_suffix(b"\r").unwrap_or(text), len: newline + 1 })
}

/// The lines of `text`, each without its terminator; a last line without
/// one counts too, and an empty remainder does not.
pub fn lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let line = first_line(rest, usize::MAX).unwrap_or(Line { text: rest, len: rest.len() });
        rest = &rest[line.len..];
        Some(line.text)
    })
}

/// Splits off the first space-separated word of `text`, skipping the
/// spaces before it; the rest starts at the next word.
pub fn split_word(text: &[u8]) -> (&[u8], &[u8]) {
    let text = trim_spaces(text);
    match memchr(b' ', text) {
        Some(space) => (&text[..space], trim_spaces(&text[space + 1..])),
        None => (text, &[]),
    }
}

/// The space-separated words of `text`.
pub fn words(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    text.split(|&byte| byte == b' ').filter(|word| !word.is_empty())
}

fn trim_spaces(text: &[u8]) -> &[u8] {
    let start = text.iter().position(|&byte| byte != b' ').unwrap_or(text.len());
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_ends_with_lf_or_crlf_within_the_limit() {
        assert_eq!(first_line(b"get a\r\nrest", 64), Some(Line { text: b"get a", len: 7 }));
        assert_eq!(first_line(b"get a\nrest", 64), Some(Line { text: b"get a", len: 6 }));
        assert_eq!(first_line(b"\r\n", 64), Some(Line { text: b"", len: 2 }));
        assert_eq!(first_line(b"get a", 64), None, "no end yet");
        assert_eq!(first_line(b"get a\r\n", 5), None, "the end is past the limit");
        assert_eq!(lines(b"a\r\nb\n\nc").collect::<Vec<_>>(), [&b"a"[..], b"b", b"", b"c"]);
        assert_eq!(lines(b"a\r\n").count(), 1);
    }

    #[test]
    fn words_are_split_on_spaces_however_many() {
        assert_eq!(split_word(b"  set  k 0"), (&b"set"[..], &b"k 0"[..]));
        assert_eq!(split_word(b"quit"), (&b"quit"[..], &b""[..]));
        assert_eq!(split_word(b""), (&b""[..], &b""[..]));
        assert_eq!(words(b" a  b c ").collect::<Vec<_>>(), [&b"a"[..], b"b", b"c"]);
    }
}
