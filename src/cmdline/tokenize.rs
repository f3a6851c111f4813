//! Splitting a command line into `key[=value]` tokens, with the kernel's rules
//! as b2c applied them (docs/options.md, *Where options come from*).

/// One `key[=value]` token of the command line, double quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Everything before the first `=` (invalid UTF-8 replaced by U+FFFD).
    pub key: String,
    /// Everything after the first `=`; `None` when the token has no `=`.
    pub value: Option<String>,
    /// The token opened a double quote that was never closed: its value is
    /// the rest of the input.
    pub unbalanced_quote: bool,
    /// The token held bytes that are not UTF-8 (replaced by U+FFFD).
    pub invalid_utf8: bool,
}

/// Bytes that separate tokens outside double quotes. The kernel splits on
/// every `isspace()` byte, which covers the trailing newline of
/// `/proc/cmdline` and the newlines of an extra-args file. A NUL byte also
/// separates: no argument can hold one.
fn is_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0)
}

/// Splits `input` into tokens.
///
/// - Tokens are separated by whitespace, except inside double quotes.
/// - Double quotes are removed wherever they are, so a token may mix quoted
///   and unquoted parts: `b2c.volume="a,b"c` is `b2c.volume=a,bc`.
/// - An unbalanced double quote makes the rest of the input part of the token
///   (trailing whitespace trimmed); [`Token::unbalanced_quote`] is set.
/// - The key is everything before the first `=`, quoted or not.
/// - Tokens that are empty once their quotes are removed are dropped.
pub fn tokenize(input: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < input.len() {
        if is_separator(input[i]) {
            i += 1;
            continue;
        }
        let mut bytes = Vec::new();
        let mut in_quote = false;
        while i < input.len() {
            let b = input[i];
            if b == b'"' {
                in_quote = !in_quote;
            } else if !in_quote && is_separator(b) {
                break;
            } else {
                bytes.push(b);
            }
            i += 1;
        }
        if in_quote {
            while bytes.last().is_some_and(|&b| is_separator(b)) {
                bytes.pop();
            }
        }
        if bytes.is_empty() && !in_quote {
            continue;
        }
        tokens.push(make_token(&bytes, in_quote));
    }
    tokens
}

fn make_token(bytes: &[u8], unbalanced_quote: bool) -> Token {
    let invalid_utf8 = std::str::from_utf8(bytes).is_err();
    let (key, value) = match bytes.iter().position(|&b| b == b'=') {
        Some(eq) => (&bytes[..eq], Some(&bytes[eq + 1..])),
        None => (bytes, None),
    };
    Token {
        key: String::from_utf8_lossy(key).into_owned(),
        value: value.map(|v| String::from_utf8_lossy(v).into_owned()),
        unbalanced_quote,
        invalid_utf8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(input: &str) -> Vec<(String, Option<String>)> {
        tokenize(input.as_bytes())
            .into_iter()
            .map(|t| (t.key, t.value))
            .collect()
    }

    fn pair(k: &str, v: Option<&str>) -> (String, Option<String>) {
        (k.to_string(), v.map(str::to_string))
    }

    #[test]
    fn spaces_tabs_newlines_separate() {
        assert_eq!(
            kv("a=1  b\tc=3\n d=\r\n"),
            [
                pair("a", Some("1")),
                pair("b", None),
                pair("c", Some("3")),
                pair("d", Some(""))
            ]
        );
        assert!(kv("").is_empty());
        assert!(kv(" \t\n").is_empty());
    }

    #[test]
    fn quotes_group_and_are_removed() {
        assert_eq!(
            kv(r#"b2c.run="-ti docker.io/alpine:3.20" x=1"#),
            [
                pair("b2c.run", Some("-ti docker.io/alpine:3.20")),
                pair("x", Some("1"))
            ]
        );
        assert_eq!(
            kv(r#"b2c.volume="a,b"c"#),
            [pair("b2c.volume", Some("a,bc"))]
        );
        assert_eq!(kv(r#""b2c.run=a b""#), [pair("b2c.run", Some("a b"))]);
        assert_eq!(kv(r#"a="x=y""#), [pair("a", Some("x=y"))]);
        assert_eq!(kv(r#"a="" """#), [pair("a", Some(""))]);
        assert_eq!(kv("a=\"x\ty\""), [pair("a", Some("x\ty"))]);
    }

    #[test]
    fn unbalanced_quote_takes_the_rest() {
        let t = tokenize(b"a=1 b2c.run=\"img sh -c 'x' c=3\n");
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].key, "b2c.run");
        assert_eq!(t[1].value.as_deref(), Some("img sh -c 'x' c=3"));
        assert!(t[1].unbalanced_quote);
        assert!(!t[0].unbalanced_quote);
        let t = tokenize(b"x \"");
        assert_eq!(t.len(), 2);
        assert!(t[1].unbalanced_quote);
    }

    #[test]
    fn invalid_utf8_is_flagged_not_fatal() {
        let t = tokenize(b"b2c.hostname=a\xffb ok=1");
        assert_eq!(t.len(), 2);
        assert!(t[0].invalid_utf8);
        assert_eq!(t[0].value.as_deref(), Some("a\u{fffd}b"));
        assert!(!t[1].invalid_utf8);
    }

    #[test]
    fn nul_separates() {
        assert_eq!(kv("a=1\0b=2"), [pair("a", Some("1")), pair("b", Some("2"))]);
    }
}
