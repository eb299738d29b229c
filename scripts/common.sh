# Shared settings for Petrel's scripts; sourced, not run.
#
# One build cache per machine, outside the clone, so a work tree and every CI
# clone on the machine share compiled dependencies:
#   $PETREL_CACHE/target            cargo's target directory
#   $PETREL_CACHE/rocksdb-VERSION[-crc32c]   librocksdb.a, built once (see scripts/setup)

PETREL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PETREL_ROOT
export PETREL_CACHE="${PETREL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/petrel}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PETREL_CACHE/target}"

# The version of librocksdb-sys a lockfile pins.
rocksdb_version() {
    awk '/^name = "librocksdb-sys"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$1"
}

ROCKSDB_VERSION=$(rocksdb_version "$PETREL_ROOT/Cargo.lock")
# On x86-64, RocksDB is compiled for SSE 4.2 and PCLMUL (every x86-64 server
# since about 2011): without them it checksums each write-ahead log record
# and each block in software, which cost a tenth of the CPU of a set.
ROCKSDB_CPU_FLAGS=""
if [ "$(uname -m)" = x86_64 ]; then
    ROCKSDB_CPU_FLAGS="-C target-feature=+sse4.2,+pclmulqdq"
fi
export ROCKSDB_CPU_FLAGS
# librocksdb-sys links this prebuilt static library instead of compiling
# RocksDB's C++ again whenever the workspace's feature set changes.
export ROCKSDB_LIB_DIR="$PETREL_CACHE/rocksdb-$ROCKSDB_VERSION${ROCKSDB_CPU_FLAGS:+-crc32c}"
export ROCKSDB_STATIC=1
