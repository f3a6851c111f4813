//! The S3 transfers of a `b2c.volume` (`mirror=`, `pull_from=`, `push_to=`
//! and their `pull_on=`/`push_on=` conditions): which run at each point of
//! the pipeline, how (the engine of [`crate::mirror`], on the blocking pool:
//! the init's async thread never waits on the network), and what the
//! console says about them.
//!
//! As in the original boot2container, each condition registers one
//! transfer at that point: at a point, a volume's pull runs before its
//! push, volumes in command-line order. A volume with `mirror=` (or
//! `pull_from=`, `push_to=`) but no condition transfers nothing (the parser
//! warns). `push_on=changes` starts a watcher at `pipeline_start` that
//! pushes changed files while the containers run, and stops it at
//! `pipeline_end`, followed by one final complete push.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use tracing::{info, warn};

use super::{HookPoint, VolumeError};
use crate::cmdline::{Condition, Minio, Proxy, S3Location, Volume};
use crate::mirror::human_bytes;
use crate::mirror::{self, ChangesWatcher, Summary, TransferOptions, WatchEvent};
use crate::runtime;
use crate::s3::{Endpoint, EndpointError};

/// Which way a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    /// From the bucket into the volume.
    Pull,
    /// From the volume to the bucket.
    Push,
}

impl Transfer {
    /// `the pull from LOCATION (URL)`, `the push to LOCATION (URL)`.
    fn describe(self, location: &S3Location, endpoint: &Endpoint) -> String {
        let url = endpoint.url();
        match self {
            Transfer::Pull => format!("the pull from {location} ({url})"),
            Transfer::Push => format!("the push to {location} ({url})"),
        }
    }
}

/// Whether `volume` pushes with a `changes` watcher (the other push
/// conditions are then ignored, as in the original).
pub fn watches(volume: &Volume) -> bool {
    volume.push_destination().is_some() && volume.push_on.contains(&Condition::Changes)
}

/// The transfers of `volume` at `point`, in the order they run: its pull,
/// then its push (the `changes` watcher aside).
pub fn planned(volume: &Volume, point: HookPoint) -> Vec<Transfer> {
    let condition = point.condition();
    let mut out = Vec::new();
    if volume.pull_source().is_some() && volume.pull_on.contains(&condition) {
        out.push(Transfer::Pull);
    }
    if volume.push_destination().is_some()
        && !watches(volume)
        && volume.push_on.contains(&condition)
    {
        out.push(Transfer::Push);
    }
    out
}

/// Whether `volume` transfers anything at all.
pub fn transfers(volume: &Volume) -> bool {
    watches(volume)
        || [
            HookPoint::PipelineStart,
            HookPoint::ContainerStart,
            HookPoint::ContainerEnd,
            HookPoint::PipelineEnd,
        ]
        .into_iter()
        .any(|p| !planned(volume, p).is_empty())
}

/// What the set-up line says about the transfers of `volume`, e.g.
/// `pull from s3/job/in at pipeline_start, push to s3/job/out on changes`.
pub fn describe(volume: &Volume) -> Option<String> {
    let conditions = |on: &[Condition]| on.iter().map(|c| c.as_str()).collect::<Vec<_>>().join("|");
    let mut parts = Vec::new();
    if let Some(from) = volume.pull_source().filter(|_| !volume.pull_on.is_empty()) {
        parts.push(format!(
            "pull from {from} at {}",
            conditions(&volume.pull_on)
        ));
    }
    if let Some(to) = volume.push_destination() {
        if watches(volume) {
            parts.push(format!(
                "push to {to} on changes (and once more at pipeline_end)"
            ));
        } else if !volume.push_on.is_empty() {
            parts.push(format!("push to {to} at {}", conditions(&volume.push_on)));
        }
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The endpoint of each `b2c.minio` alias the volumes use, made once.
pub type Endpoints = HashMap<String, Result<Arc<Endpoint>, EndpointError>>;

/// Makes the endpoints of the aliases `volumes` transfer with. Blocking (an
/// https endpoint reads the CA bundle): call it through [`runtime::blocking`].
pub fn endpoints(minio: &[Minio], proxy: Option<&Proxy>, volumes: &[Volume]) -> Endpoints {
    let mut out = Endpoints::new();
    for volume in volumes.iter().filter(|v| transfers(v)) {
        for (_, location) in volume.locations() {
            if out.contains_key(&location.alias) {
                continue;
            }
            // The parser checked that every alias is defined.
            if let Some(m) = minio.iter().find(|m| m.alias == location.alias) {
                let endpoint = Endpoint::from_minio(m, proxy).map(Arc::new);
                out.insert(location.alias.clone(), endpoint);
            }
        }
    }
    out
}

/// Counters of a `changes` watcher, updated on its thread.
#[derive(Debug, Default)]
struct WatchStats {
    pushes: AtomicU64,
    files: AtomicU64,
    bytes: AtomicU64,
    /// The last incremental push failed (its error was printed; the next
    /// ones are not until one succeeds).
    failing: AtomicBool,
}

/// A running `changes` watcher and its counters.
#[derive(Debug)]
struct Watching {
    watcher: ChangesWatcher,
    stats: Arc<WatchStats>,
}

/// The S3 transfers of one volume.
#[derive(Debug)]
pub struct VolumeMirror {
    volume: Volume,
    dir: PathBuf,
    pull: Option<(Arc<Endpoint>, S3Location)>,
    push: Option<(Arc<Endpoint>, S3Location)>,
    opts: TransferOptions,
    watching: Option<Watching>,
    /// A pull of this volume failed during this boot: its folder may lack
    /// what the bucket has, so no push removes objects any more.
    pull_failed: bool,
}

impl VolumeMirror {
    /// The transfers of `volume`, whose folder is `dir`; `None` when it
    /// transfers nothing. An error when its endpoint cannot be used or its
    /// `exclude`/`encrypt_key` are malformed.
    pub fn new(
        volume: &Volume,
        dir: PathBuf,
        endpoints: &Endpoints,
    ) -> Result<Option<VolumeMirror>, VolumeError> {
        if !transfers(volume) {
            return Ok(None);
        }
        let endpoint = |location: &S3Location| -> Result<Arc<Endpoint>, VolumeError> {
            match endpoints.get(&location.alias) {
                Some(Ok(e)) => Ok(e.clone()),
                Some(Err(source)) => Err(VolumeError::Endpoint {
                    name: volume.name.clone(),
                    source: source.clone(),
                }),
                None => Err(VolumeError::Internal {
                    name: volume.name.clone(),
                    why: format!("no endpoint for the alias {}", location.alias),
                }),
            }
        };
        let pull = match volume.pull_source() {
            Some(l) if !volume.pull_on.is_empty() => Some((endpoint(l)?, l.clone())),
            _ => None,
        };
        let push = match volume.push_destination() {
            Some(l) if !volume.push_on.is_empty() => Some((endpoint(l)?, l.clone())),
            _ => None,
        };
        let opts = TransferOptions::from_volume(volume);
        opts.validate().map_err(|source| VolumeError::Options {
            name: volume.name.clone(),
            source: Box::new(source),
        })?;
        Ok(Some(VolumeMirror {
            volume: volume.clone(),
            dir,
            pull,
            push,
            opts,
            watching: None,
            pull_failed: false,
        }))
    }

    /// The volume's name.
    pub fn name(&self) -> &str {
        &self.volume.name
    }

    /// The transfers of `point`, then, at `pipeline_start`, the start of the
    /// `changes` watcher and, at `pipeline_end`, its stop and final push.
    /// Each failure is returned (not printed); `stop_at_first`: the next
    /// transfers of this volume are not tried after a failure.
    pub async fn run(&mut self, point: HookPoint, stop_at_first: bool) -> Vec<VolumeError> {
        let mut failed = Vec::new();
        for transfer in planned(&self.volume, point) {
            if let Err(e) = self.transfer(transfer, point).await {
                failed.push(e);
                if stop_at_first {
                    return failed;
                }
            }
        }
        match point {
            HookPoint::PipelineStart if watches(&self.volume) => {
                if let Err(e) = self.start_watching().await {
                    failed.push(e);
                }
            }
            HookPoint::PipelineEnd => {
                if let Err(e) = self.stop_watching(point).await {
                    failed.push(e);
                }
            }
            _ => {}
        }
        failed
    }

    fn side(&self, transfer: Transfer) -> Result<(Arc<Endpoint>, S3Location), VolumeError> {
        let side = match transfer {
            Transfer::Pull => &self.pull,
            Transfer::Push => &self.push,
        };
        side.clone().ok_or_else(|| VolumeError::Internal {
            name: self.volume.name.clone(),
            why: format!("no location to {transfer:?}"),
        })
    }

    /// The options of a push: `remove` is dropped once a pull failed.
    fn push_options(&self, location: &S3Location) -> TransferOptions {
        let mut opts = self.opts.clone();
        if self.pull_failed && opts.remove {
            warn!(
                "Volume {}: no object is removed from {location}: a pull of this volume failed, so its folder may lack files the bucket has",
                self.volume.name
            );
            opts.remove = false;
        }
        opts
    }

    async fn transfer(&mut self, transfer: Transfer, point: HookPoint) -> Result<(), VolumeError> {
        let (endpoint, location) = self.side(transfer)?;
        let opts = match transfer {
            Transfer::Pull => self.opts.clone(),
            Transfer::Push => self.push_options(&location),
        };
        let what = transfer.describe(&location, &endpoint);
        let (dir, at) = (self.dir.clone(), location.clone());
        let done = runtime::blocking(move || match transfer {
            Transfer::Pull => mirror::pull(&endpoint, &at, &dir, &opts),
            Transfer::Push => mirror::push(&endpoint, &dir, &at, &opts),
        })
        .await;
        let result = self.outcome(done, what, point);
        if result.is_err() && transfer == Transfer::Pull {
            self.pull_failed = true;
        }
        result
    }

    /// Prints the summary of a transfer that ended, or makes its error.
    fn outcome(
        &self,
        done: Result<Result<Summary, mirror::MirrorError>, tokio::task::JoinError>,
        what: String,
        point: HookPoint,
    ) -> Result<(), VolumeError> {
        match done {
            Ok(Ok(summary)) => {
                report(&self.volume.name, &summary);
                Ok(())
            }
            Ok(Err(source)) => Err(VolumeError::Transfer {
                name: self.volume.name.clone(),
                what,
                point: point.as_str(),
                source: Box::new(source),
            }),
            Err(e) => Err(VolumeError::Internal {
                name: self.volume.name.clone(),
                why: format!("{what}: {e}"),
            }),
        }
    }

    /// Starts the `changes` watcher. It reports on its own thread, and only
    /// what needs attention: a failed push (once, until one succeeds again),
    /// folders it cannot watch, an inotify overflow.
    async fn start_watching(&mut self) -> Result<(), VolumeError> {
        let (endpoint, location) = self.side(Transfer::Push)?;
        let stats = Arc::new(WatchStats::default());
        let sink = {
            let (name, stats) = (self.volume.name.clone(), stats.clone());
            Box::new(move |event: WatchEvent| on_watch_event(&name, &stats, event))
        };
        let what = format!(
            "watching its folder for changes to push to {location} ({})",
            endpoint.url()
        );
        let (dir, at, opts) = (self.dir.clone(), location.clone(), self.opts.clone());
        let started =
            runtime::blocking(move || ChangesWatcher::start(endpoint, at, dir, opts, sink)).await;
        match started {
            Ok(Ok(watcher)) => {
                info!(
                    "Volume {}: watching {} for changes, pushed to {location} as they happen",
                    self.volume.name,
                    self.dir.display()
                );
                self.watching = Some(Watching { watcher, stats });
                Ok(())
            }
            Ok(Err(source)) => Err(VolumeError::Transfer {
                name: self.volume.name.clone(),
                what,
                point: HookPoint::PipelineStart.as_str(),
                source: Box::new(source),
            }),
            Err(e) => Err(VolumeError::Internal {
                name: self.volume.name.clone(),
                why: format!("{what}: {e}"),
            }),
        }
    }

    /// Stops the `changes` watcher, if one runs, then pushes everything once.
    async fn stop_watching(&mut self, point: HookPoint) -> Result<(), VolumeError> {
        let Some(Watching { watcher, stats }) = self.watching.take() else {
            return Ok(());
        };
        let (endpoint, location) = self.side(Transfer::Push)?;
        let what = format!("the final push to {location} ({})", endpoint.url());
        info!(
            "Volume {}: stopping the changes watcher ({} incremental push(es), {} file(s), {} sent); the final complete push follows",
            self.volume.name,
            stats.pushes.load(Ordering::Relaxed),
            stats.files.load(Ordering::Relaxed),
            human_bytes(stats.bytes.load(Ordering::Relaxed)),
        );
        let done = if self.pull_failed && self.opts.remove {
            // The watcher's own final push would remove: stop it, push without.
            let opts = self.push_options(&location);
            let (dir, at) = (self.dir.clone(), location.clone());
            runtime::blocking(move || {
                drop(watcher);
                mirror::push(&endpoint, &dir, &at, &opts)
            })
            .await
        } else {
            runtime::blocking(move || watcher.stop()).await
        };
        self.outcome(done, what, point)
    }

    /// Stops the watcher without a final push (the teardown of a pipeline
    /// that never reached `pipeline_end`).
    pub async fn halt(&mut self) {
        if let Some(w) = self.watching.take() {
            if let Err(e) = runtime::blocking(move || drop(w)).await {
                warn!(
                    "Volume {}: internal error while stopping the changes watcher: {e}",
                    self.volume.name
                );
            }
        }
    }
}

/// What a `changes` watcher reports, on its thread.
fn on_watch_event(name: &str, stats: &WatchStats, event: WatchEvent) {
    match event {
        WatchEvent::Pushed(s) => {
            stats.pushes.fetch_add(1, Ordering::Relaxed);
            stats.files.fetch_add(s.files_sent, Ordering::Relaxed);
            stats.bytes.fetch_add(s.bytes_sent, Ordering::Relaxed);
            if stats.failing.swap(false, Ordering::Relaxed) {
                info!("Volume {name}: pushing the changes works again: {s}");
            }
        }
        WatchEvent::Failed(e) => {
            if !stats.failing.swap(true, Ordering::Relaxed) {
                warn!("Volume {name}: pushing the changes failed (tried again at the next change; the final push at pipeline_end sends everything): {e}");
            }
        }
        WatchEvent::Overflow => {
            warn!("Volume {name}: too many changes at once for inotify: a complete push follows")
        }
        WatchEvent::NotWatched { path, reason } => warn!(
            "Volume {name}: {} is not watched ({reason}): its changes are sent by the final push",
            path.display()
        ),
    }
}

/// The most kept files named on the console.
const KEPT_SHOWN: usize = 5;

/// The one-line summary of a transfer, then what needs attention in it.
fn report(name: &str, summary: &Summary) {
    info!("Volume {name}: {summary}");
    for note in &summary.notes {
        warn!("Volume {name}: {note}");
    }
    if !summary.kept.is_empty() {
        let mut shown = summary
            .kept
            .iter()
            .take(KEPT_SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if summary.kept.len() > KEPT_SHOWN {
            shown.push_str(&format!(" and {} more", summary.kept.len() - KEPT_SHOWN));
        }
        warn!("Volume {name}: differ at the destination and kept (no overwrite): {shown}");
    }
}
