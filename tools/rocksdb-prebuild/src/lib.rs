//! Nothing to see: this crate exists so that building it builds librocksdb.a.
