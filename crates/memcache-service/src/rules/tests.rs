//! The item rules, decision by decision, against memcached's.

use super::*;

const NOW: u64 = 1_700_000_000;

fn item(cas: u64) -> ItemMeta {
    ItemMeta { cas, ..ItemMeta::new(5, Expiry::Never, NOW - 100) }
}

fn write(decision: StoreDecision) -> (ItemMeta, NewValue, usize) {
    match decision {
        StoreDecision::Write { meta, value, size } => (meta, value, size),
        refused => panic!("{refused:?}"),
    }
}

#[test]
fn stores_decide_as_memcached() {
    let set = StoreRequest::set(1, Expiry::Never, 100);
    let old = item(7);
    assert!(!store_reads_existing(&set));
    let (meta, value, size) = write(store(Some((&old, 3)), &set, 4, NOW));
    assert_eq!((meta.flags, meta.cas, meta.stored_at, value, size), (1, 0, NOW, NewValue::Data, 4));
    let add = StoreRequest { mode: StoreMode::Add, ..set };
    assert_eq!(store(Some((&old, 3)), &add, 4, NOW), StoreDecision::Refuse(Stored::NotStored));
    let append = StoreRequest { mode: StoreMode::Append, ..set };
    let (meta, value, size) = write(store(Some((&old, 3)), &append, 4, NOW));
    assert_eq!((meta.flags, value, size), (5, NewValue::Append, 7), "append keeps the old flags");
    assert_eq!(store(Some((&old, 98)), &append, 4, NOW), StoreDecision::Refuse(Stored::TooLarge));
    for append in [append, StoreRequest { compare_cas: Some(6), ..append }] {
        assert_eq!(store(None, &append, 4, NOW), StoreDecision::Refuse(Stored::NotStored), "CAS or none");
    }
    let cas = StoreRequest { compare_cas: Some(6), ..set };
    assert_eq!(store(Some((&old, 3)), &cas, 4, NOW), StoreDecision::Refuse(Stored::Exists));
    assert_eq!(store(None, &cas, 4, NOW), StoreDecision::Refuse(Stored::NotFound));
    // An invalidating set with an older CAS stores, marked stale.
    let invalidate = StoreRequest { invalidate: true, ..cas };
    assert!(write(store(Some((&old, 3)), &invalidate, 4, NOW)).0.stale);
}

#[test]
fn the_first_fetch_of_a_stale_item_wins_the_recache_and_later_ones_see_it_won() {
    let stale = ItemMeta { stale: true, ..item(7) };
    let first = fetch(&stale, 3, &FetchRequest::default(), NOW, false);
    assert!(first.found.won && !first.found.already_won && first.meta.win_sent);
    let second = fetch(&first.meta, 3, &FetchRequest::default(), NOW, false);
    assert!(!second.found.won && second.found.already_won);
    assert_eq!(second.meta, first.meta, "nothing left to write");
}

#[test]
fn reads_are_recorded_at_most_once_a_minute() {
    let read = fetch(&item(7), 3, &FetchRequest::default(), NOW, true);
    assert!(read.meta.fetched && read.meta.last_access == NOW && !read.found.fetched_before);
    let again = fetch(&read.meta, 3, &FetchRequest::default(), NOW + 59, true);
    assert_eq!(again.meta, read.meta, "no write within the interval");
    assert!(again.found.fetched_before);
    assert_eq!(fetch(&read.meta, 3, &FetchRequest::default(), NOW + 60, true).meta.last_access, NOW + 60);
    assert_eq!(fetch(&item(7), 3, &FetchRequest::default(), NOW, false).meta, item(7), "unless off");
}

#[test]
fn deletes_and_arithmetic_decide_as_memcached() {
    let old = item(7);
    assert_eq!(delete(&old, &DeleteRequest::default()), DeleteDecision::Remove);
    let wrong = DeleteRequest { compare_cas: Some(6), ..DeleteRequest::default() };
    assert_eq!(delete(&old, &wrong), DeleteDecision::Refuse(Deleted::Exists));
    let invalidate = DeleteRequest { invalidate: true, ..DeleteRequest::default() };
    let DeleteDecision::Rewrite { meta, keep_value: true } = delete(&old, &invalidate) else { panic!() };
    assert!(meta.stale && !meta.win_sent);

    let incr = ArithmeticRequest {
        increment: true,
        delta: 5,
        compare_cas: None,
        new_cas: None,
        vivify: None,
        touch: None,
    };
    let ArithmeticDecision::Write { meta, counter } = arithmetic(Some((&old, b"10")), &incr, NOW) else {
        panic!()
    };
    assert_eq!((counter.value, meta.stored_at, meta.flags), (15, NOW, 5));
    assert_eq!(arithmetic(Some((&old, b"x")), &incr, NOW), ArithmeticDecision::Refuse(Counted::NonNumeric));
    assert_eq!(arithmetic(None, &incr, NOW), ArithmeticDecision::Refuse(Counted::NotFound));
    let vivify = ArithmeticRequest { vivify: Some((3, Expiry::Never)), ..incr };
    let ArithmeticDecision::Write { counter, .. } = arithmetic(None, &vivify, NOW) else { panic!() };
    assert_eq!(counter.value, 3);
}
