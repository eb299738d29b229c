//! The admin command `checkpoint <directory>`: a consistent copy of the
//! store, taken while serving, into a new directory under the root the
//! operator configured (`[checkpoint] root`), and nowhere else.
//!
//! Whoever reaches the admin port names the directory, so the name is
//! checked before anything is written: no root configured, no checkpoint; a
//! name that leaves the root (an absolute path elsewhere, a `..`, or a
//! symbolic link that points out) is refused.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use metriken::{Gauge, metric};
use petrel_storage_rocks::RocksStorage;

#[metric(name = "checkpoint_last_time", description = "when the last checkpoint completed (Unix seconds)")]
static LAST_TIME: Gauge = Gauge::new();
#[metric(name = "checkpoint_last_bytes", description = "bytes of the files in the last checkpoint")]
static LAST_BYTES: Gauge = Gauge::new();
#[metric(name = "checkpoint_last_milliseconds", description = "how long the last checkpoint took")]
static LAST_MILLISECONDS: Gauge = Gauge::new();

/// Why a checkpoint was not written, as the admin port's reply says it.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointRefused {
    /// No root is configured.
    #[error("checkpoints are off: set [checkpoint] root to the directory they go under")]
    Off,
    /// No directory was named.
    #[error("usage: checkpoint <directory under {0}>")]
    Usage(PathBuf),
    /// The directory named is not under the root.
    #[error("{path} is not under the checkpoint root {root}")]
    Outside {
        /// The directory named.
        path: PathBuf,
        /// The configured root.
        root: PathBuf,
    },
    /// The root, or the directory's parent, cannot be resolved.
    #[error("cannot resolve {path}: {source}")]
    Unresolvable {
        /// What could not be resolved.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Something is there already.
    #[error("{0} exists already: a checkpoint goes into a new directory")]
    Exists(PathBuf),
    /// RocksDB could not write it.
    #[error(transparent)]
    Failed(#[from] petrel_storage_rocks::CheckpointError),
}

impl CheckpointRefused {
    /// The admin port's reply: the client's fault or the server's.
    pub fn reply(&self) -> String {
        let kind = match self {
            CheckpointRefused::Usage(_)
            | CheckpointRefused::Outside { .. }
            | CheckpointRefused::Exists(_) => "CLIENT_ERROR",
            _ => "SERVER_ERROR",
        };
        format!("{kind} {}", self.to_string().replace(['\r', '\n'], " "))
    }
}

/// Takes checkpoints of one store under one root.
pub struct Checkpoints {
    storage: Arc<RocksStorage>,
    root: Option<PathBuf>,
}

impl Checkpoints {
    /// Checkpoints of `storage` under `root`; none when `root` is empty.
    pub fn new(storage: Arc<RocksStorage>, root: &Path) -> Self {
        let root = (!root.as_os_str().is_empty()).then(|| root.to_path_buf());
        Self { storage, root }
    }

    /// Serves `checkpoint <directory>`: `OK <path>` or why not.
    pub fn command(&self, directory: &str) -> String {
        match self.take(directory) {
            Ok(path) => format!("OK {}", path.display()),
            Err(refused) => {
                log::warn!("checkpoint {directory:?} refused: {refused}");
                refused.reply()
            }
        }
    }

    /// Writes a checkpoint into `directory` (relative to the root, or an
    /// absolute path under it); returns where it went.
    pub fn take(&self, directory: &str) -> Result<PathBuf, CheckpointRefused> {
        let root = self.root.as_ref().ok_or(CheckpointRefused::Off)?;
        if directory.is_empty() {
            return Err(CheckpointRefused::Usage(root.clone()));
        }
        let path = inside(root, Path::new(directory))?;
        let started = Instant::now();
        self.storage.checkpoint(&path)?;
        let elapsed = started.elapsed();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        LAST_TIME.set(now.as_secs() as i64);
        LAST_BYTES.set(bytes_under(&path) as i64);
        LAST_MILLISECONDS.set(elapsed.as_millis() as i64);
        log::info!("wrote a checkpoint into {} in {elapsed:.1?}", path.display());
        Ok(path)
    }
}

/// `directory` resolved under `root`, if it stays there: no `..`, and its
/// parent, with every symbolic link followed, under the root with its own
/// links followed. The directory itself must not exist yet.
fn inside(root: &Path, directory: &Path) -> Result<PathBuf, CheckpointRefused> {
    let resolve = |path: &Path| {
        path.canonicalize()
            .map_err(|source| CheckpointRefused::Unresolvable { path: path.to_path_buf(), source })
    };
    let root = resolve(root)?;
    let path = root.join(directory);
    let outside = || CheckpointRefused::Outside { path: path.clone(), root: root.clone() };
    if directory.components().any(|part| part == Component::ParentDir) {
        return Err(outside());
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(outside());
    };
    let parent = resolve(parent)?;
    if !parent.starts_with(&root) {
        return Err(outside());
    }
    let path = parent.join(name);
    if path == root {
        return Err(outside());
    }
    if path.symlink_metadata().is_ok() {
        return Err(CheckpointRefused::Exists(path));
    }
    Ok(path)
}

/// Bytes of the files under `directory` (a checkpoint has no subdirectories
/// that matter; they are counted too).
fn bytes_under(directory: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(directory) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => bytes_under(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}
