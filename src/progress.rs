//! Image pull progress on a serial console.
//!
//! podman draws progress bars only when its standard error is a terminal,
//! and then redraws them several times a second with cursor movements: on a
//! serial console logged by a farm that is a flood of escape sequences. On a
//! pipe it prints nothing at all between `Copying blob ...` and `done`, so a
//! pull of several hundred megabytes looks hung. The init gives podman a
//! pseudo-terminal and passes its output through [`Filter`]: the bars become
//! one line every [`REPORT_EVERY`] with the bytes done and the total of each
//! layer in progress, every other line is printed once, without escape
//! sequences. Once the container starts, its own error output passes
//! through untouched.

use std::time::{Duration, Instant};

/// How often a line reports the layers in progress.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Distinct lines remembered to print each once (podman redraws them all).
const SEEN_MAX: usize = 4096;
/// The longest line kept while waiting for its end.
const LINE_MAX: usize = 4096;

/// Where a layer or config blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Blob {
    /// `12.3MiB / 25.1MiB`.
    Bytes { done: String, total: String },
    /// Finished (or already there).
    Done,
}

/// The filter between podman's terminal and the console.
#[derive(Debug)]
pub struct Filter {
    passthrough: bool,
    line: Vec<u8>,
    /// Blobs by short id, in the order they appeared.
    blobs: Vec<(String, Blob)>,
    changed: bool,
    last_report: Option<Instant>,
    seen: Vec<String>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter::new()
    }
}

impl Filter {
    /// A filter in pull mode.
    pub fn new() -> Filter {
        Filter {
            passthrough: false,
            line: Vec::new(),
            blobs: Vec::new(),
            changed: false,
            last_report: None,
            seen: Vec::new(),
        }
    }

    /// True once [`Filter::start_passthrough`] was called.
    pub fn is_passthrough(&self) -> bool {
        self.passthrough
    }

    /// The container started: what comes next is its own output, passed
    /// through as is. Returns what was pending.
    pub fn start_passthrough(&mut self) -> Vec<u8> {
        let out = self.finish();
        self.passthrough = true;
        out
    }

    /// Takes bytes from podman's terminal; returns the bytes for the console.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) -> Vec<u8> {
        if self.passthrough {
            return bytes.to_vec();
        }
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut self.line);
                self.segment(&line, &mut out);
            } else if self.line.len() < LINE_MAX {
                self.line.push(b);
            }
        }
        if self.changed && self.in_progress() {
            let due = self
                .last_report
                .is_none_or(|at| now.duration_since(at) >= REPORT_EVERY);
            if due {
                out.extend_from_slice(self.report().as_bytes());
                out.push(b'\n');
                self.last_report = Some(now);
                self.changed = false;
            }
        }
        out
    }

    /// The end of podman's output: what is pending (a line without its end).
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let line = std::mem::take(&mut self.line);
        self.segment(&line, &mut out);
        out
    }

    fn in_progress(&self) -> bool {
        self.blobs
            .iter()
            .any(|(_, b)| matches!(b, Blob::Bytes { .. }))
    }

    /// `Pulling: blob 5d0aeceef7ee 12.3MiB / 25.1MiB, blob 8a2f1e9c0d3b done`.
    fn report(&self) -> String {
        let parts: Vec<String> = self
            .blobs
            .iter()
            .map(|(id, b)| match b {
                Blob::Bytes { done, total } => format!("{id} {done} / {total}"),
                Blob::Done => format!("{id} done"),
            })
            .collect();
        format!("Pulling: {}", parts.join(", "))
    }

    fn segment(&mut self, raw: &[u8], out: &mut Vec<u8>) {
        let text = strip_escapes(&String::from_utf8_lossy(raw));
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        if let Some((id, blob)) = parse_bar(text) {
            self.update(id, blob);
            if blob_done(text) {
                self.print_once(text, out);
            }
            return;
        }
        self.print_once(text, out);
    }

    fn update(&mut self, id: String, blob: Blob) {
        match self.blobs.iter_mut().find(|(i, _)| *i == id) {
            Some((_, b)) if *b == blob => {}
            Some((_, b)) => {
                *b = blob;
                self.changed = true;
            }
            None => {
                self.blobs.push((id, blob));
                self.changed = true;
            }
        }
    }

    fn print_once(&mut self, text: &str, out: &mut Vec<u8>) {
        if self.seen.iter().any(|s| s == text) {
            return;
        }
        if self.seen.len() < SEEN_MAX {
            self.seen.push(text.to_string());
        }
        out.extend_from_slice(text.as_bytes());
        out.push(b'\n');
    }
}

fn blob_done(text: &str) -> bool {
    text.ends_with(" done") || text.contains("skipped: already exists")
}

/// A line of podman's progress bars: `Copying blob 5d0aeceef7ee [===>---]
/// 12.3MiB / 25.1MiB`, or its end `Copying blob 5d0aeceef7ee done`
/// (also `Copying config ...`).
fn parse_bar(text: &str) -> Option<(String, Blob)> {
    let rest = text
        .strip_prefix("Copying blob ")
        .or_else(|| text.strip_prefix("Copying config "))?;
    let id: String = rest
        .split_whitespace()
        .next()?
        .trim_start_matches("sha256:")
        .chars()
        .take(12)
        .collect();
    if blob_done(text) {
        return Some((id, Blob::Done));
    }
    // The counters are the last "A / B" of the line.
    let words: Vec<&str> = text.split_whitespace().collect();
    let slash = words.iter().rposition(|w| *w == "/")?;
    let done = words.get(slash.checked_sub(1)?)?;
    let total = words.get(slash + 1)?;
    if !is_size(done) || !is_size(total) {
        return None;
    }
    Some((
        id,
        Blob::Bytes {
            done: done.to_string(),
            total: total.to_string(),
        },
    ))
}

/// `12.3MiB`, `512b`, `1.0GiB`.
fn is_size(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty()
        && digits.len() < s.len()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Removes ANSI escape sequences (CSI `ESC [ ... final`, and two-byte `ESC x`).
pub fn strip_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            if !c.is_control() || c == '\t' {
                out.push(c);
            }
            continue;
        }
        // CSI: parameters and intermediates, then one final byte @..~. Any
        // other escape is two bytes long.
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn escapes_are_removed() {
        assert_eq!(
            strip_escapes("\x1b[1A\x1b[JCopying blob abc \x1b[32mdone\x1b[0m"),
            "Copying blob abc done"
        );
        assert_eq!(strip_escapes("a\x1b7b\x07c"), "abc");
    }

    #[test]
    fn bars_parse() {
        assert_eq!(
            parse_bar("Copying blob 5d0aeceef7ee [=====>-------] 12.3MiB / 25.1MiB"),
            Some((
                "5d0aeceef7ee".into(),
                Blob::Bytes {
                    done: "12.3MiB".into(),
                    total: "25.1MiB".into()
                }
            ))
        );
        assert_eq!(
            parse_bar("Copying blob sha256:5d0aeceef7ee0123456789 done"),
            Some(("5d0aeceef7ee".into(), Blob::Done))
        );
        assert_eq!(
            parse_bar("Copying blob 5d0aeceef7ee skipped: already exists"),
            Some(("5d0aeceef7ee".into(), Blob::Done))
        );
        assert_eq!(parse_bar("Copying blob 5d0aeceef7ee [===]"), None);
        assert_eq!(parse_bar("Trying to pull x..."), None);
    }

    /// What podman draws on a terminal: the same lines again and again,
    /// with cursor movements. The console gets each message once and one
    /// report line per interval.
    #[test]
    fn a_redrawn_pull_becomes_few_lines() {
        let t0 = Instant::now();
        let mut f = Filter::new();
        let mut console = String::new();
        console += &text(f.feed(
            b"Trying to pull 10.0.2.2:5000/big:latest...\nGetting image source signatures\n",
            t0,
        ));
        for tick in 0..40u64 {
            let done = tick as f64 * 2.5;
            let frame = format!(
                "\x1b[2A\x1b[JCopying blob aaaaaaaaaaaa [==>--] {done:.1}MiB / 100.0MiB\nCopying blob bbbbbbbbbbbb done\n"
            );
            console += &text(f.feed(frame.as_bytes(), t0 + Duration::from_millis(tick * 250)));
        }
        console += &text(f.feed(
            b"\x1b[2A\x1b[JCopying blob aaaaaaaaaaaa done\nCopying blob bbbbbbbbbbbb done\nWriting manifest to image destination\n",
            t0 + Duration::from_secs(11),
        ));
        let lines: Vec<&str> = console.lines().collect();
        assert_eq!(
            lines,
            [
                "Trying to pull 10.0.2.2:5000/big:latest...",
                "Getting image source signatures",
                "Copying blob bbbbbbbbbbbb done",
                "Pulling: aaaaaaaaaaaa 0.0MiB / 100.0MiB, bbbbbbbbbbbb done",
                "Pulling: aaaaaaaaaaaa 50.0MiB / 100.0MiB, bbbbbbbbbbbb done",
                "Copying blob aaaaaaaaaaaa done",
                "Writing manifest to image destination",
            ]
        );
        assert!(!console.contains('\x1b'));
    }

    #[test]
    fn after_the_start_the_container_output_passes_through() {
        let mut f = Filter::new();
        let now = Instant::now();
        assert_eq!(text(f.feed(b"Error: pending", now)), "");
        assert_eq!(text(f.start_passthrough()), "Error: pending\n");
        assert!(f.is_passthrough());
        let raw = b"\x1b[31mred\r\n same  \n";
        assert_eq!(f.feed(raw, now), raw.to_vec());
    }

    #[test]
    fn endless_lines_are_bounded() {
        let mut f = Filter::new();
        let out = f.feed(&vec![b'x'; 3 * LINE_MAX], Instant::now());
        assert!(out.is_empty());
        assert_eq!(f.finish().len(), LINE_MAX + 1);
    }
}
