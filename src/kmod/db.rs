//! The module index of one kernel version: `modules.dep`, `modules.alias`
//! and `modules.softdep`, and the load order they give.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::{canonical, name_from_path, ModuleError};

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

    /// The file of module `name`: the path modules.dep gives, or the same
    /// module with another compression (`.ko`, `.ko.xz`, `.ko.zst`) when only
    /// that one exists: each archive compresses its modules its own way, and
    /// the hardware archive's modules.dep also lists the base archive's.
    pub(super) fn path_of(&self, name: &str) -> Option<PathBuf> {
        let (listed, _) = self.deps.get(name)?;
        let listed = Path::new(listed);
        let path = if listed.is_absolute() {
            listed.to_path_buf()
        } else {
            self.dir.join(listed)
        };
        if path.exists() {
            return Some(path);
        }
        let text = path.to_string_lossy();
        let stem = text
            .strip_suffix(".ko")
            .or_else(|| text.rsplit_once(".ko.").map(|(stem, _)| stem))
            .unwrap_or(&text);
        let found = [".ko.zst", ".ko.xz", ".ko"]
            .iter()
            .map(|ext| PathBuf::from(format!("{stem}{ext}")))
            .find(|p| p.exists());
        Some(found.unwrap_or(path))
    }

    /// Sets the directory the paths of modules.dep are relative to (tests).
    #[cfg(test)]
    pub(super) fn set_dir(&mut self, dir: &Path) {
        self.dir = dir.to_path_buf();
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
