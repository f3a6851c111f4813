//! `b2c.volume`: podman volumes set up before the pipeline and torn down
//! after it (docs/options.md, `b2c.volume`).
//!
//! Set-up, per volume in command-line order: `podman volume create`
//! (labelled `expiration=never|pipeline_end`, the original's label), a
//! `b2c.filesystem` mounted on it (`filesystem=`), fscrypt (`fscrypt_key=`,
//! see [`crate::fscrypt`]: an encrypted volume without a key is refused too),
//! then its S3 transfers (see [`transfers`]). On a persistent cache, the
//! volumes an earlier boot left with `expiration=pipeline_end` (or our older
//! label `b2c.expiration=pipeline_end`) are deleted first.
//!
//! The pipeline calls [`Volumes::run_hooks`] at each point of
//! [`HookPoint`], and [`Volumes::teardown`] at clean-up: the watchers are
//! stopped, the filesystems unmounted, the fscrypt keys removed, the
//! `pipeline_end` volumes deleted.

mod transfers;

pub use transfers::{planned, watches, Transfer, VolumeMirror};

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;
use tracing::{error, info, warn};

use crate::cmdline::{CacheDevice, Condition, Config, Expiration, Problem, Volume};
use crate::fscrypt::{self, FscryptError, Unlocked};
use crate::mirror::MirrorError;
use crate::podman::Podman;
use crate::process::{CommandError, Failure};
use crate::s3::EndpointError;
use crate::{runtime, storage};

/// Where podman keeps the data of local volumes (graphroot/volumes).
pub const VOLUMES_DIR: &str = "/var/lib/containers/storage/volumes";
/// The label holding a volume's expiration (the original's).
pub const EXPIRATION_LABEL: &str = "expiration";
/// The expiration label of volumes made by earlier versions of this init:
/// read (never written) when deleting the expired volumes.
pub const OLD_EXPIRATION_LABEL: &str = "b2c.expiration";
/// How long `podman volume create` may take.
const CREATE_LIMIT: Duration = Duration::from_secs(60);
/// How long `podman volume ls` and `podman volume rm` may take.
const DELETE_LIMIT: Duration = Duration::from_secs(120);

/// A volume that could not be set up, or a transfer that failed.
#[derive(Debug, Error)]
pub enum VolumeError {
    /// podman volume create failed.
    #[error("b2c.volume={name}: {source}")]
    Create { name: String, source: CommandError },
    /// The volume names a filesystem that was not defined.
    #[error("b2c.volume={name}: filesystem={fs} is not a b2c.filesystem")]
    UnknownFilesystem { name: String, fs: String },
    /// Mounting its filesystem failed.
    #[error("b2c.volume={name}: {source}")]
    Mount {
        name: String,
        source: Box<crate::storage::MountError>,
    },
    /// Encrypting or unlocking it failed (the message names the volume).
    #[error(transparent)]
    Fscrypt(#[from] FscryptError),
    /// Its `b2c.minio` endpoint cannot be used.
    #[error("b2c.volume={name}: {source}")]
    Endpoint { name: String, source: EndpointError },
    /// Its `exclude=` or `encrypt_key=` is malformed.
    #[error("b2c.volume={name}: {source}")]
    Options {
        name: String,
        source: Box<MirrorError>,
    },
    /// One of its transfers failed.
    #[error("b2c.volume={name}: {what} at {point} failed: {source}")]
    Transfer {
        name: String,
        /// `the pull from ALIAS/BUCKET/PREFIX (URL)`, `the push to ...`.
        what: String,
        /// The condition.
        point: &'static str,
        source: Box<MirrorError>,
    },
    /// The blocking work of its set-up failed unexpectedly.
    #[error("b2c.volume={name}: internal error: {why}")]
    Internal { name: String, why: String },
}

/// The transfers of a point that failed (each was printed as it failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookError {
    /// The point.
    pub point: HookPoint,
    /// The volumes whose transfers failed, in order.
    pub volumes: Vec<String>,
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "The {} transfers of {} failed",
            self.point.as_str(),
            self.volumes
                .iter()
                .map(|v| format!("b2c.volume={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl std::error::Error for HookError {}

/// The value of the expiration label.
pub fn expiration_label(expiration: &Expiration) -> &'static str {
    match expiration {
        Expiration::Never => "never",
        Expiration::PipelineEnd => "pipeline_end",
    }
}

/// The directory podman mounts into containers for the volume `name`.
pub fn data_dir(name: &str) -> PathBuf {
    PathBuf::from(VOLUMES_DIR).join(name).join("_data")
}

/// `podman volume create` arguments for `volume`.
pub fn create_args(volume: &Volume) -> Vec<String> {
    vec![
        "volume".into(),
        "create".into(),
        "--label".into(),
        format!(
            "{EXPIRATION_LABEL}={}",
            expiration_label(&volume.expiration)
        ),
        volume.name.clone(),
    ]
}

/// The volumes of `podman volume ls --format json` labelled
/// `expiration=pipeline_end` or `b2c.expiration=pipeline_end`.
pub fn expired_volumes(json: &str) -> Result<Vec<String>, serde_json::Error> {
    let listed: Vec<serde_json::Value> = serde_json::from_str(json)?;
    Ok(listed
        .iter()
        .filter(|v| {
            [EXPIRATION_LABEL, OLD_EXPIRATION_LABEL]
                .iter()
                .any(|l| v["Labels"][l] == "pipeline_end")
        })
        .filter_map(|v| v["Name"].as_str().map(str::to_string))
        .collect())
}

/// The error of an encrypted volume without a cache disk: the volumes are
/// in RAM, which fscrypt cannot encrypt.
pub fn fscrypt_needs_cache(volume: &Volume) -> FscryptError {
    FscryptError::NoFscrypt {
        volume: volume.name.clone(),
        dir: data_dir(&volume.name),
        fs: "RAM (there is no cache disk mounted on /storage)".to_string(),
    }
}

/// What the checker can tell before the boot: the volume set-up errors that
/// follow from the command line alone (fscrypt with `b2c.cache_device=none`).
pub fn config_errors(config: &Config) -> Vec<Problem> {
    if config.cache_device != CacheDevice::None {
        return Vec::new();
    }
    config
        .volumes
        .iter()
        .filter(|v| v.fscrypt_key.is_some())
        .map(|v| {
            Problem::new(Some("b2c.volume"), fscrypt_needs_cache(v).to_string())
                .with_instance(&v.name)
                .with_field("fscrypt_key")
        })
        .collect()
}

/// The kernel modules fscrypt needs (HKDF-SHA512 for the keys,
/// AES-256-XTS for contents, AES-256-CTS for names): the kernel cannot load
/// them itself (the initramfs has no `modprobe`), so the set-up of the first
/// encrypted volume loads them.
pub const FSCRYPT_MODULES: &[&str] = &["sha512_generic", "ecb", "xts", "cts"];

/// The points of the pipeline where volume transfers happen (the
/// conditions of `pull_on=` and `push_on=`, `changes` aside).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPoint {
    /// Before any container (after the volume set-up).
    PipelineStart,
    /// Before each `b2c.run` and `b2c.run_post` container.
    ContainerStart,
    /// After each `b2c.run` and `b2c.run_post` container.
    ContainerEnd,
    /// After the last container.
    PipelineEnd,
}

impl HookPoint {
    /// The condition's name on the command line.
    pub fn as_str(self) -> &'static str {
        self.condition().as_str()
    }

    /// The `pull_on=`/`push_on=` condition of this point.
    pub fn condition(self) -> Condition {
        match self {
            HookPoint::PipelineStart => Condition::PipelineStart,
            HookPoint::ContainerStart => Condition::ContainerStart,
            HookPoint::ContainerEnd => Condition::ContainerEnd,
            HookPoint::PipelineEnd => Condition::PipelineEnd,
        }
    }

    /// At the start points a failure stops the transfers that follow (no
    /// container runs anyway); at the end points every transfer is tried,
    /// so that one failed push does not lose the results of other volumes.
    pub fn stops_at_first_failure(self) -> bool {
        matches!(self, HookPoint::PipelineStart | HookPoint::ContainerStart)
    }
}

/// The volumes of this boot, for the hooks and the clean-up.
#[derive(Debug, Default)]
pub struct Volumes {
    /// Filesystems mounted on volumes, in mount order.
    mounted: Vec<PathBuf>,
    /// Volumes to delete at clean-up.
    expiring: Vec<String>,
    /// Volumes unlocked with their fscrypt key.
    unlocked: Vec<Unlocked>,
    /// Volumes with S3 transfers, in order.
    mirrors: Vec<VolumeMirror>,
}

impl Volumes {
    /// Creates the volumes of `config`, mounts their filesystems, encrypts
    /// or unlocks them, and prepares their transfers. `persistent`:
    /// podman's store is on a cache, so expired volumes of an earlier boot
    /// are deleted first, and fscrypt can work.
    pub async fn setup(
        config: &Config,
        persistent: bool,
        podman: &Podman,
    ) -> (Volumes, Result<(), VolumeError>) {
        let mut volumes = Volumes::default();
        if config.volumes.is_empty() {
            return (volumes, Ok(()));
        }
        if persistent {
            delete_expired(podman).await;
        }
        let (minio, proxy, list) = (
            config.minio.clone(),
            config.proxy.clone(),
            config.volumes.clone(),
        );
        let endpoints =
            match runtime::blocking(move || transfers::endpoints(&minio, proxy.as_ref(), &list))
                .await
            {
                Ok(e) => e,
                Err(e) => {
                    let name = config.volumes[0].name.clone();
                    let why = format!("making the S3 endpoints: {e}");
                    return (volumes, Err(VolumeError::Internal { name, why }));
                }
            };
        for volume in &config.volumes {
            let result = volumes
                .setup_one(config, volume, persistent, podman, &endpoints)
                .await;
            if result.is_err() {
                return (volumes, result);
            }
        }
        (volumes, Ok(()))
    }

    async fn setup_one(
        &mut self,
        config: &Config,
        volume: &Volume,
        persistent: bool,
        podman: &Podman,
        endpoints: &transfers::Endpoints,
    ) -> Result<(), VolumeError> {
        let name = &volume.name;
        let internal = |e: tokio::task::JoinError| VolumeError::Internal {
            name: name.clone(),
            why: e.to_string(),
        };
        let created = match podman.run(&create_args(volume), CREATE_LIMIT).await {
            Ok(_) => true,
            // Kept from an earlier boot (a persistent cache): fine.
            Err(
                e @ CommandError {
                    failure: Failure::Exit(_),
                    ..
                },
            ) if e.stderr.contains("already exists") => false,
            Err(source) => {
                return Err(VolumeError::Create {
                    name: name.clone(),
                    source,
                })
            }
        };
        if volume.expiration == Expiration::PipelineEnd {
            self.expiring.push(name.clone());
        }
        let mut how = vec![if created {
            "created".to_string()
        } else {
            "kept from an earlier boot".to_string()
        }];
        let dir = data_dir(name);
        if let Some(fs_name) = &volume.filesystem {
            let fs = config
                .filesystems
                .iter()
                .find(|f| &f.name == fs_name)
                .ok_or_else(|| VolumeError::UnknownFilesystem {
                    name: name.clone(),
                    fs: fs_name.clone(),
                })?;
            let (fs_owned, at) = (fs.clone(), dir.clone());
            // mount(2) blocks (an NFS server): off the runtime's thread.
            let mounted = runtime::blocking(move || storage::mount_filesystem(&fs_owned, &at))
                .await
                .map_err(internal)?;
            mounted.map_err(|source| VolumeError::Mount {
                name: name.clone(),
                source: Box::new(source),
            })?;
            self.mounted.push(dir.clone());
            how.push(format!("filesystem {fs_name} ({}) mounted on it", fs.src));
        }
        if volume.fscrypt_key.is_some() && !persistent {
            return Err(fscrypt_needs_cache(volume).into());
        }
        let (vol, at) = (volume.clone(), dir.clone());
        // Module loading, ioctls and, with fscrypt_reset_key, a recursive delete.
        let unlocked = runtime::blocking(move || {
            if vol.fscrypt_key.is_some() {
                // A missing cipher makes the ioctls fail with their own error.
                for e in crate::kmod::load_named(FSCRYPT_MODULES) {
                    warn!("fscrypt: {e}");
                }
            }
            fscrypt::setup_volume(&vol, &at, Path::new(storage::STORAGE))
        })
        .await
        .map_err(internal)??;
        if let Some(unlocked) = unlocked {
            how.push(format!("fscrypt: {}", unlocked.outcome()));
            self.unlocked.push(unlocked);
        }
        if let Some(mirror) = VolumeMirror::new(volume, dir, endpoints)? {
            self.mirrors.push(mirror);
            how.extend(transfers::describe(volume));
        }
        info!("Volume {name}: {}", how.join(", "));
        Ok(())
    }

    /// The transfers of `point`, each volume in order (see
    /// [`transfers`]): every summary and every failure is printed as it
    /// comes. At `pipeline_start` and `container_start` the first failure
    /// stops the rest; at the end points every transfer is tried.
    pub async fn run_hooks(&mut self, point: HookPoint) -> Result<(), HookError> {
        let stop = point.stops_at_first_failure();
        let mut failed = Vec::new();
        for mirror in &mut self.mirrors {
            let errors = mirror.run(point, stop).await;
            if errors.is_empty() {
                continue;
            }
            for e in &errors {
                error!("{e}");
            }
            failed.push(mirror.name().to_string());
            if stop {
                break;
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(HookError {
                point,
                volumes: failed,
            })
        }
    }

    /// Stops any watcher still running, unmounts the volumes' filesystems,
    /// removes the fscrypt keys and deletes the expiring volumes.
    pub async fn teardown(&mut self, podman: &Podman) {
        for mirror in &mut self.mirrors {
            mirror.halt().await;
        }
        self.mirrors.clear();
        let mounted: Vec<PathBuf> = self.mounted.drain(..).rev().collect();
        if !mounted.is_empty() {
            // umount(2) blocks (a busy or a remote filesystem).
            let unmounted = runtime::blocking(move || {
                for target in mounted {
                    storage::unmount(&target, true);
                }
            })
            .await;
            if let Err(e) = unmounted {
                warn!("Internal error while unmounting the volumes: {e}");
            }
        }
        self.lock().await;
        if self.expiring.is_empty() {
            return;
        }
        let mut rm = vec!["volume".to_string(), "rm".into(), "--force".into()];
        rm.extend(self.expiring.iter().cloned());
        match podman.run(&rm, DELETE_LIMIT).await {
            Ok(_) => info!(
                "Deleted the expired volume(s): {}",
                self.expiring.join(", ")
            ),
            Err(e) => warn!("{e}"),
        }
        self.expiring.clear();
    }

    /// Removes the fscrypt keys of the unlocked volumes: their names and
    /// contents are unreadable again.
    async fn lock(&mut self) {
        let unlocked = std::mem::take(&mut self.unlocked);
        if unlocked.is_empty() {
            return;
        }
        let locked = runtime::blocking(move || {
            unlocked
                .into_iter()
                .map(|u| (u.volume().to_string(), u.lock()))
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(locked) = locked else {
            warn!("Internal error while removing the fscrypt keys");
            return;
        };
        for (name, outcome) in locked {
            match outcome {
                Ok(fscrypt::LockOutcome::Removed | fscrypt::LockOutcome::SharedKey) => {
                    info!("Volume {name}: locked (fscrypt key removed)")
                }
                Ok(fscrypt::LockOutcome::FilesBusy) => warn!(
                    "Volume {name}: fscrypt key removed, but files still open keep it in use until they are closed"
                ),
                Ok(fscrypt::LockOutcome::OtherUsers) => {
                    warn!("Volume {name}: fscrypt key still held by another user of the filesystem")
                }
                Err(e) => warn!("{e}"),
            }
        }
    }
}

/// Deletes the volumes an earlier boot left with an expiration of
/// `pipeline_end` (either label). Failures are warnings.
async fn delete_expired(podman: &Podman) {
    let listed = match podman
        .run(&["volume", "ls", "--format", "json"], DELETE_LIMIT)
        .await
    {
        Ok(out) => out.stdout,
        Err(e) => {
            warn!("{e}");
            return;
        }
    };
    let names = match expired_volumes(&listed) {
        Ok(names) => names,
        Err(e) => {
            warn!("podman volume ls: cannot read its JSON output: {e}");
            return;
        }
    };
    if names.is_empty() {
        return;
    }
    let mut rm = vec!["volume".to_string(), "rm".into(), "--force".into()];
    rm.extend(names.iter().cloned());
    match podman.run(&rm, DELETE_LIMIT).await {
        Ok(_) => info!(
            "Deleted {} expired volume(s) left by an earlier boot: {}",
            names.len(),
            names.join(", ")
        ),
        Err(e) => warn!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FSCRYPT_KEY: &str =
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==";

    fn parse(cmdline: &str) -> Config {
        let config = crate::cmdline::parse(cmdline.as_bytes());
        assert!(config.errors.is_empty(), "{:?}", config.errors);
        config
    }

    #[test]
    fn create_arguments_label_the_expiration_as_the_original() {
        let config = parse("b2c.volume=job,expiration=pipeline_end b2c.volume=keep");
        assert_eq!(
            create_args(&config.volumes[0]),
            [
                "volume",
                "create",
                "--label",
                "expiration=pipeline_end",
                "job"
            ]
        );
        assert_eq!(
            create_args(&config.volumes[1]),
            ["volume", "create", "--label", "expiration=never", "keep"]
        );
    }

    #[test]
    fn expired_volumes_have_either_label() {
        // The shape of podman 4.3's `volume ls --format json`.
        let json = r#"[
            {"Name": "job", "Driver": "local", "Labels": {"expiration": "pipeline_end"}},
            {"Name": "older", "Labels": {"b2c.expiration": "pipeline_end"}},
            {"Name": "keep", "Labels": {"expiration": "never"}},
            {"Name": "plain", "Labels": {}},
            {"Name": "other", "Labels": {"expiration": "pipeline_end_not"}}
        ]"#;
        assert_eq!(expired_volumes(json).unwrap(), ["job", "older"]);
        assert_eq!(expired_volumes("[]").unwrap(), Vec::<String>::new());
        assert!(expired_volumes("not json").is_err());
    }

    fn points() -> [HookPoint; 4] {
        [
            HookPoint::PipelineStart,
            HookPoint::ContainerStart,
            HookPoint::ContainerEnd,
            HookPoint::PipelineEnd,
        ]
    }

    /// The transfers of the volume at each point, as `point:pull+push`.
    fn plan(volume: &Volume) -> Vec<String> {
        points()
            .into_iter()
            .filter_map(|p| {
                let t = planned(volume, p);
                (!t.is_empty()).then(|| {
                    let t: Vec<&str> = t
                        .iter()
                        .map(|t| match t {
                            Transfer::Pull => "pull",
                            Transfer::Push => "push",
                        })
                        .collect();
                    format!("{}:{}", p.as_str(), t.join("+"))
                })
            })
            .collect()
    }

    #[test]
    fn each_condition_is_a_transfer_at_its_point() {
        let config = parse(
            "b2c.minio=s3,http://10.0.2.2:9000,k,s \
             b2c.volume=job,mirror=s3/b/p,pull_on=pipeline_start|container_start,push_on=container_end|pipeline_end \
             b2c.volume=in,pull_from=s3/b/in,pull_on=pipeline_start \
             b2c.volume=out,push_to=s3/b/out,push_on=pipeline_start|pipeline_end \
             b2c.volume=both,mirror=s3/b/x,pull_on=pipeline_end,push_on=pipeline_end \
             b2c.volume=live,mirror=s3/b/live,pull_on=pipeline_start,push_on=changes|pipeline_end \
             b2c.volume=idle,mirror=s3/b/idle \
             b2c.volume=local",
        );
        let plans: Vec<Vec<String>> = config.volumes.iter().map(plan).collect();
        assert_eq!(
            plans[0],
            [
                "pipeline_start:pull",
                "container_start:pull",
                "container_end:push",
                "pipeline_end:push"
            ]
        );
        assert_eq!(plans[1], ["pipeline_start:pull"]);
        assert_eq!(plans[2], ["pipeline_start:push", "pipeline_end:push"]);
        // At one point, the pull runs before the push.
        assert_eq!(plans[3], ["pipeline_end:pull+push"]);
        // `changes` pushes through the watcher; its other conditions are
        // ignored (the parser warns).
        assert_eq!(plans[4], ["pipeline_start:pull"]);
        assert!(watches(&config.volumes[4]));
        assert!(!watches(&config.volumes[0]));
        // Without a condition, nothing is transferred (as the original).
        assert!(plans[5].is_empty() && plans[6].is_empty());
        assert!(!transfers::transfers(&config.volumes[5]));
        assert_eq!(
            transfers::describe(&config.volumes[0]).unwrap(),
            "pull from s3/b/p at pipeline_start|container_start, push to s3/b/p at container_end|pipeline_end"
        );
        assert_eq!(
            transfers::describe(&config.volumes[4]).unwrap(),
            "pull from s3/b/live at pipeline_start, push to s3/b/live on changes (and once more at pipeline_end)"
        );
        assert_eq!(transfers::describe(&config.volumes[5]), None);
    }

    #[test]
    fn only_the_start_points_stop_at_the_first_failure() {
        let stops: Vec<bool> = points()
            .iter()
            .map(|p| p.stops_at_first_failure())
            .collect();
        assert_eq!(stops, [true, true, false, false]);
        assert_eq!(HookPoint::ContainerEnd.as_str(), "container_end");
    }

    #[test]
    fn endpoints_are_made_for_the_aliases_in_use() {
        let config = parse(
            "b2c.minio=a,http://10.0.2.2:9000,k,s b2c.minio=b,https://s3.example:443,k,s \
             b2c.minio=unused,http://10.0.2.2:1,k,s \
             b2c.volume=x,pull_from=a/b,pull_on=pipeline_start \
             b2c.volume=y,mirror=b/c,push_on=changes b2c.volume=z,mirror=unused/q",
        );
        let eps = transfers::endpoints(&config.minio, None, &config.volumes);
        let mut aliases: Vec<&str> = eps.keys().map(String::as_str).collect();
        aliases.sort_unstable();
        assert_eq!(aliases, ["a", "b"]);
        assert!(eps["a"].is_ok());
        let dir = data_dir("x");
        let m = VolumeMirror::new(&config.volumes[0], dir.clone(), &eps).unwrap();
        assert_eq!(m.unwrap().name(), "x");
        assert!(VolumeMirror::new(&config.volumes[2], dir, &eps)
            .unwrap()
            .is_none());
    }

    #[test]
    fn malformed_transfer_options_fail_the_set_up() {
        let config = parse(
            "b2c.minio=a,http://10.0.2.2:9000,k,s \
             b2c.volume=x,pull_from=a/b,pull_on=pipeline_start,exclude=[oops",
        );
        let eps = transfers::endpoints(&config.minio, None, &config.volumes);
        let err = VolumeMirror::new(&config.volumes[0], data_dir("x"), &eps).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("b2c.volume=x: "), "{text}");
        assert!(text.contains("[oops"), "{text}");
    }

    #[test]
    fn errors_name_the_volume_the_direction_and_the_point() {
        let err = VolumeError::Transfer {
            name: "job".into(),
            what: "the pull from s3/b/in (http://10.0.2.2:9000)".into(),
            point: "pipeline_start",
            source: Box::new(MirrorError::Local {
                path: PathBuf::from("/x"),
                reason: "cannot create the folder".into(),
            }),
        };
        assert_eq!(
            err.to_string(),
            "b2c.volume=job: the pull from s3/b/in (http://10.0.2.2:9000) at pipeline_start failed: /x: cannot create the folder"
        );
        let hooks = HookError {
            point: HookPoint::PipelineEnd,
            volumes: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            hooks.to_string(),
            "The pipeline_end transfers of b2c.volume=a, b2c.volume=b failed"
        );
    }

    #[test]
    fn fscrypt_without_a_cache_is_an_error_the_checker_sees() {
        let config = parse(&format!(
            "b2c.volume=enc,fscrypt_key={FSCRYPT_KEY} b2c.volume=plain"
        ));
        let errors: Vec<String> = config_errors(&config)
            .into_iter()
            .map(|p| p.message)
            .collect();
        assert_eq!(
            errors,
            ["b2c.volume=enc: fscrypt_key: /var/lib/containers/storage/volumes/enc/_data is on RAM (there is no cache disk mounted on /storage), which cannot encrypt: encrypted volumes need the ext4 cache (b2c.cache_device)"]
        );
        assert!(!errors[0].contains(FSCRYPT_KEY));
        let cached = parse(&format!(
            "b2c.cache_device=auto b2c.volume=enc,fscrypt_key={FSCRYPT_KEY}"
        ));
        assert!(config_errors(&cached).is_empty());
    }

    #[test]
    fn data_dir_is_podmans() {
        assert_eq!(
            data_dir("job"),
            PathBuf::from("/var/lib/containers/storage/volumes/job/_data")
        );
    }

    #[test]
    fn unknown_filesystem_is_named() {
        let err = VolumeError::UnknownFilesystem {
            name: "job".into(),
            fs: "nope".into(),
        };
        assert_eq!(
            err.to_string(),
            "b2c.volume=job: filesystem=nope is not a b2c.filesystem"
        );
    }
}
