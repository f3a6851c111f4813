//! Module parameters and blacklists from the kernel command line.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use super::canonical;

/// Module parameters and blacklists from the kernel command line, as the
/// kernel and modprobe read them: `MODULE.PARAM=VALUE`, or `MODULE.PARAM`
/// alone (a boolean), with `-` and `_` the same in both names; a value may be
/// double-quoted; the arguments after `--` belong to the init and are not
/// read. `modprobe.blacklist=A,B` and `module_blacklist=A,B` name modules
/// that coldplug does not load (a module named in `b2c.modules` still is,
/// as `modprobe NAME` still loads a blacklisted module).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CmdlineOptions {
    /// Canonical module name -> `PARAM[=VALUE]` in command-line order.
    params: BTreeMap<String, Vec<String>>,
    blacklist: BTreeSet<String>,
}

impl CmdlineOptions {
    /// Parses a kernel command line (pure; `/proc/cmdline`'s content).
    pub fn parse(cmdline: &str) -> CmdlineOptions {
        let mut options = CmdlineOptions::default();
        for token in kernel_args(cmdline) {
            if token == "--" {
                break;
            }
            // The kernel takes `"param=value"` as well as `param="value"`.
            let token = match token.strip_prefix('"') {
                Some(t) => t.strip_suffix('"').unwrap_or(t),
                None => token,
            };
            let (key, value) = match token.split_once('=') {
                Some((k, v)) => {
                    let v = v
                        .strip_prefix('"')
                        .map_or(v, |v| v.strip_suffix('"').unwrap_or(v));
                    (k, Some(v))
                }
                None => (token, None),
            };
            if key == "modprobe.blacklist" || key == "module_blacklist" {
                options.blacklist.extend(
                    value
                        .unwrap_or("")
                        .split(',')
                        .filter(|m| !m.is_empty())
                        .map(canonical),
                );
                continue;
            }
            let Some((module, param)) = key.split_once('.') else {
                continue;
            };
            let name_ok = |s: &str| {
                !s.is_empty()
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            };
            if !name_ok(module) || !name_ok(param) {
                continue;
            }
            let param = canonical(param);
            let option = match value {
                None => param,
                // The kernel's parser takes the quotes off again.
                Some(v) if v.contains(char::is_whitespace) => format!("{param}=\"{v}\""),
                Some(v) => format!("{param}={v}"),
            };
            options
                .params
                .entry(canonical(module))
                .or_default()
                .push(option);
        }
        options
    }

    /// The options of `/proc/cmdline` (none when it cannot be read).
    pub fn read() -> CmdlineOptions {
        fs::read_to_string("/proc/cmdline")
            .map(|s| CmdlineOptions::parse(&s))
            .unwrap_or_default()
    }

    /// The parameters for `module`, as `finit_module(2)` takes them
    /// (space-separated), or "" when the command line gives none.
    pub fn params(&self, module: &str) -> String {
        self.params
            .get(&canonical(module))
            .map(|p| p.join(" "))
            .unwrap_or_default()
    }

    /// True when the command line blacklists `module`.
    pub fn is_blacklisted(&self, module: &str) -> bool {
        self.blacklist.contains(&canonical(module))
    }
}

/// Splits a kernel command line as the kernel does: at spaces and tabs
/// outside double quotes, which stay in the words.
pub(super) fn kernel_args(cmdline: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in cmdline.char_indices() {
        if c.is_whitespace() && !quoted {
            if let Some(s) = start.take() {
                words.push(&cmdline[s..i]);
            }
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        words.push(&cmdline[s..]);
    }
    words
}
