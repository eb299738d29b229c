//! Error replies, key rules and the limits on lines and values.

use super::*;

#[test]
fn partial_requests_are_incomplete() {
    for input in [
        &b""[..],
        b"get",
        b"get a\r",
        b"set k 0 0 5\r\n",
        b"set k 0 0 5\r\nhel",
        b"set k 0 0 5\r\nhello",
        b"set k 0 0 5\r\nhello\r",
        b"ms k 2\r\nab",
    ] {
        assert_eq!(parse(input), Err(ParseError::Incomplete), "{:?}", String::from_utf8_lossy(input));
    }
}

#[test]
fn error_replies() {
    let skip = |n: usize| Recovery::Skip(n as u64);
    let cases: &[(&[u8], Error, Recovery)] = &[
        (b"bogus\r\n", Error::UnknownCommand, skip(7)),
        (b"\r\n", Error::UnknownCommand, skip(2)),
        (b"GET a\r\n", Error::UnknownCommand, skip(7)),
        (b"get\r\n", Error::UnknownCommand, skip(5)),
        (b"verbosity\r\n", Error::UnknownCommand, skip(11)),
        (b"set k 0 0\r\n", Error::UnknownCommand, skip(11)),
        (b"set k x 0 1\r\n", Error::BadCommandLine, skip(13)),
        (b"set k -1 0 1\r\n", Error::BadCommandLine, skip(14)),
        (b"set k 0 0 -1\r\n", Error::BadCommandLine, skip(14)),
        (b"set k 0 0 2147483646\r\n", Error::BadCommandLine, skip(22)),
        (b"set k 0 0 4294967295\r\n", Error::BadCommandLine, skip(22)),
        (b"set k 0 0 18446744073709551616\r\n", Error::BadCommandLine, skip(32)),
        // noreply silences every error once the command is known.
        (b"set k x 0 1 noreply\r\n", Error::NoReply, skip(21)),
        (b"set k 0 0 3 noreply\r\nabcd\r\n", Error::NoReply, skip(26)),
        (b"delete k 10 noreply\r\n", Error::NoReply, skip(21)),
        (b"verbosity noreply\r\n", Error::NoReply, skip(19)),
        (b"incr k x noreply\r\n", Error::NoReply, skip(18)),
        // ... but not a wrong argument count, which leaves it unknown.
        (b"set k 0 noreply\r\n", Error::UnknownCommand, skip(17)),
        (b"verbosity invalid\r\n", Error::BadCommandLine, skip(19)),
        (b"set k 0 0 1 noreply extra\r\n", Error::UnknownCommand, skip(27)),
        (b"cas k 0 0 1\r\n", Error::UnknownCommand, skip(13)),
        (b"set k 0 0 3\r\nabcd\r\n", Error::BadDataChunk, skip(18)),
        (b"set k 0 0 3\r\nabc\n\r\n", Error::BadDataChunk, skip(18)),
        (b"incr k x\r\n", Error::InvalidDelta, skip(10)),
        (b"incr k -1\r\n", Error::InvalidDelta, skip(11)),
        (b"incr k\r\n", Error::UnknownCommand, skip(8)),
        (b"touch k\r\n", Error::UnknownCommand, skip(9)),
        (b"touch k x\r\n", Error::InvalidExptime, skip(11)),
        (b"delete k 5\r\n", Error::BadDeleteFormat, skip(12)),
        (b"delete k noreply x\r\n", Error::BadDeleteFormat, skip(20)),
        (b"delete k 0 noreply x\r\n", Error::UnknownCommand, skip(22)),
        (b"delete\r\n", Error::UnknownCommand, skip(8)),
        (b"flush_all x\r\n", Error::InvalidExptime, skip(13)),
        (b"gat x a\r\n", Error::InvalidExptime, skip(9)),
        (b"gats\r\n", Error::UnknownCommand, skip(6)),
        (b"mg foo zz\r\n", Error::InvalidFlag, skip(11)),
        (b"mg foo v v\r\n", Error::DuplicateFlag, skip(12)),
        (b"mg foo Tx\r\n", Error::BadToken, skip(11)),
        (b"mg\r\n", Error::UnknownCommand, skip(4)),
        (b"ms\r\n", Error::UnknownCommand, skip(4)),
        (b"me\r\n", Error::BadCommandLine, skip(4)),
        (b"mg !!! b\r\n", Error::BadKeyEncoding, skip(10)),
        (b"ms foo 2 MZ\r\nab\r\n", Error::InvalidMode, skip(17)),
        (b"ms foo x\r\n", Error::BadCommandLine, skip(10)),
        (b"ms foo 2 zz\r\nab\r\n", Error::InvalidFlag, skip(17)),
        (b"md foo v\r\n", Error::InvalidOrDuplicateFlag, skip(10)),
        (b"ma foo D-1\r\n", Error::InvalidOrDuplicateFlag, skip(12)),
    ];
    for (input, error, recovery) in cases {
        assert_eq!(rejected(input), (*error, *recovery), "{:?}", String::from_utf8_lossy(input));
    }
    // `me` reads only a `b` right after the key, as memcached does.
    assert!(matches!(
        parsed(b"me foo v q\r\n"),
        Request::MetaDebug { flags: MetaFlags { base64: false, .. }, .. }
    ));
}

#[test]
fn key_rules_are_enforced() {
    let long = [b'k'; 251];
    let at_limit = [b'k'; 250];
    let line = |key: &[u8]| [b"get ".as_slice(), key, b"\r\n"].concat();
    assert!(parse(&line(&at_limit)).is_ok());
    assert_eq!(rejected(&line(&long)).0, Error::BadCommandLine);
    // Control bytes are key bytes, as in memcached (memaslap's keys have them).
    assert!(parse(b"get \x10\x10abc\r\n").is_ok());
    // The line is a C string to memcached: it ends at a NUL.
    assert_eq!(parsed(b"get a\x00b\r\n"), Request::Get { keys: keys(b"a"), cas: false, last: true });
    assert_eq!(rejected(&[b"set ".as_slice(), &long, b" 0 0 1\r\na\r\n"].concat()).0, Error::BadCommandLine);
}

#[test]
fn too_large_values_are_answered_from_their_line_and_swallowed() {
    // Room for 10 bytes of value under the one-byte key `k`.
    let protocol = Memcache::new(Limits { item_size_max: 10 + 1 + ITEM_OVERHEAD, max_line: 1024 });
    let parse = |input: &'static [u8]| protocol.parse(&mut ConnectionState::default(), input);
    let too_large = |command, consumed| {
        Ok(Parsed { message: Request::TooLarge { key: Key::Plain(b"k"), command, noreply: false }, consumed })
    };
    assert_eq!(parse(b"set k 0 0 11\r\n"), too_large(Some(StoreCommand::Set), 14 + 11 + 2));
    // Announced far beyond anything: the body is never buffered.
    assert_eq!(
        parse(b"add k 0 0 2000000000\r\n"),
        too_large(Some(StoreCommand::Add), 22 + 2_000_000_000 + 2)
    );
    assert!(parse(b"set k 0 0 10\r\n0123456789\r\n").is_ok());
    assert_eq!(parse(b"ms k 11 T0\r\n"), too_large(None, 12 + 11 + 2));
}

#[test]
fn overlong_line_closes_silently() {
    let protocol = Memcache::new(Limits { item_size_max: 10, max_line: 64 });
    assert_eq!(
        protocol.parse(&mut ConnectionState::default(), &[b'g'; 64]),
        Err(ParseError::Invalid { error: Error::LineTooLong, recovery: Recovery::Close })
    );
    assert_eq!(protocol.parse(&mut ConnectionState::default(), &[b'g'; 63]), Err(ParseError::Incomplete));
}

#[test]
fn long_get_lines_are_served_in_pieces() {
    let protocol = Memcache::new(Limits { item_size_max: 1 << 20, max_line: 16 });
    let mut state = ConnectionState::default();
    // The first 16 bytes hold no newline: the keys up to the last space
    // are served; the next window holds the line's end.
    let mut input: &[u8] = b"gets a bb ccc dddd eeeee f\r\nmn\r\n";
    let mut pieces = Vec::new();
    while let Ok(parsed) = protocol.parse(&mut state, input) {
        let Request::Get { keys, cas: true, last } = parsed.message else { panic!("{:?}", parsed.message) };
        pieces.push((
            keys.iter().map(|key| String::from_utf8_lossy(key).into_owned()).collect::<Vec<_>>(),
            last,
        ));
        input = &input[parsed.consumed..];
        if last {
            break;
        }
    }
    let piece = |keys: &[&str], last| (keys.iter().map(|key| key.to_string()).collect::<Vec<_>>(), last);
    assert_eq!(pieces, [piece(&["a", "bb", "ccc"], false), piece(&["dddd", "eeeee", "f"], true)]);
    assert_eq!(input, b"mn\r\n", "the line is over");
    assert_eq!(protocol.parse(&mut state, input).unwrap().message, Request::MetaNoop);

    // A key longer than the window is refused and the rest of its line dropped.
    let mut state = ConnectionState::default();
    let input = b"get aaaaaaaaaaaaaaaaaaaaaaa b\r\nmn\r\n";
    let Err(ParseError::Invalid { error: Error::BadCommandLine, recovery: Recovery::Skip(skip) }) =
        protocol.parse(&mut state, input)
    else {
        panic!("a long key is refused")
    };
    let rest = &input[skip as usize..];
    let Err(ParseError::Invalid { error: Error::NoReply, recovery: Recovery::Skip(skip) }) =
        protocol.parse(&mut state, rest)
    else {
        panic!("the rest of the line is dropped")
    };
    assert_eq!(protocol.parse(&mut state, &rest[skip as usize..]).unwrap().message, Request::MetaNoop);
}

#[test]
fn http_requests_close() {
    let close = |input: &[u8], error| {
        assert_eq!(
            parse(input),
            Err(ParseError::Invalid { error, recovery: Recovery::Close }),
            "{:?}",
            String::from_utf8_lossy(input)
        )
    };
    for line in
        [&b"GET / HTTP/1.0\r\n"[..], b"PUT /asdf/asd HTTP/1.1\r\n", b"POST / HTTP/1.1\r\n", b"HTTP/1.1\r\n"]
    {
        close(line, Error::HttpRequest);
    }
    // memcached's own command letters get ERROR, as there.
    for line in [&b"DELETE HTTP\r\n"[..], b"set HTTP/1.1\r\n", b"x HTTP/1.1\r\n", b"GET k\r\n"] {
        assert_eq!(rejected(line).0, Error::UnknownCommand, "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn error_strings_are_memcacheds() {
    let cases = [
        (Error::UnknownCommand, "ERROR\r\n"),
        (Error::BadCommandLine, "CLIENT_ERROR bad command line format\r\n"),
        (Error::BadDataChunk, "CLIENT_ERROR bad data chunk\r\n"),
        (Error::LineTooLong, ""),
        (Error::HttpRequest, ""),
        (Error::NoReply, ""),
        (Error::TooLarge, "SERVER_ERROR object too large for cache\r\n"),
        (Error::InvalidDelta, "CLIENT_ERROR invalid numeric delta argument\r\n"),
        (Error::NonNumeric, "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (Error::Server("out of memory storing object"), "SERVER_ERROR out of memory storing object\r\n"),
        (Error::InvalidFlag, "CLIENT_ERROR invalid flag\r\n"),
        (Error::DuplicateFlag, "CLIENT_ERROR duplicate flag\r\n"),
        (Error::BadToken, "CLIENT_ERROR bad token in command line format\r\n"),
        (Error::OpaqueTooLong, "CLIENT_ERROR opaque token too long\r\n"),
        (Error::InvalidMode, "CLIENT_ERROR invalid mode for ms M token\r\n"),
        (Error::InvalidOrDuplicateFlag, "CLIENT_ERROR invalid or duplicate flag\r\n"),
        (Error::BadKeyEncoding, "CLIENT_ERROR error decoding key\r\n"),
    ];
    for (error, text) in cases {
        let mut out = Vec::new();
        Memcache::default().compose_error(&error, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), text);
    }
}
