//! The host-side checker: `b2c check --cmdline '...' [--file PATH] [--json]`.
//!
//! It runs the init's own parser (SPEC section 7) on a command line and/or an
//! extra-args file, prints the pipeline the init would run (the exact
//! `podman` argument lists) and every warning and error the init would
//! print. Exit status: 0 without errors, 1 with errors, 2 on a usage error
//! (or a file that cannot be read).

use crate::cmdline::{self, shell_quote, Config, ContainerSpec};
use crate::podman;
use serde_json::{json, Value};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

/// Exit status: no error.
pub const EXIT_OK: i32 = 0;
/// Exit status: the command line has errors.
pub const EXIT_ERRORS: i32 = 1;
/// Exit status: the tool was called wrongly.
pub const EXIT_USAGE: i32 = 2;

const HELP: &str = "\
b2c - boot2container: a PID 1 that boots a machine straight into containers.

When it is not PID 1, this binary is a host-side tool.

Usage:
  b2c check --cmdline 'OPTIONS' [--file PATH] [--json]
  b2c check --file PATH [--json]
  b2c --help | --version

check: validate a kernel command line and/or an extra-args file (the file
given to b2c.extra_args_url) with the init's own parser. Prints the
containers the pipeline would run, as the podman argument lists, then every
warning and error the init would print.

  --cmdline 'OPTIONS'  the kernel command line (quote it for your shell)
  --file PATH          an extra-args file, merged after the command line
                       the way the init merges it ('-' reads stdin)
  --json               print one JSON object instead of text

Exit status: 0 no error, 1 errors found, 2 usage error or unreadable file.
";

/// What `b2c check` was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
struct CheckArgs {
    cmdline: Option<Vec<u8>>,
    file: Option<OsString>,
    json: bool,
}

enum Command {
    Help,
    Version,
    Check(CheckArgs),
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("b2c: {msg}");
    eprintln!("Try 'b2c --help'.");
    EXIT_USAGE
}

fn parse_args(args: &[OsString]) -> Result<Command, String> {
    let mut it = args.iter().skip(1);
    match it.next().and_then(|a| a.to_str()) {
        None => return Err("no command given".into()),
        Some("-h" | "--help" | "help") => return Ok(Command::Help),
        Some("-V" | "--version") => return Ok(Command::Version),
        Some("check") => {}
        Some(other) => return Err(format!("unknown command \"{other}\"")),
    }
    let mut out = CheckArgs::default();
    while let Some(arg) = it.next() {
        let bytes = arg.as_bytes();
        let (name, inline): (&[u8], Option<&[u8]>) = match bytes.iter().position(|&b| b == b'=') {
            Some(eq) if bytes.starts_with(b"--") => (&bytes[..eq], Some(&bytes[eq + 1..])),
            _ => (bytes, None),
        };
        match name {
            b"-h" | b"--help" => return Ok(Command::Help),
            b"--json" if inline.is_none() => out.json = true,
            b"--cmdline" | b"--file" => {
                let value: Vec<u8> = match inline {
                    Some(v) => v.to_vec(),
                    None => match it.next() {
                        Some(v) => v.as_bytes().to_vec(),
                        None => {
                            return Err(format!("{} needs a value", String::from_utf8_lossy(name)))
                        }
                    },
                };
                if name == b"--cmdline" {
                    if out.cmdline.replace(value).is_some() {
                        return Err("--cmdline is given more than once".into());
                    }
                } else if out
                    .file
                    .replace(OsStr::from_bytes(&value).to_owned())
                    .is_some()
                {
                    return Err("--file is given more than once".into());
                }
            }
            _ => {
                return Err(format!(
                    "unknown argument \"{}\"",
                    String::from_utf8_lossy(bytes)
                ))
            }
        }
    }
    if out.cmdline.is_none() && out.file.is_none() {
        return Err("check needs --cmdline 'OPTIONS' and/or --file PATH".into());
    }
    Ok(Command::Check(out))
}

fn read_file(path: &OsStr) -> std::io::Result<Vec<u8>> {
    if path == "-" {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

/// Entry point of the command-line tool; returns the exit status.
pub fn main(args: Vec<OsString>) -> i32 {
    let check = match parse_args(&args) {
        Ok(Command::Help) => {
            print!("{HELP}");
            return EXIT_OK;
        }
        Ok(Command::Version) => {
            println!("b2c {}", env!("CARGO_PKG_VERSION"));
            return EXIT_OK;
        }
        Ok(Command::Check(c)) => c,
        Err(msg) => return usage_error(&msg),
    };
    let file = match &check.file {
        None => None,
        Some(path) => match read_file(path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                eprintln!("b2c: cannot read {}: {e}", path.to_string_lossy());
                return EXIT_USAGE;
            }
        },
    };
    let report = Report::new(check.cmdline.as_deref(), file.as_deref());
    if check.json {
        println!("{}", report.json_string());
    } else {
        print!("{}", report.text());
    }
    report.exit_code()
}

/// The result of checking a command line and/or an extra-args file.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The merged configuration, as the init would have it.
    pub config: Config,
    /// Remarks of the checker itself (not printed by the init).
    pub notes: Vec<String>,
}

impl Report {
    /// Parses `cmdline` (empty when `None`) then merges `extra_args` as the init would.
    pub fn new(cmdline: Option<&[u8]>, extra_args: Option<&[u8]>) -> Report {
        let mut config = cmdline::parse(cmdline.unwrap_or_default());
        let mut notes = Vec::new();
        match extra_args {
            Some(bytes) => cmdline::merge_extra_args(&mut config, bytes),
            None => {
                if config.extra_args_url.is_some() {
                    notes.push(
                        "b2c.extra_args_url is set but no --file was given: the options it downloads are not checked, nor the b2c.minio and b2c.filesystem names that volumes refer to"
                            .to_string(),
                    );
                }
            }
        }
        if config.run.is_empty() && config.run_post.is_empty() {
            notes.push("no b2c.run or b2c.run_post: the pipeline does not run".to_string());
        }
        Report { config, notes }
    }

    /// 0 without errors, 1 with errors.
    pub fn exit_code(&self) -> i32 {
        if self.config.errors.is_empty() {
            EXIT_OK
        } else {
            EXIT_ERRORS
        }
    }

    /// The report as one JSON object (see [`to_json`]) plus `notes`.
    pub fn json(&self) -> Value {
        let mut v = to_json(&self.config);
        if let Value::Object(map) = &mut v {
            map.insert("notes".into(), json!(self.notes));
        }
        v
    }

    /// [`Report::json`] as pretty-printed text.
    pub fn json_string(&self) -> String {
        serde_json::to_string_pretty(&self.json()).unwrap_or_else(|e| {
            // Cannot happen (only strings, numbers and maps); stay valid JSON anyway.
            json!({ "errors": [format!("internal error: {e}")] }).to_string()
        })
    }

    /// The human-readable report.
    pub fn text(&self) -> String {
        render_text(&self.config, &self.notes)
    }
}

fn containers(specs: &[ContainerSpec]) -> Value {
    Value::Array(
        specs
            .iter()
            .map(|s| {
                json!({
                    "source": s.source,
                    "user_args": s.args,
                    "image": podman::image(&s.args),
                    "args": podman::run_args(s),
                })
            })
            .collect(),
    )
}

fn value<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// The configuration as one JSON object. Containers are lists of objects
/// whose `args` is the complete `podman` argument list; secrets are `***`.
pub fn to_json(c: &Config) -> Value {
    json!({
        "run_service": containers(&c.run_service),
        "run": containers(&c.run),
        "run_post": containers(&c.run_post),
        "pipefail": c.pipefail,
        "poweroff_delay": c.poweroff_delay,
        "shutdown_cmd": c.shutdown_cmd,
        "reboot_cmd": c.reboot_cmd,
        "hostname": c.hostname,
        "keymap": c.keymap,
        "ntp_peer": value(&c.ntp_peer),
        "extra_args_url": value(&c.extra_args_url),
        "proxy": value(&c.proxy),
        "logins": value(&c.logins),
        "storage": value(&c.storage),
        "cache_device": value(&c.cache_device),
        "swap": value(&c.swap),
        "filesystems": value(&c.filesystems),
        "nbd": value(&c.nbds),
        "modules": c.modules,
        "insmods": c.insmods,
        "ifaces": value(&c.ifaces),
        "ip": c.kernel_ip,
        "minio": value(&c.minio),
        "volumes": value(&c.volumes),
        "warnings": c.warnings,
        "errors": c.errors,
    })
}

fn command_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The human-readable report: the pipeline, the settings that differ from
/// the defaults, then the warnings and errors.
pub fn render_text(c: &Config, notes: &[String]) -> String {
    let mut out = String::from("Pipeline:\n");
    let groups = [
        ("service", &c.run_service),
        ("run", &c.run),
        ("run_post", &c.run_post),
    ];
    for (label, specs) in groups {
        for (i, spec) in specs.iter().enumerate() {
            out.push_str(&format!(
                "  {label} {}: podman {}\n",
                i + 1,
                command_line(&podman::run_args(spec))
            ));
        }
    }
    if c.pipefail {
        out.push_str(
            "  (b2c.pipefail: the remaining run containers are skipped after a failure)\n",
        );
    }

    let mut settings: Vec<String> = Vec::new();
    let mut add = |name: &str, v: String| settings.push(format!("  {name}: {v}"));
    add(
        "hostname",
        c.hostname
            .clone()
            .unwrap_or_else(|| "boot2container (default)".into()),
    );
    if let Some(k) = &c.keymap {
        add("keymap", k.clone());
    }
    add(
        "ntp_peer",
        value(&c.ntp_peer).as_str().unwrap_or_default().to_string(),
    );
    if let Some(u) = &c.extra_args_url {
        add("extra_args_url", u.to_string());
    }
    add("cache_device", compact(&c.cache_device));
    if let Some(s) = &c.swap {
        add("swap", compact(s));
    }
    if let Some(p) = &c.proxy {
        add("proxy", compact(p));
    }
    for l in &c.logins {
        add("login", compact(l));
    }
    if !c.storage.is_empty() {
        add("storage", compact(&c.storage));
    }
    for f in &c.filesystems {
        add("filesystem", compact(f));
    }
    for n in &c.nbds {
        add("nbd", compact(n));
    }
    if !c.modules.is_empty() {
        add("modules", c.modules.join(","));
    }
    if !c.insmods.is_empty() {
        add("insmods", c.insmods.join(","));
    }
    for i in &c.ifaces {
        add("iface", compact(i));
    }
    if let Some(ip) = &c.kernel_ip {
        add("ip", ip.clone());
    }
    for m in &c.minio {
        add("minio", compact(m));
    }
    for v in &c.volumes {
        add("volume", compact(v));
    }
    add("poweroff_delay", format!("{} s", c.poweroff_delay));
    if let Some(cmd) = &c.shutdown_cmd {
        add("shutdown_cmd", command_line(cmd));
    }
    if let Some(cmd) = &c.reboot_cmd {
        add("reboot_cmd", command_line(cmd));
    }
    out.push_str("Settings:\n");
    for s in settings {
        out.push_str(&s);
        out.push('\n');
    }
    for n in notes {
        out.push_str(&format!("NOTE: {n}\n"));
    }
    for w in &c.warnings {
        out.push_str(&format!("WARNING: {w}\n"));
    }
    for e in &c.errors {
        out.push_str(&format!("ERROR: {e}\n"));
    }
    out.push_str(&format!(
        "{} error(s), {} warning(s)\n",
        c.errors.len(),
        c.warnings.len()
    ));
    out
}

/// One-line JSON of `x` without its unset fields (null, false, empty lists).
fn compact<T: serde::Serialize>(x: &T) -> String {
    let mut v = value(x);
    if let Value::Object(map) = &mut v {
        map.retain(|_, f| {
            !(f.is_null() || *f == Value::Bool(false) || f.as_array().is_some_and(|a| a.is_empty()))
        });
    }
    v.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn argument_parsing() {
        let parsed = |a: &[&str]| parse_args(&os(a));
        assert!(matches!(parsed(&["b2c", "--help"]), Ok(Command::Help)));
        assert!(matches!(parsed(&["b2c", "check", "-h"]), Ok(Command::Help)));
        assert!(matches!(
            parsed(&["b2c", "--version"]),
            Ok(Command::Version)
        ));
        match parsed(&["b2c", "check", "--cmdline", "a=b", "--json", "--file=x"]) {
            Ok(Command::Check(c)) => {
                assert_eq!(c.cmdline.as_deref(), Some(&b"a=b"[..]));
                assert_eq!(c.file.as_deref(), Some(OsStr::new("x")));
                assert!(c.json);
            }
            _ => panic!("not parsed"),
        }
        match parsed(&["b2c", "check", "--cmdline=b2c.run=\"x y\""]) {
            Ok(Command::Check(c)) => {
                assert_eq!(c.cmdline.as_deref(), Some(&b"b2c.run=\"x y\""[..]))
            }
            _ => panic!("not parsed"),
        }
        assert!(parsed(&["b2c"]).is_err());
        assert!(parsed(&["b2c", "frobnicate"]).is_err());
        assert!(parsed(&["b2c", "check"]).is_err());
        assert!(parsed(&["b2c", "check", "--cmdline"]).is_err());
        assert!(parsed(&["b2c", "check", "--cmdline", "a", "--cmdline", "b"]).is_err());
        assert!(parsed(&["b2c", "check", "--cmdline", "a", "--bogus"]).is_err());
        assert!(parsed(&["b2c", "check", "--json=1", "--cmdline", "a"]).is_err());
    }

    #[test]
    fn usage_errors_exit_2() {
        assert_eq!(main(os(&["b2c"])), EXIT_USAGE);
        assert_eq!(main(os(&["b2c", "check"])), EXIT_USAGE);
        assert_eq!(
            main(os(&["b2c", "check", "--file", "/nonexistent/x"])),
            EXIT_USAGE
        );
    }

    #[test]
    fn json_has_every_key() {
        let r = Report::new(
            Some(b"b2c.run=\"-ti docker://reg/img:1 sh\" b2c.hostname=plop"),
            None,
        );
        let v = r.json();
        for key in [
            "run",
            "run_post",
            "run_service",
            "pipefail",
            "volumes",
            "filesystems",
            "ifaces",
            "minio",
            "cache_device",
            "swap",
            "hostname",
            "ntp_peer",
            "extra_args_url",
            "poweroff_delay",
            "warnings",
            "errors",
            "notes",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(
            v["run"][0]["args"],
            json!([
                "run",
                "--privileged",
                "--network=host",
                "--pull=newer",
                "-ti",
                "reg/img:1",
                "sh"
            ])
        );
        assert_eq!(v["run"][0]["image"], json!("reg/img:1"));
        assert_eq!(r.exit_code(), EXIT_OK);
    }

    #[test]
    fn text_report() {
        let r = Report::new(
            Some(b"b2c.run=\"img sh -c 'echo hi'\" b2c.hostname=bad_name b2c.foo=1"),
            None,
        );
        let t = r.text();
        assert!(t.contains(
            "  run 1: podman run --privileged --network=host --pull=newer img sh -c 'echo hi'\n"
        ));
        assert!(t.contains("ERROR: b2c.hostname: \"bad_name\" is not a valid host name"));
        assert!(t.contains("WARNING: b2c.foo: unknown option ignored"));
        assert!(t.contains("1 error(s), 1 warning(s)"));
        assert_eq!(r.exit_code(), EXIT_ERRORS);
    }

    #[test]
    fn notes() {
        let r = Report::new(Some(b"b2c.extra_args_url=http://x/y"), None);
        assert_eq!(r.notes.len(), 2);
        assert!(r.notes[0].contains("no --file was given"));
        let r = Report::new(Some(b"b2c.extra_args_url=http://x/y"), Some(b"b2c.run=img"));
        assert!(r.notes.is_empty());
    }
}
