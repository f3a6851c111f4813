//! The kernel command line and the extra-args file (`cmdline::parse`,
//! `cmdline::merge_extra_args`, and `b2c check` on top of them).
//!
//! Invariants:
//! - the checker's report holds the configuration the init would have;
//! - no warning or error holds a control character (they go to the console),
//!   in any of its parts (message, option, instance, field, suggestion);
//! - `b2c check --json` always prints valid JSON whose `errors` and
//!   `warnings` are the init's messages and whose `problems` are the init's
//!   errors then warnings, and the exit status is 1 exactly when there are
//!   errors;
//! - no secret shows up anywhere a person can see it (messages, JSON, text
//!   report, `Debug`): neither the secrets the parser kept (login passwords,
//!   S3 keys, encryption keys, URL passwords) nor what stands where a secret
//!   goes in an option the parser refused. A secret counts as shown when
//!   changing its letters and digits changes the output the same way.

use boot2container::check::Report;
use boot2container::cmdline::{self, lookup, tokenize, Config, Problem};

fn messages(problems: &[Problem]) -> Vec<&str> {
    problems.iter().map(|p| p.message.as_str()).collect()
}

/// The fuzz target `cmdline`: `data` is a whole kernel command line.
pub fn run_cmdline(data: &[u8]) {
    check(data, None);
}

/// The fuzz target `extra_args`: a command line, a NUL byte, then the
/// extra-args file merged into it (no NUL: the whole input is the file,
/// merged into an empty command line).
pub fn run_extra_args(data: &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(i) => check(&data[..i], Some(&data[i + 1..])),
        None => check(b"", Some(data)),
    }
}

/// Everything that a person sees of one parse.
fn shown(report: &Report) -> String {
    let c = &report.config;
    format!(
        "{}\n{}\n{}\n{}\n{:?}",
        messages(&c.warnings).join("\n"),
        messages(&c.errors).join("\n"),
        report.json_string(),
        report.text(),
        c
    )
}

fn check(cmd: &[u8], extra: Option<&[u8]>) {
    let report = Report::new(Some(cmd), extra);

    // The checker runs the init's parser, no other.
    let mut config = cmdline::parse(cmd);
    if let Some(e) = extra {
        cmdline::merge_extra_args(&mut config, e);
    }
    // The volume set-up errors the command line alone tells (fscrypt
    // without a cache disk): the init prints them at the set-up, the checker
    // up front.
    let volume_errors = boot2container::volumes::config_errors(&config);
    config.errors.extend(volume_errors);
    assert_eq!(config, report.config, "the checker and the init disagree");

    for p in config.warnings.iter().chain(&config.errors) {
        crate::assert_console_safe("cmdline message", &p.message);
        let parts = [&p.option, &p.instance, &p.field, &p.suggestion];
        for part in parts.into_iter().flatten() {
            crate::assert_console_safe("cmdline problem", part);
        }
    }

    let json = report.json_string();
    let v: serde_json::Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => panic!("b2c check --json printed invalid JSON ({e}):\n{json}"),
    };
    assert_eq!(v["errors"], serde_json::json!(messages(&config.errors)));
    assert_eq!(v["warnings"], serde_json::json!(messages(&config.warnings)));
    let problems: Vec<serde_json::Value> = config
        .errors
        .iter()
        .map(|p| (p, "error"))
        .chain(config.warnings.iter().map(|p| (p, "warning")))
        .map(|(p, severity)| {
            let mut o = serde_json::json!(p);
            o["severity"] = severity.into();
            o
        })
        .collect();
    assert_eq!(v["problems"], serde_json::Value::Array(problems));
    assert_eq!(report.exit_code() == 0, config.errors.is_empty());

    check_secrets(cmd, extra, &report);
}

/// The secrets the parser kept.
fn parsed_secrets(c: &Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let urls = c
        .extra_args_url
        .iter()
        .chain(
            c.proxy
                .iter()
                .flat_map(|p| p.http.iter().chain(p.https.iter())),
        )
        .chain(c.minio.iter().map(|m| &m.url));
    out.extend(urls.filter_map(|u| u.password.as_ref().map(|p| p.expose().to_string())));
    out.extend(c.logins.iter().map(|l| l.password.expose().to_string()));
    for m in &c.minio {
        out.push(m.access_key.expose().to_string());
        out.push(m.secret_key.expose().to_string());
    }
    for v in &c.volumes {
        let keys = v.encrypt_key.iter().chain(v.fscrypt_key.iter());
        out.extend(keys.map(|k| k.expose().to_string()));
    }
    out
}

/// The password of `scheme://user:password@host...`, split as `Url::parse`
/// splits it.
fn url_password(s: &str, out: &mut Vec<String>) {
    let Some((_, rest)) = s.split_once("://") else {
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        if let Some((_, password)) = userinfo.split_once(':') {
            out.push(password.to_string());
        }
    }
}

/// What stands where a secret goes, whether or not the option is valid.
fn secret_slots(input: &[u8], out: &mut Vec<String>) {
    for token in tokenize(input) {
        let Some(value) = token.value else { continue };
        let key = lookup(&token.key).map_or(token.key.as_str(), |o| o.key);
        let fields: Vec<&str> = value.split(',').map(str::trim).collect();
        // (A container's arguments are the user's command, shown as written.)
        match key {
            "b2c.extra_args_url" => url_password(&value, out),
            "b2c.minio" => fields.iter().for_each(|f| url_password(f, out)),
            "b2c.proxy" => {
                let urls = fields.iter().filter(|f| f.starts_with("http"));
                urls.for_each(|f| url_password(f, out))
            }
            _ => {}
        }
        match key {
            "b2c.login" => {
                let pw = fields.iter().filter_map(|f| f.strip_prefix("password="));
                out.extend(pw.map(str::to_string));
            }
            "b2c.minio" => out.extend(fields.iter().skip(2).take(2).map(|f| f.to_string())),
            "b2c.volume" => {
                let keys = fields.iter().filter_map(|f| {
                    f.strip_prefix("encrypt_key=")
                        .or_else(|| f.strip_prefix("fscrypt_key="))
                });
                out.extend(keys.map(str::to_string));
            }
            _ => {}
        }
    }
}

/// `s` with each ASCII letter and digit replaced by the next one of its
/// kind (`z` by `a`, `9` by `0`): the same shape, other characters.
fn rotate(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            c if c.is_ascii_alphanumeric() => char::from(c as u8 + 1),
            c => c,
        })
        .collect()
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

fn replace_once(input: &[u8], from: &[u8], to: &[u8]) -> Option<Vec<u8>> {
    let at = input.windows(from.len()).position(|w| w == from)?;
    let mut out = input.to_vec();
    out[at..at + from.len()].copy_from_slice(to);
    Some(out)
}

fn check_secrets(cmd: &[u8], extra: Option<&[u8]>, report: &Report) {
    let mut candidates = parsed_secrets(&report.config);
    secret_slots(cmd, &mut candidates);
    if let Some(e) = extra {
        secret_slots(e, &mut candidates);
    }
    candidates.sort();
    candidates.dedup();
    let whole = [cmd, extra.unwrap_or_default()].join(&b"\0"[..]);
    let seen = shown(report);
    let tokens: String = tokenize(cmd)
        .into_iter()
        .chain(tokenize(extra.unwrap_or_default()))
        .map(|t| format!("{}={}\0", t.key, t.value.unwrap_or_default()))
        .collect();
    for secret in candidates {
        // Short values are ordinary words; a value found twice in the
        // input cannot be changed in one place only.
        let occurrences = whole
            .windows(secret.len().max(1))
            .filter(|w| *w == secret.as_bytes())
            .count();
        // Once in the tokens too: quotes removed, the secret may be found
        // as written somewhere else. (Bytes that are not UTF-8 read as
        // U+FFFD: such a value is not found as written.)
        let odd = |c: char| c == char::REPLACEMENT_CHARACTER || c == '"' || c.is_whitespace();
        if secret.len() < 4
            || secret.contains(odd)
            || occurrences != 1
            || count(&tokens, &secret) != 1
            || count(&seen, &secret) == 0
        {
            continue;
        }
        let other = rotate(&secret);
        if other == secret {
            continue;
        }
        let (cmd2, extra2) = match replace_once(cmd, secret.as_bytes(), other.as_bytes()) {
            Some(c) => (c, extra.map(<[u8]>::to_vec)),
            None => {
                let e = extra.and_then(|e| replace_once(e, secret.as_bytes(), other.as_bytes()));
                (cmd.to_vec(), e)
            }
        };
        let seen2 = shown(&Report::new(Some(&cmd2), extra2.as_deref()));
        let follows = count(&seen, &secret) > count(&seen2, &secret)
            && count(&seen2, &other) > count(&seen, &other);
        assert!(
            !follows,
            "the secret {secret:?} is shown (it follows the input):\n{seen}"
        );
    }
}
