# Shared settings for Petrel's scripts; sourced, not run.
#
# One build cache per machine, outside the clone, so a work tree and every CI
# clone on the machine share compiled dependencies:
#   $PETREL_CACHE/target            cargo's target directory
#   $PETREL_CACHE/rocksdb-VERSION   librocksdb.a, built once (see scripts/setup)

PETREL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PETREL_ROOT
export PETREL_CACHE="${PETREL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/petrel}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PETREL_CACHE/target}"

# The version of librocksdb-sys a lockfile pins.
rocksdb_version() {
    awk '/^name = "librocksdb-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$1"
}

ROCKSDB_VERSION=$(rocksdb_version "$PETREL_ROOT/Cargo.lock")
# librocksdb-sys links this prebuilt static library instead of compiling
# RocksDB's C++ again whenever the workspace's feature set changes.
export ROCKSDB_LIB_DIR="$PETREL_CACHE/rocksdb-$ROCKSDB_VERSION"
export ROCKSDB_STATIC=1
