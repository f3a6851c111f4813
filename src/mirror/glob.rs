//! `exclude=GLOB` patterns of `b2c.volume`.
//!
//! Paths are the `/`-separated paths of files relative to the volume (the
//! same text as the object key after the prefix). The syntax:
//!
//! - `*` matches any run of characters except `/`; `**` matches any run,
//!   `/` included (so `**/x` is `x` at any depth, `a/**` everything below `a`);
//! - `?` matches one character except `/`;
//! - `[abc]`, `[a-z]`, `[!a-z]` (or `[^a-z]`) match one character of (not of) a set;
//! - `\c` matches the character `c` literally.
//!
//! A pattern without `/` is tried against every component of the path, so
//! `*.tmp` skips `x.tmp` at any depth and `cache` skips every folder (or file)
//! named `cache` with all it holds. A pattern with a `/` is anchored at the
//! volume's root (a leading `/` is allowed and changes nothing): `logs/*.txt`
//! skips `logs/a.txt` only. A pattern that matches a folder skips everything
//! below it.

use std::fmt;

/// A malformed pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("exclude pattern \"{pattern}\" is not valid: {reason}")]
pub struct GlobError {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `?`
    Any,
    /// `*`
    Star,
    /// `**`
    DoubleStar,
    /// `[...]`: ranges (inclusive) and whether the set is negated.
    Class(Vec<(char, char)>, bool),
}

/// One compiled pattern.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    text: String,
    tokens: Vec<Token>,
    anchored: bool,
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.text)
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Glob {
    /// Compiles `pattern` (see the module documentation).
    pub fn parse(pattern: &str) -> Result<Glob, GlobError> {
        let err = |reason| GlobError {
            pattern: pattern.to_string(),
            reason,
        };
        let body = pattern.strip_prefix('/').unwrap_or(pattern);
        let body = body.strip_suffix('/').unwrap_or(body);
        if body.is_empty() {
            return Err(err("it is empty"));
        }
        let mut tokens = Vec::new();
        let mut chars = body.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e) => tokens.push(Token::Char(e)),
                    None => return Err(err("it ends with a lone backslash")),
                },
                '?' => tokens.push(Token::Any),
                '*' => {
                    if chars.peek() == Some(&'*') {
                        chars.next();
                        while chars.peek() == Some(&'*') {
                            chars.next();
                        }
                        tokens.push(Token::DoubleStar);
                    } else {
                        tokens.push(Token::Star);
                    }
                }
                '[' => {
                    let mut negated = false;
                    if matches!(chars.peek(), Some('!' | '^')) {
                        negated = true;
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(c) = chars.next() else {
                            return Err(err("a '[' is not closed by ']'"));
                        };
                        let c = match c {
                            ']' if !first => break,
                            '\\' => chars.next().ok_or(err("it ends with a lone backslash"))?,
                            c => c,
                        };
                        first = false;
                        if chars.peek() == Some(&'-') {
                            let mut ahead = chars.clone();
                            ahead.next();
                            match ahead.peek() {
                                Some(']') | None => ranges.push((c, c)),
                                Some(_) => {
                                    chars.next();
                                    let hi = match chars.next() {
                                        Some('\\') => chars
                                            .next()
                                            .ok_or(err("it ends with a lone backslash"))?,
                                        Some(h) => h,
                                        None => return Err(err("a '[' is not closed by ']'")),
                                    };
                                    if hi < c {
                                        return Err(err("a range in [...] is reversed"));
                                    }
                                    ranges.push((c, hi));
                                }
                            }
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    tokens.push(Token::Class(ranges, negated));
                }
                c => tokens.push(Token::Char(c)),
            }
        }
        let anchored = tokens.contains(&Token::Char('/'));
        Ok(Glob {
            text: pattern.to_string(),
            tokens,
            anchored,
        })
    }

    /// True when `path` (relative, `/`-separated, no leading `/`) or one of
    /// the folders above it matches.
    pub fn matches(&self, path: &str) -> bool {
        let chars: Vec<char> = path.chars().collect();
        if self.anchored || self.tokens.contains(&Token::DoubleStar) {
            // The whole path, or any of its leading folders.
            let mut ends: Vec<usize> = chars
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == '/')
                .map(|(i, _)| i)
                .collect();
            ends.push(chars.len());
            if !self.anchored {
                // `**x` without a `/`: also try every component alone.
                if self.component_matches(&chars) {
                    return true;
                }
            }
            ends.iter()
                .any(|&e| match_tokens(&self.tokens, &chars[..e]))
        } else {
            self.component_matches(&chars)
        }
    }

    fn component_matches(&self, chars: &[char]) -> bool {
        chars
            .split(|c| *c == '/')
            .any(|component| match_tokens(&self.tokens, component))
    }
}

/// Matches `tokens` against the whole of `s`: a memoised walk over
/// (token, character) positions, so no pattern can take exponential time.
fn match_tokens(tokens: &[Token], s: &[char]) -> bool {
    let mut memo = vec![None; (tokens.len() + 1) * (s.len() + 1)];
    match_from(tokens, s, 0, 0, &mut memo)
}

fn match_from(tokens: &[Token], s: &[char], t: usize, i: usize, memo: &mut [Option<bool>]) -> bool {
    let slot = t * (s.len() + 1) + i;
    if let Some(known) = memo.get(slot).copied().flatten() {
        return known;
    }
    let result = match tokens.get(t) {
        None => i == s.len(),
        Some(Token::DoubleStar) => {
            // `**/` also matches no folder at all.
            (tokens.get(t + 1) == Some(&Token::Char('/')) && match_from(tokens, s, t + 2, i, memo))
                || (i..=s.len()).any(|j| match_from(tokens, s, t + 1, j, memo))
        }
        Some(Token::Star) => {
            let mut found = false;
            for j in i..=s.len() {
                if match_from(tokens, s, t + 1, j, memo) {
                    found = true;
                    break;
                }
                if s.get(j) == Some(&'/') {
                    break;
                }
            }
            found
        }
        Some(tok) => match s.get(i) {
            None => false,
            Some(c) => one_char(tok, *c) && match_from(tokens, s, t + 1, i + 1, memo),
        },
    };
    if let Some(m) = memo.get_mut(slot) {
        *m = Some(result);
    }
    result
}

fn one_char(t: &Token, c: char) -> bool {
    match t {
        Token::Char(x) => *x == c,
        Token::Any => c != '/',
        Token::Class(ranges, negated) => {
            c != '/' && (ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated)
        }
        Token::Star | Token::DoubleStar => false,
    }
}

/// Every `exclude=` pattern of a volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExcludeSet {
    globs: Vec<Glob>,
}

impl ExcludeSet {
    /// Compiles each pattern; the first malformed one is the error.
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<ExcludeSet, GlobError> {
        let globs = patterns
            .iter()
            .map(|p| Glob::parse(p.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ExcludeSet { globs })
    }

    /// True when a pattern excludes `path`.
    pub fn excludes(&self, path: &str) -> bool {
        self.globs.iter().any(|g| g.matches(path))
    }

    /// True without any pattern.
    pub fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn m(p: &str, path: &str) -> bool {
        Glob::parse(p).unwrap().matches(path)
    }

    #[test]
    fn basename_patterns_match_at_any_depth() {
        assert!(m("*.tmp", "a.tmp"));
        assert!(m("*.tmp", "x/y/a.tmp"));
        assert!(!m("*.tmp", "a.tmp.txt"));
        assert!(m("cache", "cache"));
        assert!(m("cache", "a/cache/b/c.txt"));
        assert!(!m("cache", "a/cached/b"));
        assert!(m("?.log", "d/a.log"));
        assert!(!m("?.log", "d/ab.log"));
    }

    #[test]
    fn anchored_patterns() {
        assert!(m("logs/*.txt", "logs/a.txt"));
        assert!(!m("logs/*.txt", "x/logs/a.txt"));
        assert!(!m("logs/*.txt", "logs/sub/a.txt"));
        assert!(
            m("/logs/*", "logs/sub/a.txt"),
            "a matched folder skips its content"
        );
        assert!(m("logs/", "logs/a"));
        assert!(m("a/b", "a/b/c/d"));
        assert!(!m("a/b", "a/bc"));
    }

    #[test]
    fn double_star() {
        assert!(m("**/x.o", "x.o"));
        assert!(m("**/x.o", "a/b/x.o"));
        assert!(m("a/**", "a/b/c"));
        assert!(!m("a/**", "b/a/c"));
        assert!(m("a/**/z", "a/z"));
        assert!(m("a/**/z", "a/b/c/z"));
        assert!(m("**.o", "deep/er/x.o"));
    }

    #[test]
    fn classes_and_escapes() {
        assert!(m("[ab].txt", "a.txt"));
        assert!(!m("[ab].txt", "c.txt"));
        assert!(m("[!ab].txt", "c.txt"));
        assert!(m("[^ab].txt", "c.txt"));
        assert!(m("file[0-9]", "dir/file7"));
        assert!(!m("file[0-9]", "dir/filex"));
        assert!(m("[]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("a\\?", "a?"));
        assert!(!m("x[/]y", "x/y"), "a class never matches '/'");
    }

    #[test]
    fn star_does_not_cross_folders() {
        assert!(!m("a*b", "a/b"));
        assert!(m("a*", "a/b"), "matches the folder a");
        assert!(m("*", "anything/at/all"));
    }

    #[test]
    fn errors() {
        let e = |p: &str| Glob::parse(p).unwrap_err().to_string();
        assert_eq!(
            e("[ab"),
            "exclude pattern \"[ab\" is not valid: a '[' is not closed by ']'"
        );
        assert!(e("ab\\").contains("lone backslash"));
        assert!(e("[z-a]").contains("reversed"));
        assert!(e("/").contains("empty"));
        assert!(e("").contains("empty"));
    }

    #[test]
    fn sets() {
        let s = ExcludeSet::new(&["*.tmp", "build"]).unwrap();
        assert!(s.excludes("x/y.tmp"));
        assert!(s.excludes("build/out.o"));
        assert!(!s.excludes("src/main.rs"));
        assert!(ExcludeSet::new::<&str>(&[]).unwrap().is_empty());
        assert!(ExcludeSet::new(&["ok", "[bad"]).is_err());
    }

    #[test]
    fn long_paths_stay_fast() {
        let path = "a/".repeat(200) + "b";
        let g = Glob::parse("**/*a*a*a*a*c").unwrap();
        assert!(!g.matches(&path));
        let g = Glob::parse("**a**a**a**a**a**a**c").unwrap();
        assert!(!g.matches(&path));
    }
}
