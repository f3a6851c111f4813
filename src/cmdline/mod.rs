//! The kernel command line: tokenising and parsing `b2c.*` options (see
//! docs/options.md; the option table is [`options::OPTIONS`]).
//!
//! Everything here is pure: [`parse`] takes the bytes of `/proc/cmdline` and
//! returns a [`Config`]; [`merge_extra_args`] adds the options of a
//! downloaded extra-args file. Problems never panic and never stop the
//! parse: they are collected as [`Problem`]s in [`Config::warnings`] and
//! [`Config::errors`], each naming the option (and field) concerned, and
//! none of them ever contains a secret.
//!
//! A value the original boot2container used anyway, with a fallback (it ran
//! `sleep VALUE`, `hostname VALUE || true`...), is a warning naming the
//! fallback, which is applied: the option table's `fallback`. Other bad
//! values are errors: the pipeline does not run. With `b2c.strict` every
//! warning is an error.

mod container;
mod fields;
pub mod kernel_ip;
mod machine;
pub mod mask;
mod network;
pub mod options;
mod problem;
mod secret;
mod spec;
mod storage;
mod suggest;
mod tokenize;
mod validate;
mod volume;
mod words;

#[cfg(test)]
mod tests;

pub use container::{asks_for_tty, image_index, ContainerSpec};
pub use machine::POWEROFF_DELAY_MAX;
pub use network::{Iface, Login, NtpPeer, Proxy, Route};
pub use options::{lookup, OptionSpec, OPTIONS};
pub use problem::Problem;
pub use secret::{Secret, MASK};
pub use storage::{
    CacheDevice, Filesystem, Nbd, StorageOption, Swap, SwapTarget, NBD_DEFAULT_PORT, SWAP_MAX,
    SWAP_MIN,
};
pub use suggest::{closest, edit_distance};
pub use tokenize::{tokenize, Token};
pub use validate::{decode_base64, parse_size, Cidr, Url, UrlError};
pub use volume::{Condition, Expiration, Minio, S3Location, Volume, FSCRYPT_KEY_LEN, SSEC_KEY_LEN};
pub use words::{shell_quote, split_words, SplitError};

use fields::Report;
use options::{Given, Source, Stage, Takes};
use serde::Serialize;
use std::time::Duration;

/// The typed configuration read from the command line (and the extra-args file).
///
/// Its serialized keys are the `setting`s of the option table (plus
/// `warnings` and `errors`); the containers are left to the checker, which
/// serializes them with their complete podman argument lists.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Config {
    /// `b2c.run` (alias `b2c.container`), in order.
    #[serde(skip)]
    pub run: Vec<ContainerSpec>,
    /// `b2c.run_post` (alias `b2c.post_container`), in order.
    #[serde(skip)]
    pub run_post: Vec<ContainerSpec>,
    /// `b2c.run_service` (alias `b2c.service`), in order.
    #[serde(skip)]
    pub run_service: Vec<ContainerSpec>,
    /// `b2c.pipefail`: skip the remaining `b2c.run` containers after a failure.
    pub pipefail: bool,
    /// `b2c.poweroff_delay`: how long to wait before powering off
    /// (serialized in seconds).
    #[serde(serialize_with = "machine::serialize_seconds")]
    pub poweroff_delay: Duration,
    /// `b2c.hostname` (the init's default is `boot2container`).
    pub hostname: Option<String>,
    /// `b2c.shutdown_cmd`, split into words (never run by a shell).
    pub shutdown_cmd: Option<Vec<String>>,
    /// `b2c.reboot_cmd`, split into words (never run by a shell).
    pub reboot_cmd: Option<Vec<String>>,
    /// `b2c.keymap`: the console keymap name.
    pub keymap: Option<String>,
    /// `b2c.ntp_peer`.
    pub ntp_peer: NtpPeer,
    /// `b2c.extra_args_url`.
    pub extra_args_url: Option<Url>,
    /// `b2c.proxy`.
    pub proxy: Option<Proxy>,
    /// `b2c.login`, one per registry.
    pub logins: Vec<Login>,
    /// `b2c.storage` options.
    pub storage: Vec<StorageOption>,
    /// `b2c.cache_device`.
    pub cache_device: CacheDevice,
    /// `b2c.swap`.
    pub swap: Option<Swap>,
    /// `b2c.filesystem`, one per name.
    pub filesystems: Vec<Filesystem>,
    /// `b2c.nbd`, one per device.
    #[serde(rename = "nbd")]
    pub nbds: Vec<Nbd>,
    /// `b2c.modules`: module names, every occurrence appended.
    pub modules: Vec<String>,
    /// `b2c.insmods`: module files, every occurrence appended.
    pub insmods: Vec<String>,
    /// `b2c.iface`, one per interface.
    pub ifaces: Vec<Iface>,
    /// The kernel's `ip=` value, kept as written (the kernel acted on it).
    #[serde(rename = "ip")]
    pub kernel_ip: Option<String>,
    /// `b2c.minio`, one per alias.
    pub minio: Vec<Minio>,
    /// `b2c.volume`, one per name.
    pub volumes: Vec<Volume>,
    /// `b2c.strict`: every warning about the options is an error.
    pub strict: bool,
    /// Warnings (serialized as their messages): no secret appears here.
    #[serde(serialize_with = "problem::messages")]
    pub warnings: Vec<Problem>,
    /// Errors (serialized as their messages): no secret appears here.
    #[serde(serialize_with = "problem::messages")]
    pub errors: Vec<Problem>,
}

impl Config {
    /// Moves every warning to the errors (`b2c.strict`, `b2c check
    /// --strict`); `why` names what asked for it, at the end of each message.
    pub fn make_warnings_errors(&mut self, why: &str) {
        for mut w in self.warnings.drain(..) {
            w.message = format!("{} (an error with {why})", w.message);
            self.errors.push(w);
        }
    }

    fn enforce_strict(&mut self) {
        if self.strict {
            self.make_warnings_errors("b2c.strict");
        }
    }
}

/// Parses a whole command line (bytes: `/proc/cmdline` may hold anything).
///
/// References between options (a volume's `b2c.minio` alias or
/// `b2c.filesystem`, `b2c.storage`'s image stores) are checked at the end,
/// unless `b2c.extra_args_url` is set: the extra arguments may define them,
/// so [`merge_extra_args`] checks them instead. The cache device's
/// filesystem is always checked here (the cache is set up before the download).
pub fn parse(input: &[u8]) -> Config {
    let mut config = Config::default();
    for token in tokenize(input) {
        apply(&mut config, &token, Source::Cmdline);
    }
    check_cache_and_swap(&mut config);
    if config.extra_args_url.is_none() {
        let errors = reference_errors(&config);
        config.errors.extend(errors);
    }
    config.enforce_strict();
    config
}

/// Adds the options of an extra-args file (same rules; newlines separate
/// like spaces). Repeatable options append, the others override. Options
/// that act before the download get a warning and have no effect.
/// References between options are (re)checked on the merged result.
pub fn merge_extra_args(config: &mut Config, input: &[u8]) {
    let stale = reference_errors(config);
    config.errors.retain(|e| !stale.contains(e));
    // Kernel options do nothing here, and a downloaded error page would
    // otherwise pass silently. The words are counted, not shown: one could
    // be a piece of a badly quoted secret.
    let mut foreign = 0usize;
    for token in tokenize(input) {
        if token.key != "ip" && !token.key.starts_with("b2c.") {
            foreign += 1;
        }
        apply(config, &token, Source::ExtraArgs);
    }
    if foreign > 0 {
        config.warnings.push(Problem::new(Some("b2c.extra_args_url"), format!(
            "b2c.extra_args_url: {foreign} word(s) of the extra arguments are not b2c options and are ignored (not shown)"
        )));
    }
    let errors = reference_errors(config);
    config.errors.extend(errors);
    config.enforce_strict();
}

/// True for a token whose key may be shown in messages: a `b2c.` option or
/// `ip`. Other words could be pieces of a badly quoted secret.
fn is_option_name(token: &Token) -> bool {
    token.key.starts_with("b2c.") || token.key == "ip"
}

fn apply(config: &mut Config, token: &Token, source: Source) {
    let (warnings, errors) = (config.warnings.len(), config.errors.len());
    apply_token(config, token, source);
    for problem in config.warnings[warnings..]
        .iter_mut()
        .chain(config.errors[errors..].iter_mut())
    {
        problem.map_texts(escape_controls);
    }
}

/// Messages go to a console: control characters from the command line
/// (escape sequences, carriage returns) are shown escaped, never sent.
pub fn escape_controls(msg: &str) -> String {
    if !msg.chars().any(char::is_control) {
        return msg.to_string();
    }
    msg.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn apply_token(config: &mut Config, token: &Token, source: Source) {
    let key = token.key.as_str();
    let option = options::lookup(key);
    // Problems name an option by its key, an alias by the key it stands for.
    let name = option.map_or(key, |o| o.key);
    if token.unbalanced_quote {
        let where_ = source.describe();
        config.warnings.push(if is_option_name(token) {
            Problem::new(Some(name), format!("{key}: unbalanced double quote: the rest of the {where_} is taken as its value"))
        } else {
            // A bare word could be a piece of a badly quoted secret: not shown.
            Problem::new(None, format!("unbalanced double quote in a word of the {where_} (not shown): the rest of the {where_} is part of it"))
        });
    }
    let Some(option) = option else {
        if key.starts_with("b2c.") {
            let suggestion = suggest::closest(key, &options::known_keys());
            let hint = suggestion
                .map(|k| format!(" (did you mean {k}?)"))
                .unwrap_or_default();
            let mut problem =
                Problem::new(Some(key), format!("{key}: unknown option ignored{hint}"));
            problem.suggestion = suggestion.map(str::to_string);
            config.warnings.push(problem);
        }
        // Other keys belong to the kernel or to other tools.
        return;
    };
    let kernel = option.is_kernel_option();
    let unusable = if token.invalid_utf8 {
        Some(format!("{key}: the value is not valid UTF-8 text"))
    } else if option.takes == Takes::Value {
        match token.value.as_deref() {
            None => Some(format!("{key}: needs a value ({key}=...)")),
            Some("") => Some(format!("{key}: empty value")),
            Some(_) => None,
        }
    } else {
        None
    };
    if source == Source::ExtraArgs && option.stage == Stage::Early {
        config.warnings.push(Problem::new(Some(name), format!(
            "{key}: no effect in the extra arguments (it acts before they are downloaded); put it on the kernel command line"
        )));
        return;
    }
    if let Some(msg) = unusable {
        if option.is_lenient() {
            fall_back(config, option, key, source, msg);
        } else if token.invalid_utf8 {
            let problem = Problem::new(Some(name), format!("{msg}; option ignored"));
            // A kernel option is never an error of ours.
            if kernel {
                config.warnings.push(problem);
            } else {
                config.errors.push(problem);
            }
        } else {
            config.errors.push(Problem::new(Some(name), msg));
        }
        return;
    }
    let mut report = Report::for_option(name);
    let given = Given {
        key,
        value: token.value.as_deref(),
        source,
    };
    (option.apply)(config, &given, &mut report);
    config.warnings.append(&mut report.warnings);
    if kernel {
        // A kernel option is never an error of ours.
        config.warnings.append(&mut report.errors);
    } else if option.is_lenient() {
        // The parser applied the fallback: say which.
        for mut problem in report.errors.drain(..) {
            problem.message = format!("{}; {}", problem.message, option.fallback);
            config.warnings.push(problem);
        }
    }
    config.errors.append(&mut report.errors);
}

/// A lenient option whose value cannot be used at all: a warning naming
/// the fallback, which its parser applies when given an empty value (every
/// lenient parser does: a test checks it). Its own messages about the empty
/// value are replaced by `msg`.
fn fall_back(config: &mut Config, option: &OptionSpec, key: &str, source: Source, msg: String) {
    let given = Given {
        key,
        value: Some(""),
        source,
    };
    (option.apply)(config, &given, &mut Report::default());
    config.warnings.push(Problem::new(
        Some(option.key),
        format!("{msg}; {}", option.fallback),
    ));
}

fn defined_list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        " (none is defined)".to_string()
    } else {
        format!(" (defined: {})", names.join(", "))
    }
}

/// Checks the cache device's filesystem and warns about a swap file
/// without a cache (both set up before the extra arguments are known).
fn check_cache_and_swap(config: &mut Config) {
    if let CacheDevice::Filesystem { name } = &config.cache_device {
        if !config.filesystems.iter().any(|f| f.name == *name) {
            let names: Vec<&str> = config.filesystems.iter().map(|f| f.name.as_str()).collect();
            let defined = defined_list(names.iter().copied());
            let fallback = options::lookup("b2c.cache_device").map_or("", |o| o.fallback);
            let mut problem = Problem::new(Some("b2c.cache_device"), format!(
                "b2c.cache_device: \"{name}\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line{defined}; {fallback}"
            ));
            problem.suggestion = suggest::closest(name, &names).map(str::to_string);
            config.warnings.push(problem);
            config.cache_device = CacheDevice::None;
        }
    }
    if let (
        Some(Swap {
            target: SwapTarget::File { .. },
            ..
        }),
        CacheDevice::None,
    ) = (&config.swap, &config.cache_device)
    {
        config.warnings.push(Problem::new(
            Some("b2c.swap"),
            "b2c.swap: a swap file needs a cache device, and b2c.cache_device is none: no swap",
        ));
    }
}

/// Errors for options that name another option that does not exist.
fn reference_errors(config: &Config) -> Vec<Problem> {
    let mut errors = Vec::new();
    let fs_names: Vec<&str> = config.filesystems.iter().map(|f| f.name.as_str()).collect();
    let aliases: Vec<&str> = config.minio.iter().map(|m| m.alias.as_str()).collect();
    let undefined = |option: &str, field: &str, name: &str, known: &[&str], msg: String| {
        let mut p = Problem::new(Some(option), msg).with_field(field);
        p.suggestion = suggest::closest(name, known).map(str::to_string);
        p
    };
    for v in &config.volumes {
        if let Some(fs) = &v.filesystem {
            if !fs_names.contains(&fs.as_str()) {
                let msg = format!(
                    "b2c.volume={}: filesystem \"{fs}\" is not defined by any b2c.filesystem{}",
                    v.name,
                    defined_list(fs_names.iter().copied())
                );
                errors.push(
                    undefined("b2c.volume", "filesystem", fs, &fs_names, msg)
                        .with_instance(&v.name),
                );
            }
        }
        for (field, loc) in v.locations() {
            if !aliases.contains(&loc.alias.as_str()) {
                let msg = format!(
                    "b2c.volume={}: {field} \"{loc}\" uses the alias \"{}\", which no b2c.minio defines{}",
                    v.name,
                    loc.alias,
                    defined_list(aliases.iter().copied())
                );
                errors.push(
                    undefined("b2c.volume", field, &loc.alias, &aliases, msg)
                        .with_instance(&v.name),
                );
            }
        }
    }
    for o in &config.storage {
        if o.key == "additionalimagestores"
            && !o.value.starts_with('/')
            && !fs_names.contains(&o.value.as_str())
        {
            let msg = format!(
                "b2c.storage: additionalimagestores \"{}\" is neither an absolute path nor a b2c.filesystem{}",
                o.value,
                defined_list(fs_names.iter().copied())
            );
            errors.push(undefined(
                "b2c.storage",
                "additionalimagestores",
                &o.value,
                &fs_names,
                msg,
            ));
        }
    }
    // Names and paths as written: shown escaped like every other message.
    for e in &mut errors {
        e.map_texts(escape_controls);
    }
    errors
}
