//! Kernel modules: `modules.dep`, `modules.alias` and `modules.softdep`
//! parsing, modalias coldplug (what udev would do) and loading in dependency
//! order with `finit_module(2)`.
//!
//! Coldplug is iterative: loading `virtio_pci` makes the virtio devices
//! appear, whose modaliases then need `virtio_net` and `virtio_blk`. We loop
//! until a pass finds no new module to load.
//!
//! Module parameters on the kernel command line (`amdgpu.gpu_recovery=1`)
//! are passed to the modules the init loads, as modprobe does; coldplug
//! skips the modules of `modprobe.blacklist=` and `module_blacklist=`.
//!
//! Module files may be xz-compressed (`.ko.xz`, as the initramfs ships
//! them): they are decompressed in memory and given to `init_module(2)`.
//!
//! `db` reads the module index (dependencies, aliases, softdeps, with
//! modprobe's glob matching), `options` the module parameters and
//! blacklists of the kernel command line; this file loads modules.

use std::collections::{BTreeSet, HashSet};
use std::ffi::CString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::kmod::{finit_module, init_module, ModuleInitFlags};
use thiserror::Error;
use tracing::{error, info, warn};

mod db;
mod options;

pub use db::{glob_match, ModuleDb};
pub use options::CmdlineOptions;

/// A module that could not be loaded.
#[derive(Debug, Error)]
pub enum ModuleError {
    /// No module of that name in modules.dep.
    #[error("module {0} is not in the initramfs (not in modules.dep)")]
    Unknown(String),
    /// Reading the module file failed.
    #[error("cannot open module file {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    /// A compressed module file could not be decompressed.
    #[error("cannot decompress module file {path}: {source}")]
    Decompress {
        path: String,
        source: std::io::Error,
    },
    /// The kernel refused the module.
    #[error("the kernel refused module {name} ({path}): {source}")]
    Load {
        name: String,
        path: String,
        source: Errno,
    },
    /// The module metadata could not be read.
    #[error("cannot read {path}: {source}")]
    Metadata {
        path: String,
        source: std::io::Error,
    },
}

/// Canonical module name: `crc32c-intel` and `crc32c_intel` are the same.
pub fn canonical(name: &str) -> String {
    name.replace('-', "_")
}

fn name_from_path(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file
        .strip_suffix(".ko")
        .or_else(|| file.split_once(".ko.").map(|(s, _)| s))
        .unwrap_or(file);
    canonical(stem)
}

/// Loads modules, remembering what is loaded.
pub struct Loader {
    db: ModuleDb,
    loaded: HashSet<String>,
    /// Modules that failed, so they are not retried at every pass.
    failed: HashSet<String>,
    /// Parameters and blacklist from `/proc/cmdline`.
    options: CmdlineOptions,
}

impl Loader {
    /// A loader for `db`; modules already in `/proc/modules` count as loaded,
    /// and the module options of `/proc/cmdline` apply.
    pub fn new(db: ModuleDb) -> Loader {
        let loaded = fs::read_to_string("/proc/modules")
            .map(|s| {
                s.lines()
                    .filter_map(|l| l.split(' ').next())
                    .map(canonical)
                    .collect()
            })
            .unwrap_or_default();
        Loader {
            db,
            loaded,
            failed: HashSet::new(),
            options: CmdlineOptions::read(),
        }
    }

    /// Loads `name` and its dependencies. Returns how many modules were
    /// newly loaded. Built-in modules (not in modules.dep but in
    /// modules.builtin) are not an error: callers check [`ModuleDb::contains`].
    pub fn load(&mut self, name: &str) -> Result<usize, ModuleError> {
        let mut count = 0;
        for module in self.db.load_order(name)? {
            if self.loaded.contains(&module) {
                continue;
            }
            let path = self
                .db
                .path_of(&module)
                .ok_or_else(|| ModuleError::Unknown(module.clone()))?;
            insert_module(&module, &path, &self.options.params(&module))?;
            self.loaded.insert(module);
            count += 1;
        }
        Ok(count)
    }

    /// Loads a module file given by path (b2c.insmods compatibility).
    pub fn insmod(&mut self, path: &Path) -> Result<(), ModuleError> {
        let name = name_from_path(&path.to_string_lossy());
        insert_module(&name, path, &self.options.params(&name))?;
        self.loaded.insert(name);
        Ok(())
    }

    /// Coldplug: loads the modules matching the modaliases of present
    /// devices until a pass loads nothing new. Returns the modules loaded and
    /// the errors met (one per module, each naming it).
    pub fn coldplug(&mut self, sys: &Path) -> (Vec<String>, Vec<ModuleError>) {
        let mut loaded = Vec::new();
        let mut errors = Vec::new();
        for _pass in 0..16 {
            let mut wanted = BTreeSet::new();
            for alias in modaliases(sys) {
                wanted.extend(self.db.resolve_alias(&alias));
            }
            let new: Vec<String> = wanted
                .into_iter()
                .filter(|m| {
                    !self.loaded.contains(m)
                        && !self.failed.contains(m)
                        && !self.options.is_blacklisted(m)
                })
                .collect();
            if new.is_empty() {
                break;
            }
            for module in new {
                match self.load(&module) {
                    Ok(_) => loaded.push(module),
                    Err(e) => {
                        self.failed.insert(module);
                        errors.push(e);
                    }
                }
            }
        }
        (loaded, errors)
    }
}

fn insert_module(name: &str, path: &Path, params: &str) -> Result<(), ModuleError> {
    let file = File::open(path).map_err(|source| ModuleError::Open {
        path: path.display().to_string(),
        source,
    })?;
    if !params.is_empty() {
        tracing::info!("{name}: options from the kernel command line: {params}");
    }
    // A command line holds no NUL byte; an empty string if it ever did.
    let params = CString::new(params).unwrap_or_default();
    let decompress = match path.extension().and_then(|e| e.to_str()) {
        Some("xz") => Some(decompress_xz as fn(File) -> std::io::Result<Vec<u8>>),
        Some("zst") => Some(decompress_zstd as fn(File) -> std::io::Result<Vec<u8>>),
        _ => None,
    };
    let loaded = match decompress {
        Some(decompress) => {
            let image = decompress(file).map_err(|source| ModuleError::Decompress {
                path: path.display().to_string(),
                source,
            })?;
            init_module(&image, &params)
        }
        None => finit_module(&file, &params, ModuleInitFlags::empty()),
    };
    match loaded {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(source) => Err(ModuleError::Load {
            name: name.to_string(),
            path: path.display().to_string(),
            source,
        }),
    }
}

/// The content of an xz stream (`xz --check=crc32`, the kernel's own
/// settings), its check verified.
fn decompress_xz(input: impl std::io::Read + 'static) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut image = Vec::new();
    xz4rust::XzReader::new(input).read_to_end(&mut image)?;
    Ok(image)
}

/// The content of a zstd frame (`zstd -19`), its content checksum verified
/// when it has one (the zstd program writes it by default).
fn decompress_zstd(input: impl std::io::Read) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind, Read};
    let mut decoder = ruzstd::decoding::StreamingDecoder::new(input)
        .map_err(|e| Error::new(ErrorKind::InvalidData, format!("not a zstd frame: {e}")))?;
    let mut image = Vec::new();
    decoder.read_to_end(&mut image)?;
    let frame = decoder.into_frame_decoder();
    if let (Some(stored), Some(computed)) = (
        frame.get_checksum_from_data(),
        frame.get_calculated_checksum(),
    ) {
        if stored != computed {
            return Err(Error::new(
                ErrorKind::InvalidData,
                format!("zstd checksum mismatch ({computed:#010x}, the file says {stored:#010x})"),
            ));
        }
    }
    Ok(image)
}

/// Every modalias of the devices under `sys` (`/sys`): the `MODALIAS=` of
/// the `uevent` of every bus's devices (`bus/*/devices/*`) and every class's
/// (`class/*/*`, where input devices are): what udev's coldplug (`udevadm
/// trigger`) sees. The uevent, not the `modalias` attribute: a CPU has no
/// attribute of its own (`cpu:type:x86,...` only stands at
/// `devices/system/cpu/modalias`) but its uevent has the alias. Walking all
/// of `/sys/devices` instead read every attribute directory: about 120 ms a
/// pass in a small QEMU guest under TCG, for the same set.
pub fn modaliases(sys: &Path) -> BTreeSet<String> {
    let children = |dir: &Path| -> Vec<PathBuf> {
        fs::read_dir(dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let devices = children(&sys.join("bus"))
        .into_iter()
        .flat_map(|bus| children(&bus.join("devices")))
        .chain(
            children(&sys.join("class"))
                .into_iter()
                .flat_map(|class| children(&class)),
        );
    let mut found = BTreeSet::new();
    for device in devices {
        // Through the bus's or class's symbolic link to the device.
        let Ok(uevent) = fs::read_to_string(device.join("uevent")) else {
            continue;
        };
        let alias = uevent
            .lines()
            .find_map(|l| l.strip_prefix("MODALIAS="))
            .map(str::trim);
        if let Some(alias) = alias.filter(|a| !a.is_empty()) {
            found.insert(alias.to_string());
        }
    }
    found
}

/// Where the kernels' module trees are.
pub const MODULES_ROOT: &str = "/lib/modules";

/// The boot's module step: the coldplug, then `modules` by name
/// (dependencies resolved; built-in ones are fine), then `files`
/// (`b2c.insmods`: module files by path or file name). Every failure is a
/// line on the console; none stops the boot. Blocking: the init runs it on
/// the blocking pool.
pub fn load_at_boot(modules: &[String], files: &[String]) {
    let dir = running_tree();
    let db = match ModuleDb::load(&dir) {
        Ok(db) => db,
        Err(e) => {
            warn!("No kernel modules loaded: {e}");
            return;
        }
    };
    let mut loader = Loader::new(db);
    let (loaded, errors) = loader.coldplug(Path::new("/sys"));
    for e in errors {
        warn!("{e}");
    }
    info!(
        "Coldplug loaded {} module(s): {}",
        loaded.len(),
        loaded.join(" ")
    );
    for module in modules {
        match loader.load(module) {
            Ok(_) => {}
            Err(ModuleError::Unknown(_)) if is_builtin(&dir, module) => {}
            Err(e) => error!("b2c.modules: {e}"),
        }
    }
    for file in files {
        match find_module_file(&dir, file) {
            Some(path) => match loader.insmod(&path) {
                Ok(()) => info!("Loaded {}", path.display()),
                Err(e) => error!("b2c.insmods: {e}"),
            },
            None => error!(
                "b2c.insmods: no module file {file} in {USR_MODS} nor under {}",
                dir.display()
            ),
        }
    }
}

/// The module tree of the running kernel (`/lib/modules/RELEASE`).
fn running_tree() -> PathBuf {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    Path::new(MODULES_ROOT).join(release)
}

/// Loads `modules` by name (dependencies resolved; built-in ones and those
/// already loaded are fine) after the boot's module step, for what is only
/// known late (fscrypt's ciphers for a volume of the extra arguments).
/// Returns the failures, each naming its module. Blocking.
pub fn load_named(modules: &[&str]) -> Vec<String> {
    let dir = running_tree();
    let db = match ModuleDb::load(&dir) {
        Ok(db) => db,
        Err(e) => return vec![e.to_string()],
    };
    let mut loader = Loader::new(db);
    modules
        .iter()
        .filter_map(|module| match loader.load(module) {
            Ok(_) => None,
            Err(ModuleError::Unknown(_)) if is_builtin(&dir, module) => None,
            Err(e) => Some(e.to_string()),
        })
        .collect()
}

/// True when `modules.builtin` lists `name` (built into the kernel).
fn is_builtin(dir: &Path, name: &str) -> bool {
    let name = canonical(name);
    std::fs::read_to_string(dir.join("modules.builtin"))
        .map(|s| {
            s.lines().any(|l| {
                let file = l.rsplit('/').next().unwrap_or(l);
                canonical(file.trim_end_matches(".ko")) == name
            })
        })
        .unwrap_or(false)
}

/// Where the original boot2container kept the files of `b2c.insmods`.
pub const USR_MODS: &str = "/usr_mods";

/// `b2c.insmods` names module files: an absolute path, a file of
/// [`USR_MODS`] (the original's folder: `b2c.insmods=nbd.ko` loaded
/// `/usr_mods/nbd.ko`), or a file name (with or without `.ko`) searched
/// under the modules directory `dir`.
fn find_module_file(dir: &Path, file: &str) -> Option<std::path::PathBuf> {
    find_module_file_in(Path::new(USR_MODS), dir, file)
}

fn find_module_file_in(usr_mods: &Path, dir: &Path, file: &str) -> Option<std::path::PathBuf> {
    let given = Path::new(file);
    if given.is_absolute() {
        return given.exists().then(|| given.to_path_buf());
    }
    for name in [file.to_string(), format!("{file}.ko")] {
        let path = usr_mods.join(&name);
        if !name.contains("..") && path.is_file() {
            return Some(path);
        }
    }
    let wanted = [file.to_string(), format!("{file}.ko")];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).ok()?.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if wanted
                .iter()
                .any(|w| entry.file_name().to_string_lossy() == *w)
            {
                return Some(path);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::options::kernel_args;
    use super::*;

    #[test]
    fn insmods_look_in_usr_mods_first_as_the_original() {
        let tmp = std::env::temp_dir().join(format!("b2c-usr-mods-{}", std::process::id()));
        let usr_mods = tmp.join("usr_mods");
        let moddir = tmp.join("lib/modules/6.1.0/kernel/drivers/block");
        std::fs::create_dir_all(&usr_mods).unwrap();
        std::fs::create_dir_all(&moddir).unwrap();
        std::fs::write(usr_mods.join("nbd.ko"), b"x").unwrap();
        std::fs::write(moddir.join("nbd.ko"), b"y").unwrap();
        std::fs::write(moddir.join("loop.ko"), b"z").unwrap();
        let dir = tmp.join("lib/modules/6.1.0");
        assert_eq!(
            find_module_file_in(&usr_mods, &dir, "nbd.ko"),
            Some(usr_mods.join("nbd.ko"))
        );
        assert_eq!(
            find_module_file_in(&usr_mods, &dir, "nbd"),
            Some(usr_mods.join("nbd.ko"))
        );
        assert_eq!(
            find_module_file_in(&usr_mods, &dir, "loop"),
            Some(moddir.join("loop.ko"))
        );
        assert_eq!(
            find_module_file_in(&usr_mods, &dir, "../usr_mods/nbd.ko"),
            None
        );
        assert_eq!(find_module_file_in(&usr_mods, &dir, "missing.ko"), None);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    const DEP: &str = "\
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko kernel/drivers/net/net_failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/crypto/crc32c_generic.ko:
kernel/arch/x86/crypto/crc32c-intel.ko:
";
    const ALIAS: &str = "\
# Aliases extracted from modules themselves.
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000001v* virtio_net
alias fs-ext4 ext4
alias cpu:type:x86,ven*fam*mod*:feature:*0094* crc32c_intel
alias crypto-crc32c crc32c_generic
alias crc32c crc32c_generic
";
    const SOFTDEP: &str =
        "softdep ext4 pre: crc32c\nsoftdep virtio_net pre: missing_mod post: foo\n";

    fn db() -> ModuleDb {
        ModuleDb::parse(DEP, ALIAS, SOFTDEP)
    }

    #[test]
    fn dependencies_come_first_each_once() {
        let order = db().load_order("virtio_net").unwrap();
        assert_eq!(order.last().unwrap(), "virtio_net");
        let pos = |m: &str| order.iter().position(|x| x == m).unwrap();
        assert!(pos("failover") < pos("net_failover"));
        assert_eq!(order.len(), 5);
        let order = db().load_order("virtio-pci").unwrap();
        assert_eq!(order.len(), 5);
        assert_eq!(order.last().unwrap(), "virtio_pci");
    }

    #[test]
    fn unknown_module_is_named() {
        let err = db().load_order("nosuchmod").unwrap_err();
        assert_eq!(
            err.to_string(),
            "module nosuchmod is not in the initramfs (not in modules.dep)"
        );
    }

    #[test]
    fn missing_soft_dependency_is_skipped() {
        // virtio_net's soft dependency missing_mod does not exist: skipped.
        let order = db().load_order("virtio_net").unwrap();
        assert!(!order.contains(&"missing_mod".to_string()));
        // ext4's "crc32c" is an alias: resolved, loaded first.
        let order = db().load_order("ext4").unwrap();
        assert_eq!(
            order,
            ["crc32c_generic", "crc16", "mbcache", "jbd2", "ext4"]
        );
    }

    #[test]
    fn aliases_resolve() {
        let d = db();
        let m = d.resolve_alias("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00");
        assert_eq!(m.into_iter().collect::<Vec<_>>(), ["virtio_pci"]);
        assert_eq!(d.resolve_alias("virtio:d00000001v00001AF4").len(), 1);
        assert!(d.resolve_alias("virtio:d00000002v00001AF4").is_empty());
        assert_eq!(
            d.resolve_alias("cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0094,00B0")
                .len(),
            1
        );
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"a*c", b"abbbc"));
        assert!(glob_match(b"a*", b"a"));
        assert!(!glob_match(b"a*d", b"abc"));
        assert!(glob_match(b"a?c", b"abc"));
        assert!(glob_match(b"v[0-9]x", b"v7x"));
        assert!(!glob_match(b"v[!0-9]x", b"v7x"));
        assert!(glob_match(b"v[ab]x", b"vbx"));
        assert!(glob_match(b"v[", b"v["));
        assert!(glob_match(b"*", b""));
        assert!(!glob_match(b"", b"x"));
    }

    #[test]
    fn garbage_metadata_does_not_panic() {
        let d = ModuleDb::parse(
            ":\n::\nno colon\n a.ko: b.ko\n",
            "alias\nalias x\n",
            "softdep\nsoftdep x pre:\n",
        );
        assert!(d.contains("a"));
        assert!(d.load_order("a").is_err());
    }

    #[test]
    fn missing_metadata_names_the_file() {
        let err = ModuleDb::load(Path::new("/nonexistent-modules")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent-modules/modules.dep"));
    }

    #[test]
    fn cmdline_module_options() {
        let o = CmdlineOptions::parse(
            "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro amdgpu.gpu_recovery=1 \
             i915.force_probe=4680 quiet i915.enable-guc=3 b2c.run=\"-ti alpine sh\"\n",
        );
        assert_eq!(o.params("amdgpu"), "gpu_recovery=1");
        assert_eq!(o.params("i915"), "force_probe=4680 enable_guc=3");
        assert_eq!(o.params("nouveau"), "");
        // Module names: '-' and '_' are the same, in the option and the lookup.
        let o = CmdlineOptions::parse("virtio-net.napi_tx=0 snd_hda_intel.power-save=1");
        assert_eq!(o.params("virtio_net"), "napi_tx=0");
        assert_eq!(o.params("snd-hda-intel"), "power_save=1");
    }

    #[test]
    fn cmdline_module_options_quotes_flags_and_init_arguments() {
        let o = CmdlineOptions::parse(
            "foo.name=\"two words\" \"bar.x=a b\" foo.flag foo.empty= -- baz.after=1",
        );
        // Values with spaces are quoted again: the kernel's parser removes them.
        assert_eq!(o.params("foo"), "name=\"two words\" flag empty=");
        assert_eq!(o.params("bar"), "x=\"a b\"");
        // After `--`, the arguments are the init's.
        assert_eq!(o.params("baz"), "");
    }

    #[test]
    fn cmdline_not_module_options() {
        let o = CmdlineOptions::parse(
            "console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.255.0 .x=1 m.=1 a/b.c=1 m.p/q=1 \"",
        );
        assert_eq!(o, CmdlineOptions::default());
        // An unclosed quote ends the line, as in the kernel.
        let o = CmdlineOptions::parse("m.p=\"a b");
        assert_eq!(o.params("m"), "p=\"a b\"");
    }

    #[test]
    fn cmdline_blacklists() {
        let o = CmdlineOptions::parse("modprobe.blacklist=nouveau,radeon, module_blacklist=i915");
        for m in ["nouveau", "radeon", "i915"] {
            assert!(o.is_blacklisted(m), "{m}");
        }
        assert!(!o.is_blacklisted("amdgpu"));
        assert!(!o.is_blacklisted(""));
        assert_eq!(o.params("modprobe"), "");
    }

    #[test]
    fn kernel_words() {
        assert_eq!(
            kernel_args("  a b=\"c d\"\te\"f g\"h  "),
            ["a", "b=\"c d\"", "e\"f g\"h"]
        );
        assert!(kernel_args(" \t\n").is_empty());
    }

    #[test]
    fn compressed_modules() {
        // `printf 'module image\n' | xz --check=crc32 --lzma2=preset=9,dict=1MiB`
        const XZ: &[u8] = &[
            0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x01, 0x69, 0x22, 0xde, 0x36, 0x02, 0x00,
            0x21, 0x01, 0x10, 0x00, 0x00, 0x00, 0xa8, 0x70, 0x8e, 0x86, 0x01, 0x00, 0x0c, 0x6d,
            0x6f, 0x64, 0x75, 0x6c, 0x65, 0x20, 0x69, 0x6d, 0x61, 0x67, 0x65, 0x0a, 0x00, 0x00,
            0x00, 0x00, 0x1f, 0x97, 0xe5, 0x79, 0x00, 0x01, 0x21, 0x0d, 0x75, 0xdc, 0xa8, 0xd2,
            0x90, 0x42, 0x99, 0x0d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x59, 0x5a,
        ];
        assert_eq!(
            decompress_xz(std::io::Cursor::new(XZ)).unwrap(),
            b"module image\n"
        );
        // A damaged stream is an error, not a module image.
        let mut bad = XZ.to_vec();
        bad[30] ^= 0xff;
        assert!(decompress_xz(std::io::Cursor::new(bad)).is_err());
        assert!(decompress_xz(std::io::Cursor::new(b"not xz".to_vec())).is_err());
        // modules.dep names compressed files: the module name is the same.
        let db = ModuleDb::parse(
            "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz\nkernel/lib/crc16.ko.xz:\n",
            "",
            "",
        );
        assert_eq!(db.load_order("ext4").unwrap(), ["crc16", "ext4"]);

        // `printf 'module image\n' | zstd -19`, with its content checksum.
        const ZSTD: &[u8] = &[
            0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x68, 0x69, 0x00, 0x00, 0x6d, 0x6f, 0x64, 0x75, 0x6c,
            0x65, 0x20, 0x69, 0x6d, 0x61, 0x67, 0x65, 0x0a, 0xcb, 0x8c, 0x1e, 0x55,
        ];
        assert_eq!(
            decompress_zstd(std::io::Cursor::new(ZSTD)).unwrap(),
            b"module image\n"
        );
        let mut bad = ZSTD.to_vec();
        bad[12] ^= 0x01; // one bit of the content: the checksum tells
        let err = decompress_zstd(std::io::Cursor::new(bad)).unwrap_err();
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        let err = decompress_zstd(std::io::Cursor::new(b"not zstd".to_vec())).unwrap_err();
        assert!(err.to_string().contains("not a zstd frame"), "{err}");
        assert!(decompress_zstd(std::io::Cursor::new(&ZSTD[..20])).is_err());
    }

    #[test]
    fn a_module_is_found_whatever_its_compression() {
        // The hardware archive's modules.dep (both archives' modules) names
        // the base modules .ko.xz; the zstd base archive has them as .ko.zst.
        let dir = std::env::temp_dir().join(format!("b2c-kmod-ext-{}", std::process::id()));
        fs::create_dir_all(dir.join("kernel/fs")).unwrap();
        fs::write(dir.join("kernel/fs/a.ko.zst"), b"").unwrap();
        fs::write(dir.join("kernel/fs/b.ko"), b"").unwrap();
        fs::write(dir.join("kernel/fs/c.ko.xz"), b"").unwrap();
        let mut db = ModuleDb::parse(
            "kernel/fs/a.ko.xz:\nkernel/fs/b.ko.xz:\nkernel/fs/c.ko.xz:\nkernel/fs/d.ko.xz:\n",
            "",
            "",
        );
        db.set_dir(&dir);
        let path = |m: &str| {
            db.path_of(m)
                .unwrap()
                .strip_prefix(&dir)
                .unwrap()
                .to_owned()
        };
        assert_eq!(path("a"), Path::new("kernel/fs/a.ko.zst"));
        assert_eq!(path("b"), Path::new("kernel/fs/b.ko"));
        assert_eq!(path("c"), Path::new("kernel/fs/c.ko.xz"));
        // None there: the path modules.dep gives, which the error names.
        assert_eq!(path("d"), Path::new("kernel/fs/d.ko.xz"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn modaliases_are_found_through_buses_and_classes() {
        use std::os::unix::fs::symlink;
        let root = std::env::temp_dir().join(format!("b2c-sys-{}", std::process::id()));
        let pci = root.join("devices/pci0000:00/0000:00:03.0");
        let virtio = pci.join("virtio0");
        let input = root.join("devices/platform/i8042/serio0/input/input1");
        let no_alias = root.join("devices/virtual/net/lo");
        for d in [&virtio, &input, &no_alias] {
            fs::create_dir_all(d).unwrap();
        }
        let uevent = |alias: &str| format!("DRIVER=x\nMODALIAS={alias}\nPCI_SLOT_NAME=y\n");
        fs::write(pci.join("uevent"), uevent("pci:v00001AF4d00001000")).unwrap();
        fs::write(virtio.join("uevent"), uevent("virtio:d00000001v00001AF4")).unwrap();
        fs::write(
            input.join("uevent"),
            uevent("input:b0011v0001p0001eAB41-e0,1"),
        )
        .unwrap();
        fs::write(no_alias.join("uevent"), "INTERFACE=lo\nIFINDEX=1\n").unwrap();
        // A device of no bus or class is not a coldplug device.
        fs::write(
            root.join("devices/platform/i8042/uevent"),
            uevent("platform:i8042"),
        )
        .unwrap();
        for (link, target) in [
            ("bus/pci/devices/0000:00:03.0", &pci),
            ("bus/virtio/devices/virtio0", &virtio),
            ("class/input/input1", &input),
            ("class/net/lo", &no_alias),
        ] {
            let link = root.join(link);
            fs::create_dir_all(link.parent().unwrap()).unwrap();
            symlink(target, &link).unwrap();
        }
        fs::create_dir_all(root.join("bus/empty")).unwrap();
        let found: Vec<String> = modaliases(&root).into_iter().collect();
        assert_eq!(
            found,
            [
                "input:b0011v0001p0001eAB41-e0,1",
                "pci:v00001AF4d00001000",
                "virtio:d00000001v00001AF4"
            ]
        );
        assert!(modaliases(&root.join("missing")).is_empty());
        fs::remove_dir_all(&root).unwrap();
    }
}
