//! Conformance cases of the meta commands.

use super::{Harness, cas_of};
use petrel_memcache_service::Storage;

pub(super) fn meta_get_set<S: Storage>(h: &mut Harness<S>) {
    h.expect("ms foo 3 T100 F9\r\nbar\r\n", "HD\r\n");
    let cas = cas_of(h, "foo");
    h.expect("mg foo v\r\n", "VA 3\r\nbar\r\n");
    h.expect("mg foo\r\n", "HD\r\n");
    h.expect("mg foo k v f t s c Oxyz\r\n", &format!("VA 3 kfoo f9 t100 s3 c{cas} Oxyz\r\nbar\r\n"));
    h.expect("mg foo Oabc t\r\n", "HD Oabc t100\r\n");
    h.expect("mg nope v\r\n", "EN\r\n");
    let reply = h.send(b"ms foo 3 c k s\r\nxyz\r\n");
    let new_cas = cas_of(h, "foo");
    assert_eq!(reply, format!("HD c{new_cas} kfoo s3\r\n"));
    assert!(new_cas > cas);
    h.expect("mg foo T0 t\r\n", "HD t-1\r\n");
    // C with the current CAS: the client has the value, so none is sent.
    h.expect(&format!("mg foo C{new_cas} v c\r\n"), &format!("HD c{new_cas}\r\n"));
    h.expect("mg foo h l u\r\n", "HD h1 l0\r\n");
}

pub(super) fn meta_quiet<S: Storage>(h: &mut Harness<S>) {
    h.expect("mg a v q\r\nmg b v q\r\nmn\r\n", "MN\r\n");
    h.expect("ms a 1 q\r\nA\r\nmg a v q\r\nmn\r\n", "VA 1\r\nA\r\nMN\r\n");
    h.expect("ms a 1 ME q\r\nB\r\n", "NS\r\n");
    h.expect("md a q\r\nmd a q\r\nmn\r\n", "NF\r\nMN\r\n");
    h.expect("mg a Oop q k\r\nmn\r\n", "MN\r\n");
}

pub(super) fn meta_set_modes<S: Storage>(h: &mut Harness<S>) {
    h.expect("ms k 1 MR\r\na\r\n", "NS\r\n");
    h.expect("ms k 1 ME\r\na\r\n", "HD\r\n");
    h.expect("ms k 1 ME\r\nb\r\n", "NS\r\n");
    h.expect("ms k 1 MA\r\nz\r\n", "HD\r\n");
    h.expect("ms k 1 MP\r\ny\r\n", "HD\r\n");
    h.expect("mg k v\r\n", "VA 3\r\nyaz\r\n");
    h.expect("ms k 1 MS F3\r\nq\r\n", "HD\r\n");
    h.expect("mg k v f\r\n", "VA 1 f3\r\nq\r\n");
    h.expect("ms new 1 MA\r\nx\r\n", "NS\r\n");
    h.expect("ms new 1 MA N100\r\nx\r\n", "HD\r\n");
    h.expect("mg new v t\r\n", "VA 1 t100\r\nx\r\n");
    let cas = cas_of(h, "k");
    h.expect(&format!("ms k 1 C{}\r\nw\r\n", cas + 1000), "EX\r\n");
    h.expect(&format!("ms k 1 C{cas}\r\nw\r\n"), "HD\r\n");
    h.expect("ms missing 1 C5\r\nw\r\n", "NF\r\n");
    h.expect("ms k 1 E777\r\ne\r\n", "HD\r\n");
    h.expect("mg k c\r\n", "HD c777\r\n");
    // I with an older CAS stores but marks the item stale.
    h.expect("ms k 1 I C5\r\ns\r\n", "HD\r\n");
    h.expect("mg k v\r\n", "VA 1 W X\r\ns\r\n");
}

pub(super) fn meta_delete<S: Storage>(h: &mut Harness<S>) {
    h.expect("md k\r\n", "NF\r\n");
    h.expect("ms k 1\r\na\r\n", "HD\r\n");
    h.expect("md k C999999\r\n", "EX\r\n");
    h.expect("md k k Oq\r\n", "HD kk Oq\r\n");
    h.expect("mg k\r\n", "EN\r\n");
    // Invalidate: the item stays, stale, with a new CAS and TTL; the first
    // fetch wins the recache, the next is told someone already did.
    h.expect("ms k 1 T0\r\na\r\n", "HD\r\n");
    h.expect("md k I T30\r\n", "HD\r\n");
    h.expect("mg k v t\r\n", "VA 1 t30 W X\r\na\r\n");
    h.expect("mg k v\r\n", "VA 1 X Z\r\na\r\n");
    h.expect("ms k 1\r\nb\r\n", "HD\r\n");
    h.expect("mg k v\r\n", "VA 1\r\nb\r\n");
    // x: the value goes, the item stays.
    h.expect("ms k 3 F4\r\nabc\r\n", "HD\r\n");
    h.expect("md k x\r\n", "HD\r\n");
    h.expect("mg k v f\r\n", "VA 0 f4\r\n\r\n");
}

pub(super) fn meta_vivify<S: Storage>(h: &mut Harness<S>) {
    h.expect("mg k v N30 t\r\n", "VA 0 t30 W\r\n\r\n");
    h.expect("mg k v N30\r\n", "VA 0 Z\r\n\r\n");
    h.expect("ms k 1 T100\r\nv\r\n", "HD\r\n");
    h.expect("mg k v N30\r\n", "VA 1\r\nv\r\n");
    // R: win the recache once the TTL falls below the token.
    h.expect("mg k R30 v\r\n", "VA 1\r\nv\r\n");
    h.expect("mg k R200 v\r\n", "VA 1 W\r\nv\r\n");
    h.expect("mg k R200 v\r\n", "VA 1 Z\r\nv\r\n");
}

pub(super) fn meta_arithmetic<S: Storage>(h: &mut Harness<S>) {
    h.expect("ma n\r\n", "NF\r\n");
    h.expect("ma n N0 J10 v\r\n", "VA 2\r\n10\r\n");
    h.expect("ma n v\r\n", "VA 2\r\n11\r\n");
    h.expect("ma n D9 MD v\r\n", "VA 1\r\n2\r\n");
    h.expect("ma n M- D5 v t\r\n", "VA 1 t-1\r\n0\r\n");
    h.expect("ma n\r\n", "HD\r\n");
    h.expect("ma n q\r\nmn\r\n", "MN\r\n");
    // Shrunk in place to "2" and grown back: padded to the old length.
    h.expect("mg n v\r\n", "VA 2\r\n2 \r\n");
    let cas = cas_of(h, "n");
    h.expect(&format!("ma n C{}\r\n", cas + 1000), "EX\r\n");
    let reply = h.send(format!("ma n C{cas} c k\r\n").as_bytes());
    assert_eq!(reply, format!("HD c{} kn\r\n", cas_of(h, "n")));
    h.expect("ms w 1\r\nx\r\n", "HD\r\n");
    h.expect("ma w\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
}

pub(super) fn meta_debug<S: Storage>(h: &mut Harness<S>) {
    h.expect("me k\r\n", "EN\r\n");
    h.expect("ms k 2 T0\r\nab\r\n", "HD\r\n");
    let reply = h.send(b"me k\r\n");
    assert!(reply.starts_with("ME k exp=-1 la=0 cas="), "{reply}");
    assert!(reply.ends_with(" fetch=no cls=1 size=3\r\n"), "{reply}");
    // Binary keys through base64, returned base64 with the b flag.
    h.expect("ms AAEC 1 b\r\nz\r\n", "HD\r\n");
    h.expect("mg AAEC b k v\r\n", "VA 1 kAAEC b\r\nz\r\n");
    h.expect("mg AAEC b v k\r\n", "VA 1 kAAEC b\r\nz\r\n");
    let reply = h.send(b"me AAEC b\r\n");
    assert!(reply.starts_with("ME AAEC exp=-1"), "{reply}");
}
