//! The one-line summary of a transfer, and the failures it lists.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Which way the files go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the bucket to the local folder.
    Pull,
    /// From the local folder to the bucket.
    Push,
}

/// One file that could not be transferred (or removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The path relative to the folder (the key after the prefix).
    pub path: String,
    /// What failed, naming the object or local file, with the HTTP status and
    /// S3 error code when the server answered.
    pub reason: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What a transfer did. `Display` is the one-line summary, e.g.
/// `push /data -> job/bucket/results: 12 files sent (3.4 MiB), 988 skipped, 2 removed, 0 failed, 1.23 s`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The direction.
    pub direction: Direction,
    /// The local folder.
    pub local: PathBuf,
    /// `ALIAS/BUCKET[/PREFIX]`.
    pub remote: String,
    /// Files copied to the destination.
    pub files_sent: u64,
    /// Their bytes.
    pub bytes_sent: u64,
    /// Files already the same at the destination.
    pub skipped: u64,
    /// Files that differ at the destination and were kept there, because
    /// `overwrite` was not given (relative paths).
    pub kept: Vec<String>,
    /// Files skipped by an `exclude` pattern.
    pub excluded: u64,
    /// Destination files deleted (`remove`).
    pub removed: u64,
    /// Files that failed.
    pub failed: u64,
    /// Notes worth a warning line (symbolic links and special files skipped...).
    pub notes: Vec<String>,
    /// How long it took.
    pub elapsed: Duration,
}

impl Summary {
    pub(crate) fn new(direction: Direction, local: PathBuf, remote: String) -> Summary {
        Summary {
            direction,
            local,
            remote,
            files_sent: 0,
            bytes_sent: 0,
            skipped: 0,
            kept: Vec::new(),
            excluded: 0,
            removed: 0,
            failed: 0,
            notes: Vec::new(),
            elapsed: Duration::ZERO,
        }
    }
}

/// `1.5 KiB`, `3.4 MiB`...: binary units, one decimal.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let local = self.local.display();
        match self.direction {
            Direction::Pull => write!(f, "pull {} -> {local}: ", self.remote)?,
            Direction::Push => write!(f, "push {local} -> {}: ", self.remote)?,
        }
        write!(
            f,
            "{} sent ({}), {} skipped",
            plural(self.files_sent, "file", "files"),
            human_bytes(self.bytes_sent),
            self.skipped
        )?;
        if !self.kept.is_empty() {
            write!(f, ", {} kept (differs, no overwrite)", self.kept.len())?;
        }
        if self.excluded > 0 {
            write!(f, ", {} excluded", self.excluded)?;
        }
        write!(
            f,
            ", {} removed, {} failed, {:.2} s",
            self.removed,
            self.failed,
            self.elapsed.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text() {
        let mut s = Summary::new(
            Direction::Push,
            PathBuf::from("/data"),
            "job/bucket/results".into(),
        );
        s.files_sent = 12;
        s.bytes_sent = 3_565_158;
        s.skipped = 988;
        s.removed = 2;
        s.elapsed = Duration::from_millis(1234);
        assert_eq!(
            s.to_string(),
            "push /data -> job/bucket/results: 12 files sent (3.4 MiB), 988 skipped, 2 removed, 0 failed, 1.23 s"
        );
        s.direction = Direction::Pull;
        s.files_sent = 1;
        s.bytes_sent = 10;
        s.kept = vec!["a".into()];
        s.excluded = 3;
        s.failed = 1;
        assert_eq!(
            s.to_string(),
            "pull job/bucket/results -> /data: 1 file sent (10 B), 988 skipped, 1 kept (differs, no overwrite), 3 excluded, 2 removed, 1 failed, 1.23 s"
        );
    }

    #[test]
    fn bytes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(200_000_000), "190.7 MiB");
        assert_eq!(human_bytes(5 << 40), "5.0 TiB");
    }
}
