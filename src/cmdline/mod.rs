//! The kernel command line: tokenising and parsing `b2c.*` options (SPEC sections 1-5).
//!
//! Everything here is pure: [`parse`] takes the bytes of `/proc/cmdline` and
//! returns a [`Config`]; [`merge_extra_args`] adds the options of a
//! downloaded extra-args file. Problems never panic and never stop the
//! parse: they are collected as plain messages in [`Config::warnings`] and
//! [`Config::errors`], each naming the option (and field) concerned, and
//! none of them ever contains a secret.

mod fields;
mod network;
mod secret;
mod storage;
mod suggest;
mod tokenize;
mod validate;
mod volume;
mod words;

#[cfg(test)]
mod tests;

pub use network::{Iface, Login, NtpPeer, Proxy, Route};
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
use serde::Serialize;

/// One container of the pipeline, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ContainerSpec {
    /// The option's value as written (after tokenising).
    pub source: String,
    /// The user's `podman run` arguments, split like a POSIX shell would.
    pub args: Vec<String>,
}

/// The typed configuration read from the command line (and the extra-args file).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Config {
    /// `b2c.run` (alias `b2c.container`), in order.
    pub run: Vec<ContainerSpec>,
    /// `b2c.run_post` (alias `b2c.post_container`), in order.
    pub run_post: Vec<ContainerSpec>,
    /// `b2c.run_service` (alias `b2c.service`), in order.
    pub run_service: Vec<ContainerSpec>,
    /// `b2c.pipefail`: skip the remaining `b2c.run` containers after a failure.
    pub pipefail: bool,
    /// `b2c.poweroff_delay`: seconds to wait before powering off.
    pub poweroff_delay: u64,
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
    pub nbds: Vec<Nbd>,
    /// `b2c.modules`: module names, every occurrence appended.
    pub modules: Vec<String>,
    /// `b2c.insmods`: module files, every occurrence appended.
    pub insmods: Vec<String>,
    /// `b2c.iface`, one per interface.
    pub ifaces: Vec<Iface>,
    /// The kernel's `ip=` value, kept as written (the kernel acted on it).
    pub kernel_ip: Option<String>,
    /// `b2c.minio`, one per alias.
    pub minio: Vec<Minio>,
    /// `b2c.volume`, one per name.
    pub volumes: Vec<Volume>,
    /// Warnings, already masked: no secret appears here.
    pub warnings: Vec<String>,
    /// Errors, already masked.
    pub errors: Vec<String>,
}

/// Every `b2c.` key the parser knows, aliases included.
pub const KNOWN_KEYS: &[&str] = &[
    "b2c.run",
    "b2c.run_post",
    "b2c.run_service",
    "b2c.container",
    "b2c.post_container",
    "b2c.service",
    "b2c.pipefail",
    "b2c.poweroff_delay",
    "b2c.shutdown_cmd",
    "b2c.reboot_cmd",
    "b2c.hostname",
    "b2c.keymap",
    "b2c.ntp_peer",
    "b2c.extra_args_url",
    "b2c.proxy",
    "b2c.login",
    "b2c.storage",
    "b2c.cache_device",
    "b2c.swap",
    "b2c.filesystem",
    "b2c.nbd",
    "b2c.modules",
    "b2c.insmods",
    "b2c.iface",
    "b2c.minio",
    "b2c.volume",
];

/// Options that act before the extra-args file is downloaded: they have no
/// effect there. (`b2c.filesystem` too, but only for the cache device's.)
pub const EARLY_KEYS: &[&str] = &[
    "b2c.modules",
    "b2c.insmods",
    "b2c.cache_device",
    "b2c.swap",
    "b2c.iface",
    "b2c.ntp_peer",
    "b2c.extra_args_url",
    "b2c.nbd",
    "ip",
];

/// The largest `b2c.poweroff_delay` accepted: one day.
pub const POWEROFF_DELAY_MAX: u64 = 86_400;

/// The canonical name of a key: legacy aliases map to their new name.
pub fn canonical_key(key: &str) -> &str {
    match key {
        "b2c.container" => "b2c.run",
        "b2c.post_container" => "b2c.run_post",
        "b2c.service" => "b2c.run_service",
        other => other,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Cmdline,
    ExtraArgs,
}

impl Source {
    fn describe(self) -> &'static str {
        match self {
            Source::Cmdline => "command line",
            Source::ExtraArgs => "extra arguments",
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
        config.warnings.push(format!(
            "b2c.extra_args_url: {foreign} word(s) of the extra arguments are not b2c options and are ignored (not shown)"
        ));
    }
    let errors = reference_errors(config);
    config.errors.extend(errors);
}

/// True for a token whose key may be shown in messages: a `b2c.` option or
/// `ip`. Other words could be pieces of a badly quoted secret.
fn is_option_name(token: &Token) -> bool {
    token.key.starts_with("b2c.") || token.key == "ip"
}

fn apply(config: &mut Config, token: &Token, source: Source) {
    let (warnings, errors) = (config.warnings.len(), config.errors.len());
    apply_token(config, token, source);
    for msg in config.warnings[warnings..]
        .iter_mut()
        .chain(config.errors[errors..].iter_mut())
    {
        if msg.chars().any(char::is_control) {
            *msg = escape_controls(msg);
        }
    }
}

/// Messages go to a console: control characters from the command line
/// (escape sequences, carriage returns) are shown escaped, never sent.
fn escape_controls(msg: &str) -> String {
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
    if token.unbalanced_quote {
        let where_ = source.describe();
        config.warnings.push(if is_option_name(token) {
            format!("{key}: unbalanced double quote: the rest of the {where_} is taken as its value")
        } else {
            // A bare word could be a piece of a badly quoted secret: not shown.
            format!("unbalanced double quote in a word of the {where_} (not shown): the rest of the {where_} is part of it")
        });
    }
    let is_ip = key == "ip";
    if !is_ip && !key.starts_with("b2c.") {
        return;
    }
    let canonical = canonical_key(key);
    if !is_ip && !KNOWN_KEYS.contains(&canonical) {
        let hint = suggest::closest(key, KNOWN_KEYS)
            .map(|k| format!(" (did you mean {k}?)"))
            .unwrap_or_default();
        config
            .warnings
            .push(format!("{key}: unknown option ignored{hint}"));
        return;
    }
    if token.invalid_utf8 {
        let msg = format!("{key}: the value is not valid UTF-8 text; option ignored");
        if is_ip {
            config.warnings.push(msg);
        } else {
            config.errors.push(msg);
        }
        return;
    }
    if source == Source::ExtraArgs && EARLY_KEYS.contains(&canonical) {
        config.warnings.push(format!(
            "{key}: no effect in the extra arguments (it acts before they are downloaded); put it on the kernel command line"
        ));
        return;
    }
    if is_ip {
        // A kernel option: never an error of ours. `ip` without `=` is not `ip=`.
        let mut report = Report::default();
        if let Some(value) = token.value.as_deref() {
            if let Some(ip) = network::parse_kernel_ip(value, &mut report) {
                config.kernel_ip = Some(ip);
            }
        }
        config.warnings.append(&mut report.warnings);
        return;
    }
    if canonical == "b2c.pipefail" {
        apply_pipefail(config, key, token.value.as_deref());
        return;
    }
    let value = match token.value.as_deref() {
        None => {
            config
                .errors
                .push(format!("{key}: needs a value ({key}=...)"));
            return;
        }
        Some("") => {
            config.errors.push(format!("{key}: empty value"));
            return;
        }
        Some(v) => v,
    };
    let mut report = Report::default();
    apply_value(config, key, canonical, value, source, &mut report);
    config.warnings.append(&mut report.warnings);
    config.errors.append(&mut report.errors);
}

fn apply_pipefail(config: &mut Config, key: &str, value: Option<&str>) {
    match value {
        None | Some("1" | "true" | "yes" | "on") => config.pipefail = true,
        Some("0" | "false" | "no" | "off") => config.pipefail = false,
        Some(other) => config.errors.push(format!(
            "{key}: \"{other}\" is not a boolean (write {key} alone, or {key}=1 / {key}=0)"
        )),
    }
}

/// Replaces the entry with the same name (warning), or appends.
fn upsert<T>(
    list: &mut Vec<T>,
    item: T,
    name: impl Fn(&T) -> &str,
    option: &str,
    report: &mut Report,
) {
    let new_name = name(&item).to_string();
    if let Some(existing) = list.iter_mut().find(|x| name(x) == new_name) {
        report.warn(format!(
            "{option}={new_name}: defined again; this definition replaces the earlier one"
        ));
        *existing = item;
    } else {
        list.push(item);
    }
}

fn apply_value(
    config: &mut Config,
    key: &str,
    canonical: &str,
    value: &str,
    source: Source,
    report: &mut Report,
) {
    match canonical {
        "b2c.run" | "b2c.run_post" | "b2c.run_service" => {
            if let Some(spec) = parse_container(key, value, report) {
                match canonical {
                    "b2c.run" => config.run.push(spec),
                    "b2c.run_post" => config.run_post.push(spec),
                    _ => config.run_service.push(spec),
                }
            }
        }
        "b2c.poweroff_delay" => {
            if let Some(d) = parse_delay(key, value, report) {
                config.poweroff_delay = d;
            }
        }
        "b2c.shutdown_cmd" | "b2c.reboot_cmd" => {
            if let Some(words) = parse_command(key, value, report) {
                if canonical == "b2c.shutdown_cmd" {
                    config.shutdown_cmd = Some(words);
                } else {
                    config.reboot_cmd = Some(words);
                }
            }
        }
        "b2c.hostname" => match validate::check_hostname(value) {
            Ok(()) => config.hostname = Some(value.to_string()),
            Err(e) => report.error(format!("{key}: {e}")),
        },
        "b2c.keymap" => {
            if validate::is_identifier(value) {
                config.keymap = Some(value.to_string());
            } else {
                report.error(format!(
                    "{key}: \"{value}\" is not a keymap name (letters, digits, '_', '-' and '.', like fr, us or de-latin1)"
                ));
            }
        }
        "b2c.ntp_peer" => {
            if let Some(p) = network::parse_ntp_peer(key, value, report) {
                config.ntp_peer = p;
            }
        }
        "b2c.extra_args_url" => match Url::parse(value, &["http", "https"]) {
            Ok(u) => config.extra_args_url = Some(u),
            Err(e) => report.error(format!("{key}: the URL {e}")),
        },
        "b2c.proxy" => {
            if let Some(p) = network::parse_proxy(key, value, report) {
                config.proxy = Some(p);
            }
        }
        "b2c.login" => {
            if let Some(l) = network::parse_login(key, value, report) {
                upsert(&mut config.logins, l, |l| &l.registry, key, report);
            }
        }
        "b2c.storage" => {
            if let Some(s) = storage::parse_storage(key, value, report) {
                config.storage = s;
            }
        }
        "b2c.cache_device" => {
            if let Some(c) = storage::parse_cache_device(key, value, report) {
                config.cache_device = c;
            }
        }
        "b2c.swap" => {
            if let Some(s) = storage::parse_swap(key, value, report) {
                config.swap = Some(s);
            }
        }
        "b2c.filesystem" => {
            if let Some(f) = storage::parse_filesystem(key, value, report) {
                let for_cache = matches!(&config.cache_device, CacheDevice::Filesystem { name } if *name == f.name);
                if source == Source::ExtraArgs && for_cache {
                    report.warn(format!(
                        "{key}={}: no effect in the extra arguments: b2c.cache_device uses this filesystem and is set up before they are downloaded",
                        f.name
                    ));
                } else {
                    upsert(&mut config.filesystems, f, |f| &f.name, key, report);
                }
            }
        }
        "b2c.nbd" => {
            if let Some(n) = storage::parse_nbd(key, value, report) {
                upsert(&mut config.nbds, n, |n| &n.device, key, report);
            }
        }
        "b2c.modules" => {
            if let Some(m) = storage::parse_modules(key, value, report) {
                config.modules.extend(m);
            }
        }
        "b2c.insmods" => {
            if let Some(m) = storage::parse_insmods(key, value, report) {
                config.insmods.extend(m);
            }
        }
        "b2c.iface" => {
            if let Some(i) = network::parse_iface(key, value, report) {
                upsert(&mut config.ifaces, i, |i| &i.name, key, report);
            }
        }
        "b2c.minio" => {
            if let Some(m) = volume::parse_minio(key, value, report) {
                upsert(&mut config.minio, m, |m| &m.alias, key, report);
            }
        }
        "b2c.volume" => {
            if let Some(v) = volume::parse_volume(key, value, report) {
                upsert(&mut config.volumes, v, |v| &v.name, key, report);
            }
        }
        // Unreachable for keys of KNOWN_KEYS; kept so that a new key without a
        // parser is reported rather than silently dropped.
        other => report.warn(format!("{other}: not supported yet, ignored")),
    }
}

fn parse_container(key: &str, value: &str, report: &mut Report) -> Option<ContainerSpec> {
    const USAGE: &str = "expected [PODMAN OPTIONS] IMAGE [COMMAND [ARG...]]";
    match split_words(value) {
        Err(e) => {
            report.error(format!("{key}: {e} in \"{value}\""));
            None
        }
        Ok(args) if args.is_empty() => {
            report.error(format!("{key}: no podman run arguments ({USAGE})"));
            None
        }
        Ok(args) => {
            // podman's options are ASCII: probe with other characters masked,
            // then refuse a non-ASCII word where an option is expected.
            let probe: Vec<String> = args
                .iter()
                .map(|w| {
                    w.chars()
                        .map(|c| if c.is_ascii() { c } else { '?' })
                        .collect()
                })
                .collect();
            let Some(image) = crate::podman::image_index(&probe) else {
                report.error(format!("{key}: no image in \"{value}\" ({USAGE})"));
                return None;
            };
            if let Some(bad) = args[..image]
                .iter()
                .find(|w| w.starts_with('-') && !w.is_ascii())
            {
                report.error(format!(
                    "{key}: \"{bad}\" is not a podman option (they are ASCII) in \"{value}\""
                ));
                return None;
            }
            Some(ContainerSpec {
                source: value.to_string(),
                args,
            })
        }
    }
}

fn parse_delay(key: &str, value: &str, report: &mut Report) -> Option<u64> {
    if !value.chars().all(|c| c.is_ascii_digit()) {
        report.error(format!(
            "{key}: \"{value}\" is not a whole number of seconds"
        ));
        return None;
    }
    match value.parse::<u64>() {
        Ok(d) if d <= POWEROFF_DELAY_MAX => Some(d),
        _ => {
            report.error(format!(
                "{key}: \"{value}\" seconds is too long (at most {POWEROFF_DELAY_MAX}, one day)"
            ));
            None
        }
    }
}

fn parse_command(key: &str, value: &str, report: &mut Report) -> Option<Vec<String>> {
    match split_words(value) {
        Err(e) => {
            report.error(format!("{key}: {e} in \"{value}\""));
            None
        }
        Ok(words) if words.is_empty() => {
            report.error(format!("{key}: no command given"));
            None
        }
        Ok(words) => Some(words),
    }
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
            let defined = defined_list(config.filesystems.iter().map(|f| f.name.as_str()));
            config.errors.push(format!(
                "b2c.cache_device: \"{name}\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line{defined}"
            ));
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
        config.warnings.push(
            "b2c.swap: a swap file needs a cache device, and b2c.cache_device is none: no swap"
                .to_string(),
        );
    }
}

/// Errors for options that name another option that does not exist.
fn reference_errors(config: &Config) -> Vec<String> {
    let mut errors = Vec::new();
    let fs_names = || config.filesystems.iter().map(|f| f.name.as_str());
    let has_fs = |n: &str| config.filesystems.iter().any(|f| f.name == n);
    for v in &config.volumes {
        if let Some(fs) = &v.filesystem {
            if !has_fs(fs) {
                errors.push(format!(
                    "b2c.volume={}: filesystem \"{fs}\" is not defined by any b2c.filesystem{}",
                    v.name,
                    defined_list(fs_names())
                ));
            }
        }
        for (field, loc) in v.locations() {
            if !config.minio.iter().any(|m| m.alias == loc.alias) {
                errors.push(format!(
                    "b2c.volume={}: {field} \"{loc}\" uses the alias \"{}\", which no b2c.minio defines{}",
                    v.name,
                    loc.alias,
                    defined_list(config.minio.iter().map(|m| m.alias.as_str()))
                ));
            }
        }
    }
    for o in &config.storage {
        if o.key == "additionalimagestores" && !o.value.starts_with('/') && !has_fs(&o.value) {
            errors.push(format!(
                "b2c.storage: additionalimagestores \"{}\" is neither an absolute path nor a b2c.filesystem{}",
                o.value,
                defined_list(fs_names())
            ));
        }
    }
    errors
}
