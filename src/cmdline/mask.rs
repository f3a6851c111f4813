//! Secrets written inside other options' values: registry credentials in
//! `b2c.run` arguments (`--creds USER:PASSWORD`) and passwords in
//! `b2c.filesystem` mount options (`password=...`). The values keep them
//! (podman and mount(2) need them); everything that shows them (console
//! lines, `B2C_PIPELINE_FAILED_BY`, the checker) shows them masked.

use super::secret::MASK;

/// Options of podman (and of the tools people run in containers: skopeo,
/// buildah) whose value is a credential: `USER:PASSWORD`, or a password.
const CREDENTIAL_OPTIONS: &[&str] = &["--creds", "--src-creds", "--dest-creds", "--password"];

/// Mount options whose value is a password (cifs: `password=`, `pass=`).
const PASSWORD_MOUNT_OPTIONS: &[&str] = &["password", "pass", "passwd"];

/// The masked form of a credential value: `USER:***` for `USER:PASSWORD`,
/// `***` for a bare password (`--password`); a bare user name for the
/// `--creds` family is not a secret and is kept.
fn mask_value(option: &str, value: &str) -> String {
    if option == "--password" {
        return MASK.to_string();
    }
    match value.split_once(':') {
        Some((user, _)) => format!("{user}:{MASK}"),
        None => value.to_string(),
    }
}

/// The credential option `word` is, and its inline value (`--creds=V`).
fn credential_option(word: &str) -> Option<(&'static str, Option<&str>)> {
    CREDENTIAL_OPTIONS.iter().find_map(|&o| {
        if word == o {
            Some((o, None))
        } else {
            word.strip_prefix(o)
                .and_then(|rest| rest.strip_prefix('='))
                .map(|v| (o, Some(v)))
        }
    })
}

/// Container arguments (already split into words) with every credential
/// value masked, for display.
pub fn container_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut i = 0;
    while i < args.len() {
        match credential_option(&args[i]) {
            Some((o, Some(v))) => out.push(format!("{o}={}", mask_value(o, v))),
            Some((o, None)) => {
                out.push(args[i].clone());
                if let Some(v) = args.get(i + 1) {
                    out.push(mask_value(o, v));
                    i += 1;
                }
            }
            None => out.push(args[i].clone()),
        }
        i += 1;
    }
    out
}

/// A container option's value as written (quotes and all) with every
/// credential masked: the text that section headers, log lines and
/// `B2C_PIPELINE_FAILED_BY` show. Works on text that does not split
/// (an unbalanced quote) too. A quoted value is masked up to its closing
/// quote.
pub fn container_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut at_word_start = true;
    while let Some(c) = rest.chars().next() {
        if at_word_start {
            let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            // The option name, with any quote around the whole word removed.
            let word = rest[..word_end].trim_start_matches(['\'', '"']);
            let option = CREDENTIAL_OPTIONS.iter().find(|&&o| {
                word == o || word.starts_with(&format!("{o}=")) || word == format!("{o}'")
            });
            if let Some(&o) = option {
                let start = rest.find(o).unwrap_or(0) + o.len();
                out.push_str(&rest[..start]);
                rest = &rest[start..];
                // `=` or the blanks between the option and its value.
                let sep = rest
                    .find(|c: char| c != '=' && !c.is_whitespace())
                    .unwrap_or(rest.len());
                out.push_str(&rest[..sep]);
                rest = &rest[sep..];
                let (value, after) = take_value(rest);
                out.push_str(&mask_quoted(o, value));
                rest = after;
                at_word_start = false;
                continue;
            }
        }
        out.push(c);
        at_word_start = c.is_whitespace();
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Splits `text` after one shell word (quotes and backslashes kept).
fn take_value(text: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match quote {
            Some('\'') if c == '\'' => quote = None,
            Some('\'') => {}
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\\' => escaped = true,
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c.is_whitespace() => return (&text[..i], &text[i..]),
            None => {}
        }
    }
    (text, "")
}

/// [`mask_value`] on a word that may hold quotes: the quotes are dropped
/// from the masked part.
fn mask_quoted(option: &str, word: &str) -> String {
    let bare: String = word.chars().filter(|c| *c != '\'' && *c != '"').collect();
    let masked = mask_value(option, &bare);
    if masked == bare {
        word.to_string()
    } else {
        masked
    }
}

/// A mount option with its password masked (`password=***`).
pub fn mount_option(opt: &str) -> String {
    match opt.split_once('=') {
        Some((key, _)) if PASSWORD_MOUNT_OPTIONS.contains(&key) => format!("{key}={MASK}"),
        _ => opt.to_string(),
    }
}

/// serde: container arguments, masked.
pub(crate) fn serialize_container_args<S: serde::Serializer>(
    args: &[String],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(container_args(args))
}

/// serde: mount options, masked.
pub(crate) fn serialize_mount_options<S: serde::Serializer>(
    opts: &[String],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(opts.iter().map(|o| mount_option(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        super::super::split_words(s).unwrap()
    }

    #[test]
    fn credentials_in_split_arguments() {
        assert_eq!(
            container_args(&words("--creds u:pa55 --tls-verify=false img")),
            words("--creds u:*** --tls-verify=false img")
        );
        assert_eq!(
            container_args(&words(
                "--creds=u:pa55 img skopeo copy --src-creds=a:b --dest-creds c:d x y"
            )),
            words("--creds=u:*** img skopeo copy --src-creds=a:*** --dest-creds c:*** x y")
        );
        assert_eq!(
            container_args(&words("img login --password hunter2 --creds")),
            words("img login --password *** --creds")
        );
        // A user name alone is not a secret; other options are untouched.
        assert_eq!(
            container_args(&words("--creds u --credsx=a:b img")),
            words("--creds u --credsx=a:b img")
        );
    }

    #[test]
    fn credentials_in_the_text_as_written() {
        assert_eq!(
            container_text("--creds u:pa55 -ti img sh"),
            "--creds u:*** -ti img sh"
        );
        assert_eq!(
            container_text("--tls-verify=false --creds=kovalsik:cacahuètes img"),
            "--tls-verify=false --creds=kovalsik:*** img"
        );
        assert_eq!(container_text("--creds 'u:p w d' img"), "--creds u:*** img");
        assert_eq!(
            container_text("--creds  \"u:p\\\"x\" img"),
            "--creds  u:*** img"
        );
        // Unbalanced quote: everything after the option is the value.
        assert_eq!(container_text("--creds 'u:secret img"), "--creds u:***");
        assert_eq!(container_text("img x --creds"), "img x --creds");
        assert_eq!(
            container_text("img echo x--creds=a:b"),
            "img echo x--creds=a:b"
        );
        assert_eq!(
            container_text("img --password=hunter2 --src-creds a:b"),
            "img --password=*** --src-creds a:***"
        );
    }

    #[test]
    fn passwords_in_mount_options() {
        assert_eq!(mount_option("password=hunter2"), "password=***");
        assert_eq!(mount_option("pass=x"), "pass=***");
        assert_eq!(mount_option("username=u"), "username=u");
        assert_eq!(mount_option("ro"), "ro");
    }
}
