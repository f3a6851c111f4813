//! `b2c.keymap=NAME`: load a console keymap shipped in the initramfs
//! (Debian's console-data maps, under /usr/share/keymaps) with `loadkeys`.
//! The serial console is never translated: this is for machines with a
//! keyboard and a screen (kiosks, debug shells on tty0).

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::cmdline::edit_distance;

/// Where the keymaps are in the initramfs.
pub const KEYMAP_DIR: &str = "/usr/share/keymaps";
/// How long loadkeys may take.
const LOADKEYS_LIMIT: Duration = Duration::from_secs(10);

/// A keymap that could not be loaded.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KeymapError {
    /// No keymap of that name.
    #[error("b2c.keymap={name}: no such keymap in {dir}{}", suggestion(close))]
    Unknown {
        name: String,
        dir: String,
        close: Vec<String>,
    },
    /// loadkeys failed.
    #[error("b2c.keymap={name} ({path}): {why}")]
    Load {
        name: String,
        path: String,
        /// The failure of loadkeys, as [`crate::process::CommandError`] words it.
        why: String,
    },
}

fn suggestion(close: &[String]) -> String {
    if close.is_empty() {
        String::new()
    } else {
        format!(" (close names: {})", close.join(", "))
    }
}

/// Every keymap file under `dir`: (name, path), names without `.kmap`/`.map`.
fn keymaps(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let file = entry.file_name().to_string_lossy().into_owned();
            let name = file
                .strip_suffix(".kmap")
                .or_else(|| file.strip_suffix(".map"));
            if let Some(name) = name {
                found.push((name.to_string(), path));
            }
        }
    }
    found.sort();
    found
}

/// Finds the keymap `name` under `dir`, or says which names are close.
pub fn find(dir: &Path, name: &str) -> Result<PathBuf, KeymapError> {
    let maps = keymaps(dir);
    if let Some((_, path)) = maps.iter().find(|(n, _)| n == name) {
        return Ok(path.clone());
    }
    let mut close: Vec<(usize, &str)> = maps
        .iter()
        .map(|(n, _)| (edit_distance(name, n), n.as_str()))
        .filter(|(d, n)| *d <= 2 || n.starts_with(name) || name.starts_with(*n))
        .collect();
    close.sort();
    close.dedup_by(|a, b| a.1 == b.1);
    Err(KeymapError::Unknown {
        name: name.to_string(),
        dir: dir.display().to_string(),
        close: close
            .into_iter()
            .take(5)
            .map(|(_, n)| n.to_string())
            .collect(),
    })
}

/// Loads the keymap `name` on the console with `loadkeys`.
pub async fn load(name: &str) -> Result<PathBuf, KeymapError> {
    let path = find(Path::new(KEYMAP_DIR), name)?;
    let mut cmd = std::process::Command::new("loadkeys");
    cmd.args(["-C", "/dev/tty0"]).arg(&path);
    match crate::process::run(&mut cmd, LOADKEYS_LIMIT).await {
        Ok(_) => Ok(path),
        Err(e) => Err(KeymapError::Load {
            name: name.to_string(),
            path: path.display().to_string(),
            why: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("b2c-keymaps-{tag}-{}", std::process::id()));
        for f in [
            "i386/azerty/fr.kmap",
            "i386/azerty/fr-latin9.kmap",
            "i386/qwerty/us.kmap",
            "i386/qwertz/de.kmap",
            "i386/include/linux-with-alt-and-altgr.inc",
        ] {
            let p = dir.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "keymaps 0-2\n").unwrap();
        }
        dir
    }

    #[test]
    fn known_names_are_found_anywhere_in_the_tree() {
        let dir = tree("known");
        assert!(find(&dir, "fr").unwrap().ends_with("i386/azerty/fr.kmap"));
        assert!(find(&dir, "us").unwrap().ends_with("i386/qwerty/us.kmap"));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn unknown_names_list_close_ones() {
        let dir = tree("unknown");
        let err = find(&dir, "frr").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("b2c.keymap=frr: no such keymap in "),
            "{text}"
        );
        assert!(text.ends_with("(close names: fr)"), "{text}");
        let err = find(&dir, "fr-latin").unwrap_err().to_string();
        assert!(err.contains("fr-latin9"), "{err}");
        let err = find(&dir, "zzzzzz").unwrap_err().to_string();
        assert!(!err.contains("close names"), "{err}");
        // Include files are not keymaps.
        assert!(find(&dir, "linux-with-alt-and-altgr").is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn no_keymap_directory() {
        let err = find(Path::new("/nonexistent-keymaps"), "fr").unwrap_err();
        assert_eq!(
            err,
            KeymapError::Unknown {
                name: "fr".into(),
                dir: "/nonexistent-keymaps".into(),
                close: vec![]
            }
        );
    }
}
