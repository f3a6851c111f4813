//! The diff planner: from the two listings (relative path and size of each
//! file, excluded paths already left out), what to do with each path.

use std::collections::BTreeMap;

/// What to do with one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Only at the source: copy it.
    Copy(String),
    /// On both sides with the same size: compare (times or content), then
    /// [`after_compare`] decides.
    Compare(String),
    /// On both sides with different sizes, `overwrite` given: copy it.
    Replace(String),
    /// On both sides with different sizes, no `overwrite`: keep and report.
    Keep(String),
    /// Only at the destination, `remove` given: delete it (once everything
    /// else succeeded).
    Remove(String),
}

/// Plans a transfer from `src` to `dst` (relative path → size).
/// Copies come first, largest first, so that big files start early and
/// their parts spread over the workers.
pub fn plan(
    src: &BTreeMap<String, u64>,
    dst: &BTreeMap<String, u64>,
    overwrite: bool,
    remove: bool,
) -> Vec<Step> {
    let mut copies: Vec<(u64, Step)> = Vec::new();
    let mut others: Vec<Step> = Vec::new();
    for (rel, &size) in src {
        match dst.get(rel) {
            None => copies.push((size, Step::Copy(rel.clone()))),
            Some(&d) if d == size => others.push(Step::Compare(rel.clone())),
            Some(_) if overwrite => copies.push((size, Step::Replace(rel.clone()))),
            Some(_) => others.push(Step::Keep(rel.clone())),
        }
    }
    if remove {
        for rel in dst.keys() {
            if !src.contains_key(rel) {
                others.push(Step::Remove(rel.clone()));
            }
        }
    }
    copies.sort_by_key(|c| std::cmp::Reverse(c.0));
    copies.into_iter().map(|(_, s)| s).chain(others).collect()
}

/// What follows a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The same: nothing to do.
    Skip,
    /// Different, `overwrite` given: copy.
    Copy,
    /// Different, no `overwrite`: keep and report.
    Keep,
}

/// Decides after a comparison.
pub fn after_compare(same: bool, overwrite: bool) -> Outcome {
    match (same, overwrite) {
        (true, _) => Outcome::Skip,
        (false, true) => Outcome::Copy,
        (false, false) => Outcome::Keep,
    }
}

/// Paths of `names` that are also folders of other paths (`a` and `a/b`):
/// such a pair cannot both be local files.
pub fn file_folder_clashes<'a>(names: impl Iterator<Item = &'a String> + Clone) -> Vec<String> {
    let mut folders = std::collections::BTreeSet::new();
    for n in names.clone() {
        let mut at = 0;
        while let Some(i) = n[at..].find('/') {
            folders.insert(&n[..at + i]);
            at += i + 1;
        }
    }
    names
        .filter(|n| folders.contains(n.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(items: &[(&str, u64)]) -> BTreeMap<String, u64> {
        items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn every_case() {
        let src = map(&[("new", 5), ("same", 3), ("grown", 9), ("big", 100)]);
        let dst = map(&[("same", 3), ("grown", 4), ("gone", 1)]);
        assert_eq!(
            plan(&src, &dst, false, false),
            vec![
                Step::Copy("big".into()),
                Step::Copy("new".into()),
                Step::Keep("grown".into()),
                Step::Compare("same".into()),
            ]
        );
        assert_eq!(
            plan(&src, &dst, true, true),
            vec![
                Step::Copy("big".into()),
                Step::Replace("grown".into()),
                Step::Copy("new".into()),
                Step::Compare("same".into()),
                Step::Remove("gone".into()),
            ]
        );
    }

    #[test]
    fn empty_sides() {
        let none = BTreeMap::new();
        let some = map(&[("a", 1)]);
        assert_eq!(plan(&none, &some, true, false), vec![]);
        assert_eq!(
            plan(&none, &some, false, true),
            vec![Step::Remove("a".into())]
        );
        assert_eq!(
            plan(&some, &none, false, true),
            vec![Step::Copy("a".into())]
        );
    }

    #[test]
    fn decisions() {
        assert_eq!(after_compare(true, false), Outcome::Skip);
        assert_eq!(after_compare(true, true), Outcome::Skip);
        assert_eq!(after_compare(false, true), Outcome::Copy);
        assert_eq!(after_compare(false, false), Outcome::Keep);
    }

    #[test]
    fn clashes() {
        let names: Vec<String> = ["a", "a/b", "c/d", "c/d/e/f", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(file_folder_clashes(names.iter()), vec!["a", "c/d"]);
    }
}
