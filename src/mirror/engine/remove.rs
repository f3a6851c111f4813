//! Removals from the destination, once everything else succeeded.

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::{Run, State};
use crate::mirror::Direction;

impl Run<'_> {
    // ---- removal -----------------------------------------------------

    pub(super) fn remove(&self, rel: &str) {
        match self.direction {
            Direction::Push => {
                let key = self.key(rel);
                match self.request("remove", rel, |_| self.bucket.delete(&key)) {
                    Ok(()) => {
                        self.removed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(reason) => self.fail(rel, reason),
                }
            }
            Direction::Pull => {
                let path = self.path(rel);
                match std::fs::remove_file(&path) {
                    Ok(()) => {
                        self.removed.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => self.fail(rel, format!("remove {}: {e}", path.display())),
                }
            }
        }
    }

    /// After removals on a pull: folders left empty by them go too.
    pub(super) fn prune_empty_folders(&self, state: &State) {
        let mut folders: Vec<PathBuf> = Vec::new();
        for rel in state.local.keys() {
            if state.remote.contains_key(rel) {
                continue;
            }
            let mut p = self.path(rel);
            while p.pop() && p != self.root && p.starts_with(&self.root) {
                folders.push(p.clone());
            }
        }
        folders.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        folders.dedup();
        for f in folders {
            // Fails (and is left alone) unless empty.
            let _ = std::fs::remove_dir(&f);
        }
    }
}
