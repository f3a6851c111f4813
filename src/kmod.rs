//! Kernel modules: `modules.dep`, `modules.alias` and `modules.softdep`
//! parsing, modalias coldplug (what udev would do) and loading in dependency
//! order with `finit_module(2)`.
//!
//! Coldplug is iterative: loading `virtio_pci` makes the virtio devices
//! appear, whose modaliases then need `virtio_net` and `virtio_blk`. We loop
//! until a pass finds no new module to load.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::ffi::CString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::kmod::{finit_module, ModuleInitFlags};
use thiserror::Error;

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

/// The module database of one kernel version.
#[derive(Debug, Default, Clone)]
pub struct ModuleDb {
    dir: PathBuf,
    /// name -> (relative path, dependency names)
    deps: HashMap<String, (String, Vec<String>)>,
    /// (pattern, module name)
    aliases: Vec<(String, String)>,
    /// name -> modules to load before it
    pre: HashMap<String, Vec<String>>,
}

impl ModuleDb {
    /// Reads `modules.dep`, `modules.alias` and `modules.softdep` from `dir`
    /// (`/lib/modules/$(uname -r)`). A missing alias or softdep file is empty.
    pub fn load(dir: &Path) -> Result<ModuleDb, ModuleError> {
        let read = |name: &str, required: bool| -> Result<String, ModuleError> {
            let path = dir.join(name);
            match fs::read_to_string(&path) {
                Ok(s) => Ok(s),
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                    Ok(String::new())
                }
                Err(source) => Err(ModuleError::Metadata {
                    path: path.display().to_string(),
                    source,
                }),
            }
        };
        let mut db = ModuleDb::parse(
            &read("modules.dep", true)?,
            &read("modules.alias", false)?,
            &read("modules.softdep", false)?,
        );
        db.dir = dir.to_path_buf();
        Ok(db)
    }

    /// Parses the three text files (pure; used by tests).
    pub fn parse(dep: &str, alias: &str, softdep: &str) -> ModuleDb {
        let mut db = ModuleDb::default();
        for line in dep.lines() {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = deps.split_whitespace().map(name_from_path).collect();
            db.deps
                .insert(name_from_path(path), (path.to_string(), deps));
        }
        for line in alias.lines() {
            let mut words = line.split_whitespace();
            if let (Some("alias"), Some(pattern), Some(module)) =
                (words.next(), words.next(), words.next())
            {
                db.aliases.push((pattern.to_string(), canonical(module)));
            }
        }
        for line in softdep.lines() {
            let mut words = line.split_whitespace();
            if words.next() != Some("softdep") {
                continue;
            }
            let Some(module) = words.next() else { continue };
            let mut is_pre = false;
            for word in words {
                match word {
                    "pre:" => is_pre = true,
                    "post:" => is_pre = false,
                    w if is_pre => db
                        .pre
                        .entry(canonical(module))
                        .or_default()
                        .push(canonical(w)),
                    _ => {}
                }
            }
        }
        db
    }

    /// True when `name` is a module of this database.
    pub fn contains(&self, name: &str) -> bool {
        self.deps.contains_key(&canonical(name))
    }

    /// The modules whose alias patterns match `modalias`.
    pub fn resolve_alias(&self, modalias: &str) -> BTreeSet<String> {
        self.aliases
            .iter()
            .filter(|(pattern, _)| glob_match(pattern.as_bytes(), modalias.as_bytes()))
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// The load order for `name`: soft pre-dependencies and dependencies
    /// first, each once, `name` last. Modules absent from the database among
    /// soft dependencies are skipped (they are optional by nature).
    pub fn load_order(&self, name: &str) -> Result<Vec<String>, ModuleError> {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        self.visit(&canonical(name), &mut seen, &mut order, true)?;
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        seen: &mut HashSet<String>,
        order: &mut Vec<String>,
        required: bool,
    ) -> Result<(), ModuleError> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let Some((_, deps)) = self.deps.get(name) else {
            if required {
                return Err(ModuleError::Unknown(name.to_string()));
            }
            // A soft dependency may name an alias (`crc32c`): take what it
            // resolves to, still optional.
            for module in self.resolve_alias(name) {
                self.visit(&module, seen, order, false)?;
            }
            return Ok(());
        };
        for pre in self.pre.get(name).into_iter().flatten() {
            self.visit(pre, seen, order, false)?;
        }
        for dep in deps {
            self.visit(dep, seen, order, true)?;
        }
        order.push(name.to_string());
        Ok(())
    }

    fn path_of(&self, name: &str) -> Option<PathBuf> {
        self.deps.get(name).map(|(p, _)| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                self.dir.join(p)
            }
        })
    }
}

/// Shell-style glob matching as used by modules.alias (`*`, `?`, `[...]`).
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = match_class(&pattern[p..], text[t]) {
                        if matched {
                            p += next;
                            t += 1;
                            continue;
                        }
                    } else if text[t] == b'[' {
                        p += 1;
                        t += 1;
                        continue;
                    }
                }
                c if c == text[t] => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class at the start of `pattern` (`[abc]`,
/// `[a-z]`, `[!x]`). Returns (matched, length of the class), or None when the
/// class is not closed.
fn match_class(pattern: &[u8], c: u8) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(pattern.get(i), Some(b'!') | Some(b'^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < pattern.len() {
        let lo = pattern[i];
        if lo == b']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if pattern.get(i + 1) == Some(&b'-') && pattern.get(i + 2).is_some_and(|&h| h != b']') {
            let hi = pattern[i + 2];
            if lo <= c && c <= hi {
                matched = true;
            }
            i += 3;
        } else {
            if lo == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// Loads modules, remembering what is loaded.
pub struct Loader {
    db: ModuleDb,
    loaded: HashSet<String>,
    /// Modules that failed, so they are not retried at every pass.
    failed: HashSet<String>,
}

impl Loader {
    /// A loader for `db`; modules already in `/proc/modules` count as loaded.
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
            insert_module(&module, &path)?;
            self.loaded.insert(module);
            count += 1;
        }
        Ok(count)
    }

    /// Loads a module file given by path (b2c.insmods compatibility).
    pub fn insmod(&mut self, path: &Path) -> Result<(), ModuleError> {
        let name = name_from_path(&path.to_string_lossy());
        insert_module(&name, path)?;
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
                .filter(|m| !self.loaded.contains(m) && !self.failed.contains(m))
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

fn insert_module(name: &str, path: &Path) -> Result<(), ModuleError> {
    let file = File::open(path).map_err(|source| ModuleError::Open {
        path: path.display().to_string(),
        source,
    })?;
    let params = CString::default();
    match finit_module(&file, &params, ModuleInitFlags::empty()) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(source) => Err(ModuleError::Load {
            name: name.to_string(),
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Every modalias of the devices under `sys` (`/sys`): the `modalias` files
/// of `/sys/devices`, found by a walk that does not follow symlinks.
pub fn modaliases(sys: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut stack = vec![sys.join("devices")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && entry.file_name() == "modalias" {
                if let Ok(alias) = fs::read_to_string(entry.path()) {
                    let alias = alias.trim();
                    if !alias.is_empty() {
                        found.insert(alias.to_string());
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
    fn modaliases_are_found_in_a_tree() {
        let root = std::env::temp_dir().join(format!("b2c-sys-{}", std::process::id()));
        let dev = root.join("devices/pci0000:00/0000:00:03.0");
        fs::create_dir_all(dev.join("virtio0")).unwrap();
        fs::write(dev.join("modalias"), "pci:v00001AF4d00001000\n").unwrap();
        fs::write(dev.join("virtio0/modalias"), "virtio:d00000001v00001AF4\n").unwrap();
        let found = modaliases(&root);
        assert_eq!(found.len(), 2);
        fs::remove_dir_all(&root).unwrap();
    }
}
