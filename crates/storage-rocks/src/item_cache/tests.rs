//! The item cache's rings: what stays, what goes, and intactness.

use super::*;

fn hash(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(key)
}

fn cached(cache: &ItemCache, key: &[u8]) -> Option<Vec<u8>> {
    cache.get(&mut ReadCounts::default(), hash(key), key, |stored| stored.to_vec())
}

#[test]
fn returns_what_was_inserted_until_replaced_or_removed() {
    let cache = ItemCache::new(1 << 20);
    let epoch = cache.epoch();
    let key = b"key";
    assert_eq!(cached(&cache, key), None);
    cache.insert(epoch, hash(key), key, b"one");
    assert_eq!(cached(&cache, key).as_deref(), Some(&b"one"[..]));
    cache.insert(epoch, hash(key), key, b"two, longer");
    assert_eq!(cached(&cache, key).as_deref(), Some(&b"two, longer"[..]));
    cache.remove(hash(key));
    assert_eq!(cached(&cache, key), None);
}

#[test]
fn a_colliding_hash_never_returns_another_keys_item() {
    let cache = ItemCache::new(1 << 20);
    cache.insert(cache.epoch(), 7, b"first", b"1");
    assert_eq!(cache.get(&mut ReadCounts::default(), 7, b"second", |s| s.to_vec()), None);
    cache.insert(cache.epoch(), 7, b"second", b"2");
    assert_eq!(cache.get(&mut ReadCounts::default(), 7, b"first", |s| s.to_vec()), None);
    assert_eq!(
        cache.get(&mut ReadCounts::default(), 7, b"second", |s| s.to_vec()).as_deref(),
        Some(&b"2"[..])
    );
}

#[test]
fn clear_forgets_everything_and_refuses_inserts_begun_before_it() {
    let cache = ItemCache::new(1 << 20);
    let before = cache.epoch();
    cache.insert(before, hash(b"a"), b"a", b"1");
    cache.clear();
    assert_eq!(cached(&cache, b"a"), None);
    cache.insert(before, hash(b"b"), b"b", b"2");
    assert_eq!(cached(&cache, b"b"), None, "an insert from before the clear was kept");
    cache.insert(cache.epoch(), hash(b"b"), b"b", b"2");
    assert_eq!(cached(&cache, b"b").as_deref(), Some(&b"2"[..]));
}

#[test]
fn off_when_too_small() {
    let cache = ItemCache::new(0);
    assert!(!cache.is_on());
    cache.insert(cache.epoch(), 1, b"k", b"v");
    assert_eq!(cache.get(&mut ReadCounts::default(), 1, b"k", |s| s.to_vec()), None);
}

#[test]
fn the_oldest_entries_go_first_and_every_survivor_is_intact() {
    // One shard's worth of keys, with values of varied sizes so the ring
    // wraps at uneven places; each key's value names the key.
    let mut shard = Shard::new(64 << 10);
    let value = |i: usize| format!("{i:06}").repeat(1 + i % 37).into_bytes();
    for i in 0..20_000 {
        let key = format!("key-{i}");
        shard.insert(hash(key.as_bytes()), key.as_bytes(), &value(i));
        assert!(shard.used <= shard.ring.len());
    }
    let present: Vec<usize> = (0..20_000)
        .filter(|i| {
            let key = format!("key-{i}");
            match shard.find(hash(key.as_bytes()), key.as_bytes()) {
                Some(stored) => {
                    assert_eq!(stored, &value(*i)[..], "key-{i} is corrupt");
                    true
                }
                None => false,
            }
        })
        .collect();
    assert!(present.len() > 100, "only {} entries kept", present.len());
    // FIFO: what is kept is a contiguous run of the newest keys.
    let first = present[0];
    assert_eq!(present, (first..20_000).collect::<Vec<_>>());
    assert_eq!(shard.index.len(), present.len());
}

#[test]
fn an_entry_read_between_inserts_stays_while_the_rest_pass_through() {
    let mut shard = Shard::new(64 << 10);
    let hot = b"hot";
    shard.insert(hash(hot), hot, b"kept while read");
    for i in 0..20_000 {
        let key = format!("key-{i}");
        shard.insert(hash(key.as_bytes()), key.as_bytes(), &[b'v'; 100]);
        if i % 100 == 0 {
            assert_eq!(shard.find_read(hash(hot), hot), Some(&b"kept while read"[..]), "after {i}");
        }
        assert!(shard.used <= shard.ring.len());
    }
    // Unread, it goes within a lap of the ring.
    for i in 0..2_000 {
        let key = format!("more-{i}");
        shard.insert(hash(key.as_bytes()), key.as_bytes(), &[b'v'; 100]);
    }
    assert_eq!(shard.find(hash(hot), hot), None);
    // Every survivor is intact.
    for i in 1_500..2_000 {
        let key = format!("more-{i}");
        assert_eq!(shard.find(hash(key.as_bytes()), key.as_bytes()), Some(&[b'v'; 100][..]));
    }
}

#[test]
fn replaced_entries_are_garbage_the_ring_reclaims() {
    let mut shard = Shard::new(16 << 10);
    for round in 0..1_000u32 {
        for key in [&b"a"[..], b"b", b"c"] {
            shard.insert(hash(key), key, &round.to_le_bytes().repeat(20));
        }
    }
    for key in [&b"a"[..], b"b", b"c"] {
        assert_eq!(shard.find(hash(key), key), Some(&999u32.to_le_bytes().repeat(20)[..]));
    }
    assert_eq!(shard.index.len(), 3);
}

#[test]
fn an_entry_too_large_for_its_shard_is_not_cached_and_drops_the_old_one() {
    let mut shard = Shard::new(8 << 10);
    shard.insert(hash(b"k"), b"k", b"small");
    shard.insert(hash(b"k"), b"k", &[0u8; 2 << 10]);
    assert_eq!(shard.find(hash(b"k"), b"k"), None);
}

#[test]
fn a_worker_counts_its_hits_and_misses_and_adds_them_once_a_round() {
    let cache = ItemCache::new(1 << 20);
    cache.insert(cache.epoch(), hash(b"k"), b"k", b"v");
    let mut counts = ReadCounts::default();
    for _ in 0..3 {
        assert!(cache.get(&mut counts, hash(b"k"), b"k", |_| ()).is_some());
    }
    assert!(cache.get(&mut counts, hash(b"nope"), b"nope", |_| ()).is_none());
    assert_eq!((counts.hits, counts.misses), (3, 1));
    let (hits, misses) = (HITS.value(), MISSES.value());
    counts.publish();
    assert_eq!((counts.hits, counts.misses), (0, 0));
    // Other tests count too, at the same time: at least this round's.
    assert!(HITS.value() >= hits + 3 && MISSES.value() > misses);
    // With the cache off nothing is read, so nothing is counted.
    assert!(ItemCache::new(0).get(&mut counts, hash(b"k"), b"k", |_| ()).is_none());
    assert_eq!((counts.hits, counts.misses), (0, 0));
}
