//! The per-stage boot timeline, printed at the end of every boot: what users
//! look at to see where time goes, and what `scripts/bench-boot` parses.
//!
//! The line is `Boot timeline (s of uptime): init=5.12 modules=6.40 ...`.

/// Stage marks in seconds of uptime, in the order they happened.
#[derive(Debug, Default, Clone)]
pub struct Timeline {
    marks: Vec<(&'static str, f64)>,
}

impl Timeline {
    /// An empty timeline.
    pub fn new() -> Timeline {
        Timeline::default()
    }

    /// Records that stage `name` ended now.
    pub fn mark(&mut self, name: &'static str) {
        self.mark_at(name, crate::console::uptime_secs());
    }

    /// Records that stage `name` ended at `uptime` seconds.
    pub fn mark_at(&mut self, name: &'static str, uptime: f64) {
        self.marks.push((name, uptime));
    }

    /// The uptime of the first mark named `name`.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.marks.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The console line.
    pub fn line(&self) -> String {
        let marks: Vec<String> = self
            .marks
            .iter()
            .map(|(n, t)| format!("{n}={t:.2}"))
            .collect();
        format!("Boot timeline (s of uptime): {}", marks.join(" "))
    }
}

/// Parses a timeline line back (for the benchmark and tests).
pub fn parse_line(line: &str) -> Vec<(String, f64)> {
    let Some((_, rest)) = line.split_once("Boot timeline (s of uptime): ") else {
        return Vec::new();
    };
    rest.split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.trim_end_matches('\u{1b}').parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_round_trips() {
        let mut t = Timeline::new();
        t.mark_at("init", 5.123);
        t.mark_at("network", 6.5);
        assert_eq!(
            t.line(),
            "Boot timeline (s of uptime): init=5.12 network=6.50"
        );
        assert_eq!(t.get("network"), Some(6.5));
        assert_eq!(t.get("nope"), None);
        let parsed = parse_line(&format!("[9.00]: {}", t.line()));
        assert_eq!(
            parsed,
            vec![("init".to_string(), 5.12), ("network".to_string(), 6.5)]
        );
        assert!(parse_line("something else").is_empty());
    }
}
