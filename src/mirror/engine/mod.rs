//! The transfer engine: listings, the plan, a pool of worker threads that
//! compare, upload, download (in parts for large files) and remove.
//!
//! Here: the entry points, the run and its scheduler. The listing and the
//! comparison are in `compare`, the transfers in `upload` and `download`,
//! their checks in `verify`, the removals in `remove`, the work queue in
//! `queue`.

mod compare;
mod download;
mod queue;
mod remove;
mod upload;
mod verify;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use self::queue::{Job, Queue};
use super::glob::ExcludeSet;
use super::local::{self, LocalFile, PARTIAL_SUFFIX};
use super::plan::{self, Outcome, Step};
use super::{key_prefix, Direction, Failure, MirrorError, Summary, TransferOptions};
use crate::cmdline::S3Location;
use crate::s3::{Bucket, Endpoint, Listed, S3Error, SseKey};

/// Locks, shrugging off a poisoned lock (a panicking job is already
/// recorded as a failure; the data it guards stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Pushes the folder `dir` to `to` (see the module documentation of
/// [`super`]). Blocking: call it from a thread of its own or through
/// `spawn_blocking`.
pub fn push(
    endpoint: &Endpoint,
    dir: &Path,
    to: &S3Location,
    opts: &TransferOptions,
) -> Result<Summary, MirrorError> {
    let start = Instant::now();
    let run = Run::new(endpoint, to, dir, opts, Direction::Push)?;
    let tree = local::walk(dir, &run.excludes).map_err(|e| MirrorError::Local {
        path: dir.to_path_buf(),
        reason: format!("cannot read the folder: {e}"),
    })?;
    let remote = run.list_remote()?;
    let local_complete = tree.failures.is_empty();
    run.record_tree(&tree);
    let src: BTreeMap<String, u64> = tree
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.size))
        .collect();
    let dst: BTreeMap<String, u64> = remote.iter().map(|(k, v)| (k.clone(), v.size)).collect();
    let steps = plan::plan(&src, &dst, opts.overwrite, opts.remove);
    let mut state = State {
        local: tree.files,
        remote,
    };
    run.execute(&mut state, steps, local_complete);
    run.finish(start)
}

/// Pulls `from` into the folder `dir` (created when missing). Blocking, like
/// [`push`].
pub fn pull(
    endpoint: &Endpoint,
    from: &S3Location,
    dir: &Path,
    opts: &TransferOptions,
) -> Result<Summary, MirrorError> {
    let start = Instant::now();
    let run = Run::new(endpoint, from, dir, opts, Direction::Pull)?;
    std::fs::create_dir_all(dir).map_err(|e| MirrorError::Local {
        path: dir.to_path_buf(),
        reason: format!("cannot create the folder: {e}"),
    })?;
    let remote = run.list_remote()?;
    let tree = local::walk(dir, &run.excludes).map_err(|e| MirrorError::Local {
        path: dir.to_path_buf(),
        reason: format!("cannot read the folder: {e}"),
    })?;
    let local_complete = tree.failures.is_empty();
    run.record_tree(&tree);
    // Keys that cannot be local files.
    let mut usable = BTreeMap::new();
    let clashes = plan::file_folder_clashes(remote.keys());
    for (rel, obj) in remote {
        if !local::safe_relative(&rel) {
            run.fail(
                &rel,
                format!(
                    "{}: the key cannot be a local file name (empty, '.' or '..' part)",
                    run.object(&rel)
                ),
            );
        } else if clashes.contains(&rel) {
            run.fail(
                &rel,
                format!(
                    "{}: the key is both a file and a folder in the bucket",
                    run.object(&rel)
                ),
            );
        } else {
            usable.insert(rel, obj);
        }
    }
    let src: BTreeMap<String, u64> = usable.iter().map(|(k, v)| (k.clone(), v.size)).collect();
    let dst: BTreeMap<String, u64> = tree
        .files
        .iter()
        .map(|(k, v)| (k.clone(), v.size))
        .collect();
    let steps = plan::plan(&src, &dst, opts.overwrite, opts.remove);
    let mut state = State {
        local: tree.files,
        remote: usable,
    };
    run.execute(&mut state, steps, local_complete);
    run.finish(start)
}

/// Pushes the files `rels` of `dir` (the `changes` watcher's incremental
/// push). `pushed` remembers the version of each file this watcher already
/// sent: a newer version of such a file replaces the object even without
/// `overwrite` (it is the object this job wrote), and an unchanged one is
/// not looked at again. Other files are compared with the object, as a
/// full push would.
pub(crate) fn push_paths(
    endpoint: &Endpoint,
    dir: &Path,
    to: &S3Location,
    opts: &TransferOptions,
    rels: &[String],
    pushed: &mut HashMap<String, LocalFile>,
) -> Result<Summary, MirrorError> {
    let start = Instant::now();
    let run = Run::new(endpoint, to, dir, opts, Direction::Push)?;
    let mut steps = Vec::new();
    let mut local_files = BTreeMap::new();
    for rel in rels {
        if !local::safe_relative(rel) || rel.ends_with(PARTIAL_SUFFIX) {
            continue;
        }
        if run.excludes.excludes(rel) {
            continue;
        }
        let path = local::local_path(dir, rel);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        let now = LocalFile::from_metadata(&meta);
        match pushed.get(rel) {
            Some(old) if old.size == now.size && old.mtime == now.mtime => continue,
            Some(_) => steps.push(Step::Replace(rel.clone())),
            None => steps.push(Step::Compare(rel.clone())),
        }
        local_files.insert(rel.clone(), now);
    }
    let mut state = State {
        local: local_files,
        remote: BTreeMap::new(),
    };
    *lock(&run.probe) = true;
    run.execute(&mut state, steps, false);
    for (rel, file) in lock(&run.sent).drain(..) {
        pushed.insert(rel, file);
    }
    run.finish(start)
}

/// The two listings a run works from.
struct State {
    local: BTreeMap<String, LocalFile>,
    remote: BTreeMap<String, Listed>,
}

/// One transfer: what it works on, and what it counts.
struct Run<'a> {
    bucket: Bucket<'a>,
    alias: String,
    url: String,
    location: String,
    key_prefix: String,
    root: PathBuf,
    opts: &'a TransferOptions,
    direction: Direction,
    excludes: ExcludeSet,
    encrypted: bool,
    /// The endpoint did not answer: remaining work is not attempted.
    down: AtomicBool,
    /// Files are compared with a HEAD (no listing): the watcher's mode.
    probe: Mutex<bool>,
    files_sent: AtomicU64,
    bytes_sent: AtomicU64,
    skipped: AtomicU64,
    removed: AtomicU64,
    excluded: AtomicU64,
    failures: Mutex<Vec<Failure>>,
    kept: Mutex<Vec<String>>,
    notes: Mutex<Vec<String>>,
    /// Files uploaded, with the version sent (for the watcher).
    sent: Mutex<Vec<(String, LocalFile)>>,
    /// Why the run stopped early, if it did.
    stopped: Mutex<Option<String>>,
}

impl<'a> Run<'a> {
    fn new(
        endpoint: &'a Endpoint,
        location: &S3Location,
        root: &Path,
        opts: &'a TransferOptions,
        direction: Direction,
    ) -> Result<Run<'a>, MirrorError> {
        if location.alias != endpoint.alias() {
            return Err(MirrorError::WrongAlias {
                alias: endpoint.alias().to_string(),
                location: location.to_string(),
            });
        }
        let excludes = ExcludeSet::new(&opts.exclude)?;
        let sse = match &opts.encrypt_key {
            Some(k) => Some(SseKey::from_secret(k)?),
            None => None,
        };
        let encrypted = sse.is_some();
        Ok(Run {
            bucket: endpoint.bucket(&location.bucket, sse)?,
            alias: endpoint.alias().to_string(),
            url: endpoint.url().to_string(),
            location: location.to_string(),
            key_prefix: key_prefix(location),
            root: root.to_path_buf(),
            opts,
            direction,
            excludes,
            encrypted,
            down: AtomicBool::new(false),
            probe: Mutex::new(false),
            files_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            excluded: AtomicU64::new(0),
            failures: Mutex::new(Vec::new()),
            kept: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
            sent: Mutex::new(Vec::new()),
            stopped: Mutex::new(None),
        })
    }

    fn key(&self, rel: &str) -> String {
        format!("{}{rel}", self.key_prefix)
    }

    /// `ALIAS/BUCKET/KEY`, the object as the user knows it.
    fn object(&self, rel: &str) -> String {
        format!("{}/{}/{}", self.alias, self.bucket.name(), self.key(rel))
    }

    fn path(&self, rel: &str) -> PathBuf {
        local::local_path(&self.root, rel)
    }

    fn fail(&self, rel: &str, reason: String) {
        lock(&self.failures).push(Failure {
            path: rel.to_string(),
            reason,
        });
    }

    fn record_tree(&self, tree: &local::LocalTree) {
        self.excluded.fetch_add(tree.excluded, Ordering::Relaxed);
        lock(&self.notes).extend(tree.notes.iter().cloned());
        lock(&self.failures).extend(tree.failures.iter().cloned());
    }

    /// Why the remaining work must not be attempted, if it must not.
    fn stop_reason(&self) -> Option<String> {
        if self.opts.cancel.is_cancelled() {
            return Some("cancelled".to_string());
        }
        if self.opts.deadline.is_some_and(|d| Instant::now() >= d) {
            return Some("the time allowed for the transfer ran out".to_string());
        }
        if self.down.load(Ordering::Relaxed) {
            return Some(format!(
                "b2c.minio={} ({}) does not answer",
                self.alias, self.url
            ));
        }
        None
    }

    /// Runs one request with the retry policy; the error is the failure
    /// text (`WHAT OBJECT: ERROR (N tries)`).
    fn request<T>(
        &self,
        what: &str,
        rel: &str,
        attempt: impl FnMut(u32) -> Result<T, S3Error>,
    ) -> Result<T, String> {
        let stop = || self.stop_reason().is_some();
        self.opts.retry.run(&stop, attempt).map_err(|(e, tries)| {
            if e.is_unreachable() && tries >= self.opts.retry.tries {
                self.down.store(true, Ordering::Relaxed);
            }
            let tries = super::tries_note(tries);
            match self.direction {
                Direction::Push => format!(
                    "{what} {} to {}: {e}{tries}",
                    self.path(rel).display(),
                    self.object(rel)
                ),
                Direction::Pull => format!(
                    "{what} {} to {}: {e}{tries}",
                    self.object(rel),
                    self.path(rel).display()
                ),
            }
        })
    }

    /// Runs the plan on the worker pool, then the removals when everything
    /// else succeeded and both listings were complete.
    fn execute(&self, state: &mut State, steps: Vec<Step>, listings_complete: bool) {
        let mut jobs = Vec::new();
        let mut removals = Vec::new();
        for step in steps {
            match step {
                Step::Copy(r) | Step::Replace(r) => jobs.push(Job::Copy(r)),
                Step::Compare(r) => jobs.push(Job::Compare(r)),
                Step::Keep(r) => lock(&self.kept).push(r),
                Step::Remove(r) => removals.push(Job::Remove(r)),
            }
        }
        let state: &State = state;
        self.run_pool(state, jobs);
        let clean = lock(&self.failures).is_empty() && self.stop_reason().is_none();
        if !removals.is_empty() && clean && listings_complete {
            self.run_pool(state, removals);
            if self.direction == Direction::Pull {
                self.prune_empty_folders(state);
            }
        } else if !removals.is_empty() {
            lock(&self.notes).push(format!(
                "{} files not removed: {}",
                removals.len(),
                if listings_complete {
                    "some transfers failed"
                } else {
                    "a listing was incomplete"
                }
            ));
        }
    }

    fn run_pool(&self, state: &State, jobs: Vec<Job>) {
        if jobs.is_empty() {
            return;
        }
        let workers = self.opts.transfers.max(1);
        let queue = Queue::new(jobs);
        std::thread::scope(|scope| {
            for i in 0..workers {
                let queue = &queue;
                let spawned = std::thread::Builder::new()
                    .name(format!("b2c-s3-{i}"))
                    .stack_size(512 << 10)
                    .spawn_scoped(scope, move || self.worker(state, queue));
                if spawned.is_err() && i == 0 {
                    // Not even one thread: do the work here.
                    self.worker(state, queue);
                }
            }
        });
    }

    fn worker(&self, state: &State, queue: &Queue) {
        while let Some(job) = queue.next() {
            let rel = job.rel().to_string();
            if let Some(why) = self.stop_reason() {
                self.not_attempted(job, &why);
                queue.done();
                continue;
            }
            let parts = match &job {
                Job::UploadPart(u, _) => Some(Ok(u.clone())),
                Job::DownloadPart(d, _) => Some(Err(d.clone())),
                _ => None,
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.run_job(state, queue, job)
            }));
            if outcome.is_err() {
                let reason = format!("{}: internal error (a bug: see the log above)", rel);
                match parts {
                    Some(Ok(u)) => self.part_uploaded(&u, Err(reason)),
                    Some(Err(d)) => self.part_downloaded(&d, Err(reason)),
                    None => self.fail(&rel, reason),
                }
            }
            queue.done();
        }
    }

    fn not_attempted(&self, job: Job, why: &str) {
        let reason = |rel: &str| format!("{} not transferred: {why}", rel);
        match job {
            Job::UploadPart(u, _) => {
                let r = reason(&u.rel);
                self.part_uploaded(&u, Err(r));
            }
            Job::DownloadPart(d, _) => {
                let r = reason(&d.rel);
                self.part_downloaded(&d, Err(r));
            }
            other => {
                let rel = other.rel().to_string();
                self.fail(&rel, reason(&self.object(&rel)));
                *lock(&self.stopped) = Some(why.to_string());
            }
        }
    }

    fn run_job(&self, state: &State, queue: &Queue, job: Job) {
        match job {
            Job::Compare(rel) => match self.compare(state, &rel) {
                Err(reason) => self.fail(&rel, reason),
                Ok(Some(Outcome::Copy)) => self.copy(state, queue, &rel),
                Ok(Some(Outcome::Skip)) => {
                    self.skipped.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Some(Outcome::Keep)) => lock(&self.kept).push(rel),
                // Probe mode, nothing there: copy.
                Ok(None) => self.copy(state, queue, &rel),
            },
            Job::Copy(rel) => self.copy(state, queue, &rel),
            Job::UploadPart(up, n) => {
                let result = self.upload_part(&up, n);
                self.part_uploaded(&up, result.map(|r| (n, r)));
            }
            Job::DownloadPart(down, n) => {
                let result = self.download_part(&down, n);
                self.part_downloaded(&down, result.map(|r| (n, r)));
            }
            Job::Remove(rel) => self.remove(&rel),
        }
    }

    fn copy(&self, state: &State, queue: &Queue, rel: &str) {
        match self.direction {
            Direction::Push => self.upload(queue, rel),
            Direction::Pull => match state.remote.get(rel) {
                Some(obj) => self.download(queue, rel, obj),
                None => self.fail(rel, format!("{}: not in the listing", self.object(rel))),
            },
        }
    }

    fn finish(self, start: Instant) -> Result<Summary, MirrorError> {
        let mut summary = Summary::new(self.direction, self.root.clone(), self.location.clone());
        summary.files_sent = self.files_sent.load(Ordering::Relaxed);
        summary.bytes_sent = self.bytes_sent.load(Ordering::Relaxed);
        summary.skipped = self.skipped.load(Ordering::Relaxed);
        summary.removed = self.removed.load(Ordering::Relaxed);
        summary.excluded = self.excluded.load(Ordering::Relaxed);
        let mut kept = std::mem::take(&mut *lock(&self.kept));
        kept.sort();
        summary.kept = kept;
        summary.notes = std::mem::take(&mut *lock(&self.notes));
        let mut failures = std::mem::take(&mut *lock(&self.failures));
        summary.failed = failures.len() as u64;
        summary.elapsed = start.elapsed();
        // The real failures first, then what was not attempted.
        failures.sort_by_key(|f| f.reason.contains(" not transferred: "));
        let stopped = lock(&self.stopped).clone();
        if let Some(reason) = stopped {
            if self.opts.cancel.is_cancelled()
                || self.opts.deadline.is_some_and(|d| Instant::now() >= d)
            {
                return Err(MirrorError::Stopped {
                    summary: Box::new(summary),
                    reason,
                });
            }
        }
        if !failures.is_empty() {
            return Err(MirrorError::Incomplete {
                summary: Box::new(summary),
                failures,
            });
        }
        Ok(summary)
    }
}
