use super::*;
use crate::store::ItemMeta;

/// Items given in order, all live.
struct Listed(std::vec::IntoIter<(Vec<u8>, ItemMeta, usize)>);

impl ItemCursor for Listed {
    fn next_part(&mut self, _now: u64, visit: &mut dyn FnMut(&[u8], &ItemMeta, usize) -> bool) -> Walk {
        for (key, meta, len) in self.0.by_ref() {
            if !visit(&key, &meta, len) {
                return Walk::More;
            }
        }
        Walk::End
    }
}

fn dump(items: Vec<(Vec<u8>, ItemMeta, usize)>, format: DumpFormat) -> (Vec<u8>, usize) {
    let mut dump = KeyDump::new(Box::new(Listed(items.into_iter())), format, 1_000);
    let (mut out, mut parts) = (Vec::new(), 1);
    while dump.compose_next(&mut out) == Streamed::More {
        parts += 1;
    }
    (out, parts)
}

#[test]
fn lines_are_memcached_s() {
    let mut fetched = ItemMeta::new(5, Expiry::Never, 900);
    fetched.cas = 1;
    fetched.fetched = true;
    let mut expiring = ItemMeta::new(0, Expiry::At(1_100), 950);
    expiring.cas = 2;
    let items = vec![(b"a%20b".to_vec(), fetched, 3), (b"bin\x00".to_vec(), expiring, 2)];
    let (out, _) = dump(items.clone(), DumpFormat::Metadump);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "key=a%2520b exp=-1 la=900 cas=1 fetch=yes cls=1 size=71\n\
         key=bin%00 exp=1100 la=950 cas=2 fetch=no cls=1 size=65\nEND\r\n"
    );
    let (out, _) = dump(items, DumpFormat::Mgdump);
    assert_eq!(String::from_utf8(out).unwrap(), "mg a%20b\r\nmg YmluAA== b\r\nEN\r\n");
}

#[test]
fn a_long_dump_comes_in_parts_of_bounded_size() {
    let items =
        (0..10_000).map(|i| (format!("key:{i:06}").into_bytes(), ItemMeta::new(0, Expiry::Never, 1), 10));
    let mut dump =
        KeyDump::new(Box::new(Listed(items.collect::<Vec<_>>().into_iter())), DumpFormat::Metadump, 1);
    let mut out = Vec::new();
    let mut parts = 0;
    loop {
        out.clear();
        let streamed = dump.compose_next(&mut out);
        parts += 1;
        assert!(out.len() < PART + 200, "a part of {} bytes", out.len());
        if streamed == Streamed::Complete {
            assert!(out.ends_with(b"END\r\n"));
            break;
        }
    }
    assert!(parts > 20, "{parts} parts");
}
