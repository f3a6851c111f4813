//! `b2c.storage` and podman's storage configuration (containers-storage's
//! `storage.conf`): the one place that writes it ([`update`]), for the
//! storage driver (vfs when the cache is on NFS) and the additional image
//! stores.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use tracing::{error, info, warn};

use super::{mount, named_filesystem, Storage, IMAGE_STORES, STORAGE_CONF};
use crate::cmdline::Config;

/// A change to storage.conf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// `driver = "DRIVER"` in `[storage]` (only where a driver line exists).
    Driver(&'a str),
    /// `additionalimagestores = [...]` in `[storage.options]` (added when
    /// missing, like the file itself).
    ImageStores(&'a [String]),
}

/// storage.conf could not be changed.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", .path.display())]
pub struct ConfError {
    /// The file.
    pub path: PathBuf,
    /// `read` or `write`.
    pub action: &'static str,
    /// The cause.
    pub source: io::Error,
}

/// Applies `change` to the storage.conf at `path`.
pub fn update(path: &Path, change: Change<'_>) -> Result<(), ConfError> {
    let fail = |action, source| ConfError {
        path: path.to_path_buf(),
        action,
        source,
    };
    let conf = match std::fs::read_to_string(path) {
        Ok(conf) => conf,
        Err(e)
            if matches!(change, Change::ImageStores(_)) && e.kind() == io::ErrorKind::NotFound =>
        {
            String::new()
        }
        Err(e) => return Err(fail("read", e)),
    };
    let new = match change {
        Change::Driver(driver) => with_driver(&conf, driver),
        Change::ImageStores(stores) => with_image_stores(&conf, stores),
    };
    std::fs::write(path, new).map_err(|e| fail("write", e))
}

impl Storage {
    /// `b2c.storage` (before the pipeline): mounts the
    /// `additionalimagestores` filesystems read-only and lists them in the
    /// runtime storage.conf. Other keys are reported as not supported.
    pub fn configure_podman(&mut self, config: &Config) {
        self.configure_podman_at(config, Path::new(STORAGE_CONF));
    }

    fn configure_podman_at(&mut self, config: &Config, conf_path: &Path) {
        if config.storage.is_empty() {
            return;
        }
        let mut stores = Vec::new();
        for opt in &config.storage {
            if opt.key != "additionalimagestores" {
                warn!(
                    "b2c.storage: {} is not supported, ignored (only additionalimagestores is)",
                    opt.key
                );
                continue;
            }
            if opt.value.starts_with('/') {
                stores.push(opt.value.clone());
                continue;
            }
            let fs = match named_filesystem(config, &opt.value) {
                Ok(fs) => fs,
                Err(e) => {
                    error!("b2c.storage: additionalimagestores: {e}");
                    continue;
                }
            };
            let target = Path::new(IMAGE_STORES).join(&fs.name);
            match mount::mount_filesystem_with(fs, &target, MsFlags::MS_RDONLY) {
                Ok(()) => {
                    info!(
                        "Image store {} mounted read-only at {}",
                        fs.name,
                        target.display()
                    );
                    self.mounts.push(target.clone());
                    stores.push(target.display().to_string());
                }
                Err(e) => error!("b2c.storage: additionalimagestores: {e}"),
            }
        }
        if stores.is_empty() {
            return;
        }
        match update(conf_path, Change::ImageStores(&stores)) {
            Ok(()) => info!("podman's additional image stores: {}", stores.join(", ")),
            Err(e) => error!("b2c.storage: {e}"),
        }
    }
}

/// storage.conf with `driver = "DRIVER"` in `[storage]`.
pub fn with_driver(conf: &str, driver: &str) -> String {
    let mut section = "";
    let mut out: Vec<String> = conf
        .lines()
        .map(|l| {
            let t = l.trim();
            if t.starts_with('[') {
                section = t;
            }
            if section == "[storage]" && t.starts_with("driver") && t.contains('=') {
                format!("driver = \"{driver}\"")
            } else {
                l.to_string()
            }
        })
        .collect();
    out.push(String::new());
    out.join("\n")
}

/// storage.conf with `stores` as `additionalimagestores` in
/// `[storage.options]` (replacing the existing list, or adding one).
pub fn with_image_stores(conf: &str, stores: &[String]) -> String {
    let list = stores
        .iter()
        .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect::<Vec<_>>()
        .join(", ");
    let line = format!("additionalimagestores = [{list}]");
    let mut out = Vec::new();
    let mut section = String::new();
    let mut done = false;
    let mut skipping = false;
    for l in conf.lines() {
        let t = l.trim();
        if skipping {
            // The rest of a multi-line list.
            if t.contains(']') {
                skipping = false;
            }
            continue;
        }
        if t.starts_with('[') {
            if section == "[storage.options]" && !done {
                out.push(line.clone());
                done = true;
            }
            section = t.to_string();
        }
        if section == "[storage.options]" && t.starts_with("additionalimagestores") {
            if !done {
                out.push(line.clone());
                done = true;
            }
            skipping = t.contains('[') && !t.contains(']');
            continue;
        }
        out.push(l.to_string());
    }
    if !done {
        if section != "[storage.options]" {
            out.push("[storage.options]".to_string());
        }
        out.push(line);
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_rewrite() {
        let conf = "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\ndriver = \"x\"\n";
        assert_eq!(
            with_driver(conf, "vfs"),
            "[storage]\ndriver = \"vfs\"\n[storage.options.overlay]\ndriver = \"x\"\n"
        );
    }

    #[test]
    fn storage_conf_rewrite() {
        let conf = "[storage]\ndriver = \"overlay\"\n\n[storage.options]\nadditionalimagestores = []\n\n[storage.options.overlay]\nmountopt = \"nodev\"\n";
        let out = with_image_stores(conf, &["/run/b2c/stores/a".into(), "/b".into()]);
        assert_eq!(out, "[storage]\ndriver = \"overlay\"\n\n[storage.options]\nadditionalimagestores = [\"/run/b2c/stores/a\", \"/b\"]\n\n[storage.options.overlay]\nmountopt = \"nodev\"\n");
        let multi = "[storage.options]\nadditionalimagestores = [\n \"/x\",\n]\nsize = \"1G\"\n";
        assert_eq!(
            with_image_stores(multi, &["/y".into()]),
            "[storage.options]\nadditionalimagestores = [\"/y\"]\nsize = \"1G\"\n"
        );
        let none =
            "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\nmountopt = \"nodev\"\n";
        assert_eq!(
            with_image_stores(none, &["/y".into()]),
            "[storage]\ndriver = \"overlay\"\n[storage.options.overlay]\nmountopt = \"nodev\"\n[storage.options]\nadditionalimagestores = [\"/y\"]\n"
        );
    }

    #[test]
    fn updates_are_written_in_place() {
        let path = std::env::temp_dir().join(format!("b2c-storage-conf-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // The driver only changes an existing file.
        let e = update(&path, Change::Driver("vfs")).unwrap_err();
        assert!(e.to_string().starts_with("cannot read "), "{e}");
        update(&path, Change::ImageStores(&["/a".to_string()])).unwrap();
        std::fs::write(&path, "[storage]\ndriver = \"overlay\"\n").unwrap();
        update(&path, Change::Driver("vfs")).unwrap();
        update(&path, Change::ImageStores(&["/a".to_string()])).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "[storage]\ndriver = \"vfs\"\n[storage.options]\nadditionalimagestores = [\"/a\"]\n"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
