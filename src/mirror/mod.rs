//! The mirror engine: `pull` a bucket prefix into a local folder, `push` a
//! local folder to a bucket prefix, and the `changes` watcher that pushes
//! while containers run (`b2c.volume` transfers, see docs/options.md).
//!
//! # Threads
//! Everything here is blocking and runs on threads of its own: a transfer
//! starts a small pool of worker threads (ureq is a blocking HTTP client,
//! and file I/O blocks anyway), and the watcher has its own thread. The init
//! calls [`pull`], [`push`] and [`ChangesWatcher::stop`] through
//! `tokio::task::spawn_blocking`, so its single-threaded runtime never
//! blocks. The alternative, an async client, would link hyper and an async
//! TLS stack next to the ureq+rustls the init already has (see the README's
//! design notes for the sizes).
//!
//! # What is compared
//! A file present on both sides with the same size is the same when:
//! - with `preserve`, its modification time equals the one kept in the
//!   object's metadata (`X-Amz-Meta-Mc-Attrs`, the format of MinIO's `mc`);
//! - otherwise (or when the object has no such metadata), its MD5 equals
//!   the object's: the ETag of a single-part object, the MD5 kept in
//!   `X-Amz-Meta-Md5chksum` (written for encrypted objects, as rclone does),
//!   or the multipart ETag recomputed with the part sizes in common use.
//!   When none of these can be checked, the file counts as different.
//!
//! A different file is copied with `overwrite`, and kept (and reported)
//! without it. With `remove`, destination files the source does not have are
//! deleted, but only after both listings were complete and every transfer
//! succeeded. No local file is ever deleted because something failed;
//! downloads are written to a temporary name and renamed.

mod attrs;
mod engine;
mod etag;
pub mod glob;
mod local;
mod plan;
mod summary;
mod watch;

pub mod cli;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use engine::{pull, push};
pub use glob::{ExcludeSet, Glob, GlobError};
pub use summary::{human_bytes, Direction, Failure, Summary};
pub use watch::{ChangesWatcher, WatchEvent};

use crate::cmdline::{S3Location, Secret, Volume};
use crate::s3::{EndpointError, RetryPolicy, S3Error, SseKey, SseKeyError};

/// Asks a running transfer to stop as soon as it can (between requests,
/// and inside the body of a request being sent or received).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every transfer holding a clone of this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What a transfer does; [`TransferOptions::from_volume`] fills it from a
/// `b2c.volume`, [`Default`] has the tuning values.
#[derive(Debug, Clone)]
pub struct TransferOptions {
    /// Replace destination files that differ.
    pub overwrite: bool,
    /// Delete destination files the source does not have.
    pub remove: bool,
    /// Paths skipped (see [`glob`] for the syntax).
    pub exclude: Vec<String>,
    /// Keep file modes and modification times (object metadata).
    pub preserve: bool,
    /// SSE-C key sent with every object request.
    pub encrypt_key: Option<Secret>,
    /// Stops the transfer early when cancelled.
    pub cancel: CancelToken,
    /// The transfer gives up at this instant.
    pub deadline: Option<Instant>,
    /// Transfers in flight (worker threads), at least 1 (default 16: small
    /// objects are bound by the round trip, not by the bandwidth).
    pub transfers: usize,
    /// Files larger than this are sent and received in parts (default 32 MiB).
    pub multipart_threshold: u64,
    /// Size of each part (default 16 MiB; larger for files of more than
    /// 10,000 parts).
    pub part_size: u64,
    /// Tries and back-off for each request.
    pub retry: RetryPolicy,
    /// Time limit of a request before its body: each request is also bounded
    /// by this plus its size at [`TransferOptions::min_rate`] (default 60 s).
    pub request_timeout: Duration,
    /// Slowest transfer rate accepted, in bytes per second (default 128 KiB/s).
    pub min_rate: u64,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            overwrite: false,
            remove: false,
            exclude: Vec::new(),
            preserve: false,
            encrypt_key: None,
            cancel: CancelToken::new(),
            deadline: None,
            transfers: 16,
            multipart_threshold: 32 << 20,
            part_size: 16 << 20,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(60),
            min_rate: 128 << 10,
        }
    }
}

impl TransferOptions {
    /// The options of `volume`'s transfers: `overwrite`, `remove`,
    /// `exclude`, `preserve`, `encrypt_key`.
    pub fn from_volume(volume: &Volume) -> TransferOptions {
        TransferOptions {
            overwrite: volume.overwrite,
            remove: volume.remove,
            exclude: volume.exclude.clone(),
            preserve: volume.preserve,
            encrypt_key: volume.encrypt_key.clone(),
            ..TransferOptions::default()
        }
    }

    /// Checks the exclude patterns and the SSE-C key without transferring.
    pub fn validate(&self) -> Result<(), MirrorError> {
        ExcludeSet::new(&self.exclude)?;
        if let Some(k) = &self.encrypt_key {
            SseKey::from_secret(k)?;
        }
        Ok(())
    }

    /// The part size for a file of `size` bytes: [`TransferOptions::part_size`],
    /// grown to a whole number of MiB when the file would need more than
    /// 10,000 parts (the S3 limit).
    pub fn part_size_for(&self, size: u64) -> u64 {
        let min = self.part_size.max(5 << 20);
        let needed = size.div_ceil(10_000);
        if needed <= min {
            min
        } else {
            needed.div_ceil(1 << 20) * (1 << 20)
        }
    }

    /// The time limit of one request carrying `bytes` bytes.
    pub(crate) fn timeout_for(&self, bytes: u64) -> Duration {
        self.request_timeout + Duration::from_secs(bytes / self.min_rate.max(1))
    }
}

/// Why a transfer did not complete. Every message names the endpoint alias,
/// the bucket and prefix, and the object or local path concerned; none
/// contains a key.
#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    /// The endpoint cannot be used (URL, CA bundle, proxy).
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The location names another alias than the endpoint's.
    #[error("{location} is not on b2c.minio={alias}")]
    WrongAlias {
        /// The endpoint alias.
        alias: String,
        /// The location.
        location: String,
    },
    /// A malformed exclude pattern.
    #[error(transparent)]
    Exclude(#[from] GlobError),
    /// A malformed SSE-C key.
    #[error(transparent)]
    EncryptKey(#[from] SseKeyError),
    /// The bucket does not exist.
    #[error("{location}: the bucket \"{bucket}\" does not exist on b2c.minio={alias} ({url})")]
    NoSuchBucket {
        /// The endpoint alias.
        alias: String,
        /// Its URL.
        url: String,
        /// The bucket.
        bucket: String,
        /// `ALIAS/BUCKET[/PREFIX]`.
        location: String,
    },
    /// The server refused the credentials.
    #[error("{location}: access denied by b2c.minio={alias} ({url}): {source}; check its ACCESS_KEY and SECRET_KEY")]
    Denied {
        /// The endpoint alias.
        alias: String,
        /// Its URL.
        url: String,
        /// `ALIAS/BUCKET[/PREFIX]`.
        location: String,
        /// The answer.
        source: Box<S3Error>,
    },
    /// The objects could not be listed.
    #[error("{location}: cannot list the objects: {source}{}", tries_note(*.tries))]
    Listing {
        /// `ALIAS/BUCKET[/PREFIX]`.
        location: String,
        /// How many tries.
        tries: u32,
        /// The last failure.
        source: Box<S3Error>,
    },
    /// The local folder cannot be read or created.
    #[error("{}: {reason}", .path.display())]
    Local {
        /// The folder.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// Some files failed; the others were transferred.
    #[error("{summary}; first failure: {}", .failures.first().map(|f| f.to_string()).unwrap_or_default())]
    Incomplete {
        /// What was done.
        summary: Box<Summary>,
        /// Each failure (path and reason).
        failures: Vec<Failure>,
    },
    /// Cancelled, or past the deadline, before the end.
    #[error("{summary}; {reason}")]
    Stopped {
        /// What was done.
        summary: Box<Summary>,
        /// `cancelled` or the deadline.
        reason: String,
    },
    /// The change watcher could not start.
    #[error("cannot watch {} for changes: {reason}", .path.display())]
    Watch {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

impl MirrorError {
    /// The summary of what was done before the failure, when something was.
    pub fn summary(&self) -> Option<&Summary> {
        match self {
            MirrorError::Incomplete { summary, .. } | MirrorError::Stopped { summary, .. } => {
                Some(summary)
            }
            _ => None,
        }
    }
}

/// ` (N tries)` after an error that was tried more than once.
pub(crate) fn tries_note(tries: u32) -> String {
    if tries > 1 {
        format!(" ({tries} tries)")
    } else {
        String::new()
    }
}

/// `ALIAS/BUCKET[/PREFIX]` and the key prefix (`PREFIX/` or empty).
pub(crate) fn key_prefix(location: &S3Location) -> String {
    match &location.prefix {
        Some(p) => format!("{}/", p.trim_matches('/')),
        None => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn part_sizes() {
        let o = TransferOptions::default();
        assert_eq!(o.part_size_for(200 << 20), 16 << 20);
        // 1 TiB: 10,000 parts of 16 MiB are not enough.
        let big = 1u64 << 40;
        let p = o.part_size_for(big);
        assert!(big.div_ceil(p) <= 10_000);
        assert_eq!(p % (1 << 20), 0);
        let small = TransferOptions {
            part_size: 1,
            ..TransferOptions::default()
        };
        assert_eq!(small.part_size_for(100), 5 << 20, "S3's minimum part");
    }

    #[test]
    fn timeouts_grow_with_size() {
        let o = TransferOptions::default();
        assert_eq!(o.timeout_for(0), Duration::from_secs(60));
        assert_eq!(o.timeout_for(16 << 20), Duration::from_secs(60 + 128));
    }

    #[test]
    fn from_volume_and_validate() {
        let mut v = Volume {
            name: "job".into(),
            overwrite: true,
            exclude: vec!["*.tmp".into()],
            encrypt_key: Some(Secret::new("0123456789abcdef0123456789abcdef")),
            ..Volume::default()
        };
        let o = TransferOptions::from_volume(&v);
        assert!(o.overwrite && !o.remove && !o.preserve);
        assert!(o.validate().is_ok());
        v.exclude.push("[oops".into());
        let e = TransferOptions::from_volume(&v).validate().unwrap_err();
        assert!(e.to_string().contains("[oops"));
        v.exclude.pop();
        v.encrypt_key = Some(Secret::new("too-short-key"));
        let e = TransferOptions::from_volume(&v).validate().unwrap_err();
        assert!(!e.to_string().contains("too-short"));
    }

    #[test]
    fn prefixes() {
        let l = S3Location::parse("a/b/c/d").unwrap();
        assert_eq!(key_prefix(&l), "c/d/");
        let l = S3Location::parse("a/b").unwrap();
        assert_eq!(key_prefix(&l), "");
    }
}
