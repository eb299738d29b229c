//! How a storage command treats the item already stored under its key:
//! the text commands, `ms` and the binary opcodes say it alike.

/// How a store request treats an existing item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StoreMode {
    /// Store whatever is there.
    #[default]
    Set,
    /// Store only if absent.
    Add,
    /// Store only if present.
    Replace,
    /// Add the data after the present value; flags and expiry are kept.
    Append,
    /// Add the data before the present value; flags and expiry are kept.
    Prepend,
}
