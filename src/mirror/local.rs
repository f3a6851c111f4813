//! The local side: walking a folder, naming files by their relative path.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::attrs::{Attrs, Stamp};
use super::glob::ExcludeSet;
use super::Failure;

/// Suffix of the temporary files downloads are written to.
pub const PARTIAL_SUFFIX: &str = ".b2c-partial";

/// What matters of a local file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalFile {
    /// Size in bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: Stamp,
    /// Mode, times and owner, for `preserve`.
    pub attrs: Attrs,
}

impl LocalFile {
    /// From `stat` data.
    pub fn from_metadata(meta: &std::fs::Metadata) -> LocalFile {
        LocalFile {
            size: meta.len(),
            mtime: Stamp {
                secs: meta.mtime(),
                nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
            },
            attrs: Attrs::of(meta),
        }
    }
}

/// A walked folder.
#[derive(Debug, Default)]
pub struct LocalTree {
    /// Regular files by relative path.
    pub files: BTreeMap<String, LocalFile>,
    /// Files skipped by an exclude pattern.
    pub excluded: u64,
    /// Things that are not transferred (links, devices...), as notes.
    pub notes: Vec<String>,
    /// Folders or names that could not be read: the listing is incomplete.
    pub failures: Vec<Failure>,
}

/// The relative path of `path` under `root`, `/`-separated, when it is
/// valid UTF-8.
pub fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut out = String::new();
    for c in rel.components() {
        let std::path::Component::Normal(s) = c else {
            return None;
        };
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(s.to_str()?);
    }
    (!out.is_empty()).then_some(out)
}

/// True when `rel` can be a file under a folder: no empty, `.` or `..`
/// component, no NUL byte, no leading `/`.
pub fn safe_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains('\0')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// The local path of `rel` under `root`.
pub fn local_path(root: &Path, rel: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    for c in rel.split('/') {
        p.push(c);
    }
    p
}

/// Walks `root` (which must be a readable folder): every regular file not
/// excluded, symbolic links not followed.
pub fn walk(root: &Path, excludes: &ExcludeSet) -> std::io::Result<LocalTree> {
    let mut tree = LocalTree::default();
    // The root itself must be readable: that error is the caller's.
    let top = std::fs::read_dir(root)?;
    let mut stack: Vec<(PathBuf, std::fs::ReadDir)> = vec![(root.to_path_buf(), top)];
    while let Some((dir, mut entries)) = stack.pop() {
        let Some(entry) = entries.next() else {
            continue;
        };
        stack.push((dir.clone(), entries));
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                tree.failures.push(Failure {
                    path: relative(root, &dir).unwrap_or_default(),
                    reason: format!("cannot read the folder {}: {e}", dir.display()),
                });
                // Give up on this folder: its listing is incomplete.
                stack.pop();
                continue;
            }
        };
        let path = entry.path();
        let Some(rel) = relative(root, &path) else {
            tree.failures.push(Failure {
                path: path.to_string_lossy().into_owned(),
                reason: format!(
                    "{}: the name is not valid UTF-8 and cannot be an object key",
                    path.display()
                ),
            });
            continue;
        };
        if rel.ends_with(PARTIAL_SUFFIX) {
            continue;
        }
        if excludes.excludes(&rel) {
            tree.excluded += 1;
            continue;
        }
        let meta = match std::fs::symlink_metadata(&path) {
            Ok(m) => m,
            // Deleted between the listing and now: nothing to send.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                tree.failures.push(Failure {
                    path: rel,
                    reason: format!("cannot read {}: {e}", path.display()),
                });
                continue;
            }
        };
        let ft = meta.file_type();
        if ft.is_dir() {
            match std::fs::read_dir(&path) {
                Ok(rd) => stack.push((path, rd)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tree.failures.push(Failure {
                    path: rel,
                    reason: format!("cannot read the folder {}: {e}", path.display()),
                }),
            }
        } else if ft.is_file() {
            tree.files.insert(rel, LocalFile::from_metadata(&meta));
        } else if ft.is_symlink() {
            tree.notes.push(format!(
                "{} is a symbolic link: not transferred",
                path.display()
            ));
        } else {
            tree.notes.push(format!(
                "{} is not a regular file: not transferred",
                path.display()
            ));
        }
    }
    Ok(tree)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        let root = Path::new("/v");
        assert_eq!(relative(root, Path::new("/v/a/b")).as_deref(), Some("a/b"));
        assert_eq!(relative(root, Path::new("/v")), None);
        assert_eq!(relative(root, Path::new("/w/a")), None);
        assert!(safe_relative("a/b.txt"));
        assert!(!safe_relative("a//b"));
        assert!(!safe_relative("/a"));
        assert!(!safe_relative("a/../b"));
        assert!(!safe_relative("./a"));
        assert!(!safe_relative("a/"));
        assert!(!safe_relative(""));
        assert_eq!(local_path(root, "a/b"), PathBuf::from("/v/a/b"));
    }

    #[test]
    fn walking() {
        let root = std::env::temp_dir().join(format!("b2c-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("a/b/c")).unwrap();
        std::fs::create_dir_all(root.join("skip")).unwrap();
        std::fs::write(root.join("top.txt"), b"1").unwrap();
        std::fs::write(root.join("a/b/c/deep.txt"), b"22").unwrap();
        std::fs::write(root.join("a/x.tmp"), b"333").unwrap();
        std::fs::write(root.join("skip/y"), b"4").unwrap();
        std::fs::write(root.join("a/f.b2c-partial"), b"4").unwrap();
        std::os::unix::fs::symlink("top.txt", root.join("link")).unwrap();
        let ex = ExcludeSet::new(&["*.tmp", "skip"]).unwrap();
        let t = walk(&root, &ex).unwrap();
        let names: Vec<&str> = t.files.keys().map(String::as_str).collect();
        assert_eq!(names, ["a/b/c/deep.txt", "top.txt"]);
        assert_eq!(t.files["a/b/c/deep.txt"].size, 2);
        assert_eq!(t.excluded, 2);
        assert_eq!(t.notes.len(), 1);
        assert!(t.notes[0].contains("symbolic link"));
        assert!(t.failures.is_empty());
        assert!(walk(&root.join("missing"), &ex).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
