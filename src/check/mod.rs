//! The host-side checker: `b2c check --cmdline '...' [--file PATH] [--json] [--strict]`.
//!
//! It runs the init's own parser on a command line and/or an extra-args
//! file, prints the pipeline the init would run (the exact `podman` argument
//! lists) and every warning and error the init would print (README.md, *The
//! checker*); `--json` also lists them as `problems`, objects naming the
//! option, instance, field and a suggestion. Exit status: 0 without errors,
//! 1 with errors (with `--strict`, every warning is one), 2 on a usage
//! error (or a file that cannot be read). `b2c check --list-options` prints
//! the option table.

use crate::cmdline::{self, shell_quote, Config, ContainerSpec, Problem, OPTIONS};
use crate::podman;
use serde::Serialize;
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
  b2c check --cmdline 'OPTIONS' [--file PATH] [--json] [--strict]
  b2c check --file PATH [--json] [--strict]
  b2c check --list-options [--json]
  b2c --help | --version

check: validate a kernel command line and/or an extra-args file (the file
given to b2c.extra_args_url) with the init's own parser. Prints the
containers the pipeline would run, as the podman argument lists, then every
warning and error the init would print.

  --cmdline 'OPTIONS'  the kernel command line (quote it for your shell)
  --file PATH          an extra-args file, merged after the command line
                       the way the init merges it ('-' reads stdin)
  --json               print one JSON object instead of text; its
                       \"problems\" list gives each warning and error as an
                       object: option, instance, field, message,
                       suggestion, severity
  --strict             every warning is an error (as b2c.strict makes it
                       for the init): the exit status is 1
  --list-options       print every option the init knows: syntax, aliases,
                       when it acts, whether it repeats, where it is parsed
                       and acted on (with --json: a JSON list)

Exit status: 0 no error, 1 errors found (with --strict, warnings too),
2 usage error or unreadable file.
";

/// What `b2c check` was asked to do.
#[derive(Debug, Default, PartialEq, Eq)]
struct CheckArgs {
    cmdline: Option<Vec<u8>>,
    file: Option<OsString>,
    json: bool,
    strict: bool,
    list_options: bool,
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
            b"--strict" if inline.is_none() => out.strict = true,
            b"--list-options" if inline.is_none() => out.list_options = true,
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
    if out.list_options {
        if out.cmdline.is_some() || out.file.is_some() || out.strict {
            return Err("--list-options takes no --cmdline, --file nor --strict".into());
        }
    } else if out.cmdline.is_none() && out.file.is_none() {
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
        Ok(Command::Check(c)) if c.list_options => {
            print!("{}", list_options(c.json));
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
    let mut report = Report::new(check.cmdline.as_deref(), file.as_deref());
    if check.strict {
        report = report.strict();
    }
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
        // Volume set-up failures the command line alone tells: the init
        // prints the same errors.
        let volume_errors = crate::volumes::config_errors(&config);
        config.errors.extend(volume_errors);
        if config.run.is_empty() && config.run_post.is_empty() {
            notes.push("no b2c.run or b2c.run_post: the pipeline does not run".to_string());
        }
        Report { config, notes }
    }

    /// `--strict`: every warning becomes an error.
    pub fn strict(mut self) -> Report {
        self.config.make_warnings_errors("--strict");
        self
    }

    /// 0 without errors, 1 with errors.
    pub fn exit_code(&self) -> i32 {
        if self.config.errors.is_empty() {
            EXIT_OK
        } else {
            EXIT_ERRORS
        }
    }

    /// The report as one JSON object: the configuration (each option's
    /// `setting`, secrets as `***`), the containers as objects whose `args`
    /// is the complete `podman` argument list, `warnings` and `errors` (their
    /// messages), `problems` (the errors then the warnings, as objects) and
    /// `notes`.
    pub fn json(&self) -> Value {
        let c = &self.config;
        let problems = c
            .errors
            .iter()
            .map(|problem| ProblemJson {
                problem,
                severity: "error",
            })
            .chain(c.warnings.iter().map(|problem| ProblemJson {
                problem,
                severity: "warning",
            }))
            .collect();
        let report = JsonReport {
            config: c,
            run_service: containers(&c.run_service),
            run: containers(&c.run),
            run_post: containers(&c.run_post),
            problems,
            notes: &self.notes,
        };
        serde_json::to_value(report).unwrap_or_else(|e| {
            // Cannot happen (strings, numbers, lists and maps only); stay valid JSON anyway.
            json!({ "errors": [format!("internal error: {e}")] })
        })
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

/// `b2c check --json`: the configuration with the containers spelled out.
#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    config: &'a Config,
    run_service: Vec<ContainerJson<'a>>,
    run: Vec<ContainerJson<'a>>,
    run_post: Vec<ContainerJson<'a>>,
    problems: Vec<ProblemJson<'a>>,
    notes: &'a [String],
}

/// One problem of `b2c check --json`: `option`, `instance`, `field`,
/// `message`, `suggestion` (null when unknown) and `severity`.
#[derive(Serialize)]
struct ProblemJson<'a> {
    #[serde(flatten)]
    problem: &'a Problem,
    /// `error` or `warning`.
    severity: &'static str,
}

/// One container: as written, split, its image and podman's arguments.
#[derive(Serialize)]
struct ContainerJson<'a> {
    source: &'a str,
    user_args: Vec<String>,
    image: Option<String>,
    args: Vec<String>,
}

fn containers(specs: &[ContainerSpec]) -> Vec<ContainerJson<'_>> {
    specs
        .iter()
        .map(|s| ContainerJson {
            source: &s.source,
            user_args: cmdline::mask::container_args(&s.args),
            image: podman::image(&s.args),
            args: cmdline::mask::container_args(&podman::run_args(s)),
        })
        .collect()
}

fn value<T: serde::Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or(Value::Null)
}

/// The settings the text report shows in its pipeline part rather than
/// among the other settings.
const PIPELINE_SETTINGS: &[&str] = &["run", "run_post", "run_service", "pipefail"];

/// `b2c check --list-options`: the option table, as text or JSON.
pub fn list_options(as_json: bool) -> String {
    if as_json {
        return serde_json::to_string_pretty(OPTIONS)
            .map(|s| s + "\n")
            .unwrap_or_else(|e| format!("{{\"errors\": [\"internal error: {e}\"]}}\n"));
    }
    let mut out = String::new();
    for o in OPTIONS {
        out.push_str(&format!("{}\n    {}\n", o.syntax, o.summary));
        if !o.aliases.is_empty() {
            out.push_str(&format!("    aliases: {}\n", o.aliases.join(", ")));
        }
        out.push_str(&format!(
            "    given: {}\n    acts: {}\n",
            o.repeat.describe(),
            o.stage.describe()
        ));
        if !o.fields.is_empty() {
            out.push_str(&format!("    fields: {}\n", o.fields.join(", ")));
        }
        if !o.default.is_empty() {
            out.push_str(&format!("    default: {}\n", o.default));
        }
        out.push_str(&format!("    a bad value: {}\n", o.bad_value()));
        out.push_str(&format!(
            "    example: {}\n    parsed in {}; acted on in {}\n",
            o.example,
            o.parsed_in,
            o.acted_on_in.join(", ")
        ));
    }
    out
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
                command_line(&cmdline::mask::container_args(&podman::run_args(spec)))
            ));
        }
    }
    if c.pipefail {
        out.push_str(
            "  (b2c.pipefail: the remaining run containers are skipped after a failure)\n",
        );
    }

    let json = value(c);
    let mut settings: Vec<String> = Vec::new();
    for o in OPTIONS {
        if PIPELINE_SETTINGS.contains(&o.setting) {
            continue;
        }
        let name = o.key.trim_start_matches("b2c.");
        let shown = match json.get(o.setting).unwrap_or(&Value::Null) {
            Value::Null | Value::Bool(false) => Vec::new(),
            Value::Array(items) if items.iter().all(Value::is_string) => {
                let words: Vec<String> = items
                    .iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect();
                if words.is_empty() {
                    Vec::new()
                } else {
                    vec![command_line(&words)]
                }
            }
            Value::Array(items) => items.iter().map(compact).collect(),
            Value::String(s) => vec![s.clone()],
            other => vec![compact(other)],
        };
        if shown.is_empty() && !o.default.is_empty() {
            settings.push(format!("  {name}: {} (default)", o.default));
        }
        for v in shown {
            settings.push(format!("  {name}: {v}"));
        }
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

/// One-line JSON of `v` without its unset fields (null, false, empty lists).
fn compact(v: &Value) -> String {
    let mut v = v.clone();
    if let Value::Object(map) = &mut v {
        map.retain(|_, f| {
            !(f.is_null() || *f == Value::Bool(false) || f.as_array().is_some_and(|a| a.is_empty()))
        });
    }
    v.to_string()
}

#[cfg(test)]
mod tests;
