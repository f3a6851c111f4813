//! "Did you mean ...?": the closest known name by edit distance.

/// Optimal-string-alignment distance between `a` and `b` (insertions,
/// deletions, substitutions and transpositions of two neighbours all cost 1).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // Three rows: the one before the previous (for transpositions), previous, current.
    let mut before: Vec<usize> = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..width {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            cur[j] = best;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[width - 1]
}

/// The candidate closest to `name`, if it is close enough to be a likely typo:
/// at most a third of the name's length in edits (at least 1, at most 3), or
/// `name` is the start of the candidate (at least 3 characters given).
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let len = name.chars().count();
    let limit = (len / 3).clamp(1, 3);
    let mut best: Option<(usize, &'a str)> = None;
    for &candidate in candidates {
        let d = edit_distance(name, candidate);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    if let Some((_, c)) = best {
        return Some(c);
    }
    if len >= 3 {
        return candidates.iter().copied().find(|c| c.starts_with(name));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("hostname", "hsotname"), 1);
        assert_eq!(edit_distance("run", "run"), 0);
        assert_eq!(edit_distance("é", "e"), 1);
    }

    #[test]
    fn suggestions() {
        let known = [
            "hostname",
            "run",
            "run_post",
            "poweroff_delay",
            "cache_device",
        ];
        assert_eq!(closest("hostnme", &known), Some("hostname"));
        assert_eq!(closest("rn", &known), Some("run"));
        assert_eq!(closest("powerof_delay", &known), Some("poweroff_delay"));
        assert_eq!(closest("cache", &known), Some("cache_device"));
        assert_eq!(closest("zzzzzzzz", &known), None);
        assert_eq!(closest("", &known), None);
    }
}
