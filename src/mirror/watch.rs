//! `push_on=changes`: watch a volume's folder with inotify (recursively,
//! folders created later included) and push changed files within about a
//! second, on a thread of its own; [`ChangesWatcher::stop`] ends it and runs
//! one final complete push.

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask};

use super::engine::{push, push_paths};
use super::glob::ExcludeSet;
use super::local::{relative, LocalFile, PARTIAL_SUFFIX};
use super::{CancelToken, MirrorError, Summary, TransferOptions};
use crate::cmdline::S3Location;
use crate::s3::Endpoint;

/// A push starts once changes have been quiet this long...
const QUIET: Duration = Duration::from_millis(200);
/// ... or this long after the first change, whatever comes first.
const MAX_DELAY: Duration = Duration::from_millis(700);
/// Files that failed are tried again after this pause.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// What the watcher reports while it runs.
#[derive(Debug)]
pub enum WatchEvent {
    /// An incremental push sent or kept something.
    Pushed(Summary),
    /// An incremental push failed (the files are tried again later, and the
    /// final push sends everything anyway).
    Failed(MirrorError),
    /// Too many changes at once for inotify: a complete push follows.
    Overflow,
    /// A folder could not be watched (its changes are sent by the final push).
    NotWatched {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Reports of the watcher thread.
pub type EventSink = Box<dyn Fn(WatchEvent) + Send + 'static>;

/// A running `changes` watcher.
pub struct ChangesWatcher {
    stop: Arc<AtomicBool>,
    /// Cancels an incremental push in flight when stopping.
    cancel: CancelToken,
    thread: Option<JoinHandle<()>>,
    endpoint: Arc<Endpoint>,
    location: S3Location,
    dir: PathBuf,
    opts: TransferOptions,
}

impl std::fmt::Debug for ChangesWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ChangesWatcher({} -> {})",
            self.dir.display(),
            self.location
        )
    }
}

impl ChangesWatcher {
    /// Starts watching `dir` and pushing its changes to `location`.
    /// Returns once every existing folder is watched (a walk of the tree),
    /// so a file written after this returns is seen. `on_event` is called on
    /// the watcher's thread.
    pub fn start(
        endpoint: Arc<Endpoint>,
        location: S3Location,
        dir: PathBuf,
        opts: TransferOptions,
        on_event: EventSink,
    ) -> Result<ChangesWatcher, MirrorError> {
        opts.validate()?;
        let excludes = ExcludeSet::new(&opts.exclude)?;
        let mut tracker = Tracker::new(&dir, excludes).map_err(|reason| MirrorError::Watch {
            path: dir.clone(),
            reason,
        })?;
        for (path, reason) in tracker.take_unwatched() {
            on_event(WatchEvent::NotWatched { path, reason });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let cancel = CancelToken::new();
        let mut inner_opts = opts.clone();
        inner_opts.cancel = cancel.clone();
        let worker = Worker {
            endpoint: endpoint.clone(),
            location: location.clone(),
            dir: dir.clone(),
            opts: inner_opts,
            stop: stop.clone(),
            on_event,
        };
        let thread = std::thread::Builder::new()
            .name("b2c-watch".to_string())
            .spawn(move || worker.run(tracker))
            .map_err(|e| MirrorError::Watch {
                path: dir.clone(),
                reason: format!("cannot start a thread: {e}"),
            })?;
        Ok(ChangesWatcher {
            stop,
            cancel,
            thread: Some(thread),
            endpoint,
            location,
            dir,
            opts,
        })
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            // A panic there is already reported by the panic hook.
            let _ = t.join();
        }
    }

    /// Stops watching (an incremental push in flight is cancelled), then
    /// runs one final complete push and returns its result. Blocking.
    pub fn stop(mut self) -> Result<Summary, MirrorError> {
        self.halt();
        push(&self.endpoint, &self.dir, &self.location, &self.opts)
    }
}

impl Drop for ChangesWatcher {
    fn drop(&mut self) {
        self.halt();
    }
}

struct Worker {
    endpoint: Arc<Endpoint>,
    location: S3Location,
    dir: PathBuf,
    opts: TransferOptions,
    stop: Arc<AtomicBool>,
    on_event: EventSink,
}

impl Worker {
    fn run(self, mut tracker: Tracker) {
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        let mut first: Option<Instant> = None;
        let mut last = Instant::now();
        let mut retry: BTreeSet<String> = BTreeSet::new();
        let mut retry_at: Option<Instant> = None;
        let mut pushed: HashMap<String, LocalFile> = HashMap::new();
        // Files kept at the destination (they differ, no overwrite): said
        // once, not looked at again until the final push.
        let mut kept: BTreeSet<String> = BTreeSet::new();
        let mut full_push = false;
        while !self.stop.load(Ordering::SeqCst) {
            let changes = tracker.wait(Duration::from_millis(100));
            for (path, reason) in tracker.take_unwatched() {
                (self.on_event)(WatchEvent::NotWatched { path, reason });
            }
            let now = Instant::now();
            for c in changes {
                match c {
                    Change::File(rel) => {
                        dirty.insert(rel);
                    }
                    Change::Overflow => {
                        (self.on_event)(WatchEvent::Overflow);
                        full_push = true;
                    }
                }
                first.get_or_insert(now);
                last = now;
            }
            if retry_at.is_some_and(|t| now >= t) {
                dirty.append(&mut retry);
                retry_at = None;
                first.get_or_insert(now);
            }
            let due = first.is_some_and(|f| now - last >= QUIET || now - f >= MAX_DELAY);
            if !due || self.stop.load(Ordering::SeqCst) {
                continue;
            }
            first = None;
            if full_push {
                full_push = false;
                dirty.clear();
                match push(&self.endpoint, &self.dir, &self.location, &self.opts) {
                    Ok(s) => (self.on_event)(WatchEvent::Pushed(s)),
                    Err(e) => (self.on_event)(WatchEvent::Failed(e)),
                }
                continue;
            }
            let rels: Vec<String> = std::mem::take(&mut dirty)
                .into_iter()
                .filter(|r| !kept.contains(r))
                .collect();
            if rels.is_empty() {
                continue;
            }
            match push_paths(
                &self.endpoint,
                &self.dir,
                &self.location,
                &self.opts,
                &rels,
                &mut pushed,
            ) {
                Ok(s) => {
                    kept.extend(s.kept.iter().cloned());
                    if s.files_sent > 0 || !s.kept.is_empty() {
                        (self.on_event)(WatchEvent::Pushed(s));
                    }
                }
                Err(e) => {
                    if self.stop.load(Ordering::SeqCst) {
                        // Cancelled by stop(): the final push takes over.
                        break;
                    }
                    if let MirrorError::Incomplete { failures, .. } = &e {
                        retry.extend(failures.iter().map(|f| f.path.clone()));
                    } else {
                        retry.extend(rels);
                    }
                    retry_at = Some(Instant::now() + RETRY_AFTER);
                    (self.on_event)(WatchEvent::Failed(e));
                }
            }
        }
    }
}

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    /// A file was written, moved in or had its attributes changed.
    File(String),
    /// Events were lost.
    Overflow,
}

/// The inotify side: one watch per folder, events turned into relative paths.
struct Tracker {
    inotify: Inotify,
    root: PathBuf,
    excludes: ExcludeSet,
    /// Watch → folder relative path (`""` for the root).
    folders: HashMap<WatchDescriptor, String>,
    /// Files found in folders that appeared (written before their watch).
    found: Vec<Change>,
    unwatched: Vec<(PathBuf, String)>,
    buffer: Vec<u8>,
}

const MASK: WatchMask = WatchMask::CLOSE_WRITE
    .union(WatchMask::MODIFY)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CREATE)
    .union(WatchMask::MOVED_TO);

impl Tracker {
    fn new(root: &Path, excludes: ExcludeSet) -> Result<Tracker, String> {
        let meta = std::fs::metadata(root).map_err(|e| e.to_string())?;
        if !meta.is_dir() {
            return Err("not a folder".to_string());
        }
        let inotify = Inotify::init().map_err(|e| format!("inotify: {e}"))?;
        let mut t = Tracker {
            inotify,
            root: root.to_path_buf(),
            excludes,
            folders: HashMap::new(),
            found: Vec::new(),
            unwatched: Vec::new(),
            buffer: vec![0u8; 64 << 10],
        };
        t.watch_tree(root, false)
            .map_err(|e| format!("inotify on {}: {e}", root.display()))?;
        Ok(t)
    }

    fn take_unwatched(&mut self) -> Vec<(PathBuf, String)> {
        std::mem::take(&mut self.unwatched)
    }

    /// Watches `dir` and every folder below it; with `report`, the files
    /// found are reported as changed (they may predate the watch).
    fn watch_tree(&mut self, dir: &Path, report: bool) -> std::io::Result<()> {
        let mut stack = vec![dir.to_path_buf()];
        let mut first = true;
        while let Some(d) = stack.pop() {
            let rel = if d == self.root {
                String::new()
            } else {
                match relative(&self.root, &d) {
                    Some(r) => r,
                    None => continue,
                }
            };
            if !rel.is_empty() && self.excludes.excludes(&rel) {
                continue;
            }
            match self.inotify.watches().add(&d, MASK) {
                Ok(wd) => {
                    self.folders.insert(wd, rel.clone());
                }
                Err(e) if first => return Err(e),
                Err(e) => {
                    self.unwatched.push((d.clone(), e.to_string()));
                    continue;
                }
            }
            first = false;
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(ft) = entry.file_type() else { continue };
                if ft.is_dir() {
                    stack.push(entry.path());
                } else if report && ft.is_file() {
                    if let Some(r) = relative(&self.root, &entry.path()) {
                        self.found.push(Change::File(r));
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for events; returns the changes seen.
    fn wait(&mut self, timeout: Duration) -> Vec<Change> {
        let mut fds = [libc::pollfd {
            fd: self.inotify.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of one pollfd that outlives the
        // call, and its length is passed with it.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) };
        let mut out = std::mem::take(&mut self.found);
        if ready <= 0 {
            return out;
        }
        let mut new_dirs: Vec<PathBuf> = Vec::new();
        loop {
            let events = match self.inotify.read_events(&mut self.buffer) {
                Ok(ev) => ev,
                Err(_) => break,
            };
            let mut any = false;
            for ev in events {
                any = true;
                if ev.mask.contains(EventMask::Q_OVERFLOW) {
                    out.push(Change::Overflow);
                    continue;
                }
                if ev.mask.contains(EventMask::IGNORED) {
                    self.folders.remove(&ev.wd);
                    continue;
                }
                let Some(folder) = self.folders.get(&ev.wd) else {
                    continue;
                };
                let Some(name) = ev.name.and_then(OsStr::to_str) else {
                    continue;
                };
                let rel = if folder.is_empty() {
                    name.to_string()
                } else {
                    format!("{folder}/{name}")
                };
                if rel.ends_with(PARTIAL_SUFFIX) || self.excludes.excludes(&rel) {
                    continue;
                }
                if ev.mask.contains(EventMask::ISDIR) {
                    if ev.mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
                        new_dirs.push(self.root.join(&rel));
                    }
                } else {
                    out.push(Change::File(rel));
                }
            }
            if !any {
                break;
            }
        }
        for d in new_dirs {
            if let Err(e) = self.watch_tree(&d, true) {
                self.unwatched.push((d, e.to_string()));
            }
        }
        out.append(&mut self.found);
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn collect(t: &mut Tracker, want: usize) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end && seen.len() < want {
            for c in t.wait(Duration::from_millis(50)) {
                if let Change::File(r) = c {
                    seen.insert(r);
                }
            }
        }
        seen
    }

    #[test]
    fn tracks_files_in_new_and_old_folders() {
        let root = std::env::temp_dir().join(format!("b2c-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("old/sub")).unwrap();
        let mut t = Tracker::new(&root, ExcludeSet::new(&["*.tmp"]).unwrap()).unwrap();
        std::fs::write(root.join("old/sub/a.txt"), b"a").unwrap();
        std::fs::write(root.join("skip.tmp"), b"x").unwrap();
        // A new tree, made at once: the files are found by the scan.
        std::fs::create_dir_all(root.join("new/deep/er")).unwrap();
        std::fs::write(root.join("new/deep/er/b.txt"), b"b").unwrap();
        let seen = collect(&mut t, 2);
        assert!(seen.contains("old/sub/a.txt"), "{seen:?}");
        assert!(seen.contains("new/deep/er/b.txt"), "{seen:?}");
        assert!(!seen.iter().any(|s| s.ends_with(".tmp")), "{seen:?}");
        // A later write in the new folder is seen through its own watch.
        std::fs::write(root.join("new/deep/er/c.txt"), b"c").unwrap();
        let seen = collect(&mut t, 1);
        assert!(seen.contains("new/deep/er/c.txt"), "{seen:?}");
        std::fs::remove_dir_all(&root).unwrap();
        assert!(Tracker::new(&root, ExcludeSet::default()).is_err());
    }
}
