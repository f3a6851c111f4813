//! Splitting a container's arguments into words like a POSIX shell, without
//! expanding anything: `$VAR`, `$(...)`, backquotes and globs stay literal.

/// Why a value could not be split into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// A `'` was opened and never closed.
    #[error("unterminated single quote")]
    UnterminatedSingleQuote,
    /// A `"` was opened and never closed.
    #[error("unterminated double quote")]
    UnterminatedDoubleQuote,
    /// The value ends with a `\` that escapes nothing.
    #[error("trailing backslash")]
    TrailingBackslash,
}

/// Splits `s` into words the way a POSIX shell does, with no expansion.
///
/// - Spaces, tabs and newlines separate words.
/// - `'...'` keeps everything literally.
/// - `"..."` keeps everything literally except `\$`, `` \` ``, `\"`, `\\`
///   (the backslash is removed) and backslash-newline (removed).
/// - Outside quotes, `\` makes the next character literal; backslash-newline
///   is removed.
/// - Quoted parts and unquoted parts join into one word; `''` is an empty word.
/// - Nothing else is special: `$VAR`, `$(cmd)`, `*`, `~`, `;`, `|`, `#` are
///   literal text.
pub fn split_words(s: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            '\\' => match chars.next() {
                None => return Err(SplitError::TrailingBackslash),
                Some('\n') => {}
                Some(next) => {
                    current.push(next);
                    in_word = true;
                }
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(SplitError::UnterminatedSingleQuote),
                        Some('\'') => break,
                        Some(x) => current.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err(SplitError::UnterminatedDoubleQuote),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            None => return Err(SplitError::UnterminatedDoubleQuote),
                            Some('\n') => {}
                            Some(x @ ('$' | '`' | '"' | '\\')) => current.push(x),
                            Some(x) => {
                                current.push('\\');
                                current.push(x);
                            }
                        },
                        Some(x) => current.push(x),
                    }
                }
            }
            other => {
                current.push(other);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(current);
    }
    Ok(words)
}

/// Quotes `word` for a POSIX shell, so that a printed command can be pasted
/// back into a terminal: plain words as they are, others in single quotes.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || "-_./:=@%+,^".contains(c)
                || (!c.is_ascii() && !c.is_control())
        });
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// [`split_words`] for an option's value that must hold at least one word:
/// an error naming `key` (and `empty`, what is missing) otherwise.
pub(crate) fn split_option(
    key: &str,
    value: &str,
    empty: &str,
    report: &mut super::fields::Report,
) -> Option<Vec<String>> {
    match split_words(value) {
        Err(e) => {
            // A credential inside the value is never shown.
            let shown = super::mask::container_text(value);
            report.error(format!("{key}: {e} in \"{shown}\""));
            None
        }
        Ok(words) if words.is_empty() => {
            report.error(format!("{key}: {empty}"));
            None
        }
        Ok(words) => Some(words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        split_words(s).unwrap()
    }

    #[test]
    fn plain_words() {
        assert_eq!(
            w("-ti docker.io/alpine:3.20"),
            ["-ti", "docker.io/alpine:3.20"]
        );
        assert_eq!(w("  a \t b\nc  "), ["a", "b", "c"]);
        assert!(w("").is_empty());
        assert!(w("   ").is_empty());
    }

    #[test]
    fn quotes() {
        assert_eq!(
            w("img sh -c 'echo hello world'"),
            ["img", "sh", "-c", "echo hello world"]
        );
        assert_eq!(w(r#"a "b c" d"#), ["a", "b c", "d"]);
        assert_eq!(w(r#"a'b'"c"d"#), ["abcd"]);
        assert_eq!(w("'' x"), ["", "x"]);
        assert_eq!(w(r#""""#), [""]);
        assert_eq!(w(r#"'it'\''s'"#), ["it's"]);
        assert_eq!(w(r#""a\"b\\c\$d\e""#), [r#"a"b\c$d\e"#]);
    }

    #[test]
    fn backslashes() {
        assert_eq!(w(r"a\ b"), ["a b"]);
        assert_eq!(w(r"\'x"), ["'x"]);
        assert_eq!(w("a\\\nb"), ["ab"]);
    }

    #[test]
    fn nothing_is_expanded() {
        assert_eq!(
            w("img sh -c $HOME $(reboot) `id` *.txt ~ ; | && #c"),
            [
                "img",
                "sh",
                "-c",
                "$HOME",
                "$(reboot)",
                "`id`",
                "*.txt",
                "~",
                ";",
                "|",
                "&&",
                "#c"
            ]
        );
        assert_eq!(w(r#"img "$HOME""#), ["img", "$HOME"]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            split_words("a 'b"),
            Err(SplitError::UnterminatedSingleQuote)
        );
        assert_eq!(
            split_words("a \"b"),
            Err(SplitError::UnterminatedDoubleQuote)
        );
        assert_eq!(
            split_words("a \"b\\"),
            Err(SplitError::UnterminatedDoubleQuote)
        );
        assert_eq!(split_words("a b\\"), Err(SplitError::TrailingBackslash));
        assert_eq!(
            SplitError::UnterminatedSingleQuote.to_string(),
            "unterminated single quote"
        );
    }

    #[test]
    fn quoting_round_trips() {
        for word in [
            "plain",
            "",
            "a b",
            "it's",
            "$HOME",
            "x;y",
            "ünïcode",
            "a\nb",
        ] {
            assert_eq!(w(&shell_quote(word)), [word]);
        }
        assert_eq!(shell_quote("--network=host"), "--network=host");
    }
}
