//! Every command and flag, parsed.

use super::*;

#[test]
fn retrieval_commands() {
    assert_eq!(parsed(b"get a\r\n"), Request::Get { keys: keys(b"a"), cas: false, last: true });
    assert_eq!(parsed(b"gets a b c\r\n"), Request::Get { keys: keys(b"a b c"), cas: true, last: true });
    assert_eq!(
        parsed(b"gat 30 a b\r\n"),
        Request::GetAndTouch { exptime: 30, keys: keys(b"a b"), cas: false, last: true }
    );
    assert_eq!(
        parsed(b"gats -1 a\r\n"),
        Request::GetAndTouch { exptime: -1, keys: keys(b"a"), cas: true, last: true }
    );
    // A bare LF ends a line too, and extra spaces separate nothing.
    assert_eq!(parsed(b"get  a   b\n"), Request::Get { keys: keys(b"a   b"), cas: false, last: true });
    let Request::Get { keys, .. } = parsed(b"get a   b\r\n") else { panic!() };
    assert_eq!(keys.iter().count(), 2);
    // As memcached: a gat of no keys is an empty answer, not an error.
    let Request::GetAndTouch { keys, .. } = parsed(b"gat 10\r\n") else { panic!() };
    assert_eq!(keys.iter().count(), 0);
}

#[test]
fn words_past_the_arguments_a_command_uses_are_ignored_as_memcached_does() {
    assert_eq!(parsed(b"version extra\r\n"), Request::Version);
    assert_eq!(parsed(b"mn extra\r\n"), Request::MetaNoop);
    assert_eq!(
        parsed(b"incr k 1 bogus\r\n"),
        Request::Arithmetic { key: b"k", delta: 1, increment: true, noreply: false }
    );
    assert_eq!(parsed(b"touch k 1 bogus\r\n"), Request::Touch { key: b"k", exptime: 1, noreply: false });
    let Request::Store { noreply, value, .. } = parsed(b"set k 0 0 1 bogus\r\nx\r\n") else { panic!() };
    assert_eq!((noreply, value), (false, &b"x"[..]));
}

#[test]
fn storage_commands() {
    for (name, command) in [
        ("set", StoreCommand::Set),
        ("add", StoreCommand::Add),
        ("replace", StoreCommand::Replace),
        ("append", StoreCommand::Append),
        ("prepend", StoreCommand::Prepend),
    ] {
        let input = format!("{name} k 4294967295 -1 5\r\nhe\r\no\r\n");
        assert_eq!(
            parsed(input.as_bytes()),
            Request::Store {
                command,
                key: b"k",
                flags: u32::MAX,
                exptime: -1,
                value: b"he\r\no",
                cas: 0,
                noreply: false
            }
        );
    }
    assert_eq!(
        parsed(b"cas k 1 2 3 99 noreply\r\nabc\r\n"),
        Request::Store {
            command: StoreCommand::Cas,
            key: b"k",
            flags: 1,
            exptime: 2,
            value: b"abc",
            cas: 99,
            noreply: true
        }
    );
    assert_eq!(
        parsed(b"set k 0 0 0\r\n\r\n"),
        Request::Store {
            command: StoreCommand::Set,
            key: b"k",
            flags: 0,
            exptime: 0,
            value: b"",
            cas: 0,
            noreply: false
        }
    );
}

#[test]
fn other_text_commands() {
    assert_eq!(parsed(b"delete k\r\n"), Request::Delete { key: b"k", noreply: false });
    assert_eq!(parsed(b"delete k noreply\r\n"), Request::Delete { key: b"k", noreply: true });
    assert_eq!(parsed(b"delete k 0 noreply\r\n"), Request::Delete { key: b"k", noreply: true });
    assert_eq!(
        parsed(b"incr k 18446744073709551615\r\n"),
        Request::Arithmetic { key: b"k", delta: u64::MAX, increment: true, noreply: false }
    );
    assert_eq!(
        parsed(b"decr k 1 noreply\r\n"),
        Request::Arithmetic { key: b"k", delta: 1, increment: false, noreply: true }
    );
    assert_eq!(parsed(b"touch k 10\r\n"), Request::Touch { key: b"k", exptime: 10, noreply: false });
    assert_eq!(parsed(b"flush_all\r\n"), Request::FlushAll { delay: 0, noreply: false });
    assert_eq!(parsed(b"flush_all 10\r\n"), Request::FlushAll { delay: 10, noreply: false });
    assert_eq!(parsed(b"flush_all noreply\r\n"), Request::FlushAll { delay: 0, noreply: true });
    assert_eq!(parsed(b"flush_all 5 noreply\r\n"), Request::FlushAll { delay: 5, noreply: true });
    assert_eq!(parsed(b"version\r\n"), Request::Version);
    assert_eq!(parsed(b"verbosity 1\r\n"), Request::Verbosity { level: 1, noreply: false });
    assert_eq!(parsed(b"verbosity 1 noreply\r\n"), Request::Verbosity { level: 1, noreply: true });
    assert_eq!(parsed(b"quit\r\n"), Request::Quit);
    assert_eq!(parsed(b"stats\r\n"), Request::Stats { group: None, argument: None });
    assert_eq!(parsed(b"stats settings\r\n"), Request::Stats { group: Some(b"settings"), argument: None });
    assert_eq!(
        parsed(b"stats detail on\r\n"),
        Request::Stats { group: Some(b"detail"), argument: Some(b"on") }
    );
    assert_eq!(
        parsed(b"stats cachedump 1 10\r\n"),
        Request::Stats { group: Some(b"cachedump"), argument: Some(b"1") }
    );
    assert_eq!(parsed(b"mn\r\n"), Request::MetaNoop);
}

fn flags(command: MetaCommand, text: &[u8]) -> MetaFlags<'_> {
    MetaFlags::parse(command, text).unwrap()
}

#[test]
fn meta_commands() {
    let Request::MetaGet { key, flags: f } = parsed(b"mg foo v t c f k s Oop1 q\r\n") else { panic!() };
    assert_eq!(&*key, b"foo");
    assert_eq!(f, flags(MetaCommand::Get, b"v t c f k s Oop1 q"));
    assert!(f.return_value && f.quiet && f.opaque == Some(b"op1"));
    assert_eq!(
        f.returns.iter().collect::<Vec<_>>(),
        [Return::Ttl, Return::Cas, Return::Flags, Return::Key, Return::Size, Return::Opaque],
        "in request order"
    );

    let Request::MetaSet { key, flags: f, value } = parsed(b"ms foo 3 T90 F5 MA N30 c\r\nbar\r\n") else {
        panic!()
    };
    assert_eq!((&*key, value), (&b"foo"[..], &b"bar"[..]));
    assert_eq!(
        (f.ttl, f.client_flags, f.set_mode, f.vivify),
        (Some(90), Some(5), StoreMode::Append, Some(30))
    );

    let Request::MetaDelete { flags: f, .. } = parsed(b"md foo I T30 q\r\n") else { panic!() };
    assert!(f.invalidate && f.quiet && f.ttl == Some(30));

    let Request::MetaArithmetic { flags: f, .. } = parsed(b"ma foo MD D7 N0 J3 v\r\n") else { panic!() };
    assert_eq!((f.arithmetic_mode, f.delta, f.initial), (ArithmeticMode::Decrement, Some(7), Some(3)));

    let Request::MetaDebug { key, .. } = parsed(b"me foo\r\n") else { panic!() };
    assert_eq!(&*key, b"foo");

    // A base64 key is decoded, and may hold bytes a text key cannot.
    let Request::MetaGet { key, .. } = parsed(b"mg Zm9vIGJhcg== b v\r\n") else { panic!() };
    assert_eq!(&*key, b"foo bar");
    assert!(key.is_base64());

    // No flags at all.
    let Request::MetaGet { flags: f, .. } = parsed(b"mg foo\r\n") else { panic!() };
    assert_eq!(f, MetaFlags::default());
}
