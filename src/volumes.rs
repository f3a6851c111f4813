//! `b2c.volume`: podman volumes set up before the pipeline and torn down
//! after it (SPEC section 5, steps 1 and 6).
//!
//! Implemented: creating each volume (labelled with its expiration),
//! mounting a `b2c.filesystem` on it (`filesystem=NAME`), deleting
//! `expiration=pipeline_end` volumes at clean-up and, on a persistent cache,
//! the ones an earlier boot left behind. Not yet: the S3 transfers (`mirror`,
//! `pull_from`, `push_to` and their conditions) and fscrypt: a warning says
//! so for each volume that asks for them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use thiserror::Error;
use tracing::{info, warn};

use crate::cmdline::{Config, Expiration, Volume};
use crate::process;

/// Where podman keeps the data of local volumes (graphroot/volumes).
pub const VOLUMES_DIR: &str = "/var/lib/containers/storage/volumes";
/// The label holding a volume's expiration.
pub const EXPIRATION_LABEL: &str = "b2c.expiration";

/// A volume that could not be set up.
#[derive(Debug, Error)]
pub enum VolumeError {
    /// podman volume create failed.
    #[error("b2c.volume={name}: podman volume create failed: {why}")]
    Create { name: String, why: String },
    /// The volume names a filesystem that was not defined.
    #[error("b2c.volume={name}: filesystem={fs} is not a b2c.filesystem")]
    UnknownFilesystem { name: String, fs: String },
    /// Mounting its filesystem failed.
    #[error("b2c.volume={name}: {source}")]
    Mount {
        name: String,
        source: crate::storage::MountError,
    },
}

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

/// The volumes of this boot, for the clean-up.
#[derive(Debug, Default)]
pub struct Volumes {
    /// Filesystems mounted on volumes, in mount order.
    mounted: Vec<PathBuf>,
    /// Volumes to delete at clean-up.
    expiring: Vec<String>,
}

impl Volumes {
    /// Creates the volumes of `config` and mounts their filesystems.
    /// `persistent`: podman's store is on a cache, so expired volumes of an
    /// earlier boot are deleted first. `podman` builds a podman command with
    /// the init's environment.
    pub async fn setup(
        config: &Config,
        persistent: bool,
        podman: impl Fn() -> Command,
    ) -> (Volumes, Result<(), VolumeError>) {
        let mut volumes = Volumes::default();
        if config.volumes.is_empty() {
            return (volumes, Ok(()));
        }
        if persistent {
            let filter = format!("label={EXPIRATION_LABEL}=pipeline_end");
            let mut cmd = podman();
            cmd.args(["volume", "prune", "--force", "--filter", &filter]);
            match process::output(&mut cmd, Duration::from_secs(120)).await {
                Ok((exit, out, _)) if exit.success() => {
                    let n = out.lines().filter(|l| !l.trim().is_empty()).count();
                    if n > 0 {
                        info!("Deleted {n} expired volume(s) left by an earlier boot");
                    }
                }
                Ok((exit, _, err)) => warn!("podman volume prune failed ({exit}): {}", err.trim()),
                Err(e) => warn!("podman volume prune failed: {e}"),
            }
        }
        for volume in &config.volumes {
            let result = volumes.setup_one(config, volume, &podman).await;
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
        podman: &impl Fn() -> Command,
    ) -> Result<(), VolumeError> {
        let name = &volume.name;
        if volume.pull_source().is_some() || volume.push_destination().is_some() {
            warn!(
                "b2c.volume={name}: S3 transfers are not supported yet: the volume is local only"
            );
        }
        if volume.fscrypt_key.is_some() {
            warn!("b2c.volume={name}: fscrypt is not supported yet: the volume is not encrypted");
        }
        let mut cmd = podman();
        cmd.args(create_args(volume));
        let created = match process::output(&mut cmd, Duration::from_secs(60)).await {
            Ok((exit, _, _)) if exit.success() => true,
            // Kept from an earlier boot (a persistent cache): fine.
            Ok((_, _, err)) if err.contains("already exists") => false,
            Ok((exit, _, err)) => {
                return Err(VolumeError::Create {
                    name: name.clone(),
                    why: format!("{exit}: {}", err.trim()),
                })
            }
            Err(e) => {
                return Err(VolumeError::Create {
                    name: name.clone(),
                    why: e.to_string(),
                })
            }
        };
        if volume.expiration == Expiration::PipelineEnd {
            self.expiring.push(name.clone());
        }
        let mut how = if created {
            "created"
        } else {
            "kept from an earlier boot"
        }
        .to_string();
        if let Some(fs_name) = &volume.filesystem {
            let fs = config
                .filesystems
                .iter()
                .find(|f| &f.name == fs_name)
                .ok_or_else(|| VolumeError::UnknownFilesystem {
                    name: name.clone(),
                    fs: fs_name.clone(),
                })?;
            let target = data_dir(name);
            crate::storage::mount_filesystem(fs, &target).map_err(|source| VolumeError::Mount {
                name: name.clone(),
                source,
            })?;
            self.mounted.push(target);
            how.push_str(&format!(
                ", filesystem {fs_name} ({}) mounted on it",
                fs.src
            ));
        }
        info!("Volume {name}: {how}");
        Ok(())
    }

    /// Unmounts the volumes' filesystems and deletes the expiring volumes.
    pub async fn teardown(&mut self, podman: impl Fn() -> Command) {
        for target in self.mounted.drain(..).rev() {
            crate::storage::unmount(&target, true);
        }
        if self.expiring.is_empty() {
            return;
        }
        let mut cmd = podman();
        cmd.args(["volume", "rm", "--force"]).args(&self.expiring);
        match process::output(&mut cmd, Duration::from_secs(120)).await {
            Ok((exit, _, _)) if exit.success() => {
                info!(
                    "Deleted the expired volume(s): {}",
                    self.expiring.join(", ")
                )
            }
            Ok((exit, _, err)) => warn!("podman volume rm failed ({exit}): {}", err.trim()),
            Err(e) => warn!("podman volume rm failed: {e}"),
        }
        self.expiring.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_arguments_label_the_expiration() {
        let config =
            crate::cmdline::parse(b"b2c.volume=job,expiration=pipeline_end b2c.volume=keep");
        assert!(config.errors.is_empty(), "{:?}", config.errors);
        assert_eq!(
            create_args(&config.volumes[0]),
            [
                "volume",
                "create",
                "--label",
                "b2c.expiration=pipeline_end",
                "job"
            ]
        );
        assert_eq!(
            create_args(&config.volumes[1]),
            [
                "volume",
                "create",
                "--label",
                "b2c.expiration=never",
                "keep"
            ]
        );
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
