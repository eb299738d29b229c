//! A worker's writes since its last commit, in the order made: what its
//! next commit writes to RocksDB in one batch, and then to the item cache.

/// Past this many bytes a worker's batch is written at once rather than at
/// the end of the round, so that what a worker holds stays bounded.
pub(crate) const BATCH_LIMIT: usize = 4 << 20;

/// An entry: kind (u8), key length (u8), item length (u32), key hash (u64),
/// then the key and the item (header and value, as RocksDB holds it).
const ENTRY_HEADER: usize = 1 + 1 + 4 + 8;
const PUT: u8 = 1;
const DELETE: u8 = 2;

/// The writes, one entry after another in one buffer, reused across
/// rounds so that a write allocates nothing in steady state.
#[derive(Debug, Default)]
pub(crate) struct PendingWrites {
    entries: Vec<u8>,
}

/// One pending write.
pub(crate) struct Pending<'a> {
    pub(crate) hash: u64,
    pub(crate) key: &'a [u8],
    /// The new item; `None` deletes the key.
    pub(crate) item: Option<&'a [u8]>,
}

impl PendingWrites {
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes held, for sizing the batch and for [`BATCH_LIMIT`].
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds a put of `key`, whose item `encode` appends to the buffer it is
    /// given: the item is encoded once, in place.
    pub(crate) fn put_with(&mut self, hash: u64, key: &[u8], encode: impl FnOnce(&mut Vec<u8>)) {
        let start = self.push_header(PUT, hash, key);
        encode(&mut self.entries);
        let item_len = self.entries.len() - start - ENTRY_HEADER - key.len();
        self.entries[start + 2..start + 6].copy_from_slice(&(item_len as u32).to_le_bytes());
    }

    /// Adds a delete of `key`.
    pub(crate) fn delete(&mut self, hash: u64, key: &[u8]) {
        self.push_header(DELETE, hash, key);
    }

    fn push_header(&mut self, kind: u8, hash: u64, key: &[u8]) -> usize {
        let start = self.entries.len();
        self.entries.extend_from_slice(&[kind, key.len() as u8, 0, 0, 0, 0]);
        self.entries.extend_from_slice(&hash.to_le_bytes());
        self.entries.extend_from_slice(key);
        start
    }

    /// The writes, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Pending<'_>> {
        let mut rest = &self.entries[..];
        std::iter::from_fn(move || {
            let (header, tail) = rest.split_at_checked(ENTRY_HEADER)?;
            let key_len = header[1] as usize;
            let item_len = u32::from_le_bytes(header[2..6].try_into().expect("4 bytes")) as usize;
            let hash = u64::from_le_bytes(header[6..14].try_into().expect("8 bytes"));
            let (key, tail) = tail.split_at(key_len);
            let (item, tail) = tail.split_at(item_len);
            rest = tail;
            Some(Pending { hash, key, item: (header[0] == PUT).then_some(item) })
        })
    }

    /// Forgets every write, keeping the buffer unless a large round grew it
    /// past twice the limit.
    pub(crate) fn clear(&mut self) {
        if self.entries.capacity() > 2 * BATCH_LIMIT {
            self.entries = Vec::new();
        } else {
            self.entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_puts_and_deletes_in_the_order_made() {
        let mut pending = PendingWrites::default();
        pending.put_with(1, b"a", |out| out.extend_from_slice(b"first"));
        pending.delete(2, b"bb");
        pending.put_with(3, b"", |out| out.extend_from_slice(&[0; 300]));
        pending.put_with(1, b"a", |_| {});
        let seen: Vec<_> =
            pending.iter().map(|p| (p.hash, p.key.to_vec(), p.item.map(<[u8]>::to_vec))).collect();
        assert_eq!(
            seen,
            vec![
                (1, b"a".to_vec(), Some(b"first".to_vec())),
                (2, b"bb".to_vec(), None),
                (3, vec![], Some(vec![0; 300])),
                (1, b"a".to_vec(), Some(vec![])),
            ]
        );
        pending.clear();
        assert!(pending.is_empty());
        assert_eq!(pending.iter().count(), 0);
    }
}
