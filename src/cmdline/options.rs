//! The option table: one entry per option, the single place that says which
//! keys exist, their legacy aliases, when they act, how repeated occurrences
//! combine, which function parses the value and which module acts on it.
//!
//! The parser ([`super::parse`]), the checker (`b2c check`, its text report
//! and `--list-options`) and the option reference (`docs/options.md`, checked
//! by a test against [`OPTIONS`]) all read this table.

use super::container::parse_container;
use super::fields::{parse_switch, Report};
use super::machine::{parse_command, parse_delay, parse_hostname, parse_keymap};
use super::network::{
    parse_iface, parse_kernel_ip, parse_login, parse_ntp_peer, parse_proxy, IFACE_FIELDS,
    LOGIN_FIELDS, PROXY_FIELDS,
};
use super::storage::{
    parse_cache_device, parse_filesystem, parse_insmods, parse_modules, parse_nbd, parse_storage,
    parse_swap, FILESYSTEM_FIELDS, NBD_FIELDS, SWAP_FIELDS,
};
use super::validate::Url;
use super::volume::{parse_minio, parse_volume, VOLUME_FIELDS};
use super::CacheDevice;

pub(crate) use super::spec::{Given, Source};
pub use super::spec::{Group, OptionSpec, Repeat, Stage, Takes};

/// The option `key` names (its key or an alias).
pub fn lookup(key: &str) -> Option<&'static OptionSpec> {
    OPTIONS
        .iter()
        .find(|o| o.key == key || o.aliases.contains(&key))
}

/// Every `b2c.` key and alias, for suggestions.
pub fn known_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = OPTIONS
        .iter()
        .filter(|o| !o.is_kernel_option())
        .map(|o| o.key)
        .collect();
    keys.extend(OPTIONS.iter().flat_map(|o| o.aliases.iter().copied()));
    keys
}

/// Replaces the entry with the same name (warning), or appends.
fn upsert<T>(list: &mut Vec<T>, item: T, name: impl Fn(&T) -> &str, key: &str, r: &mut Report) {
    let new_name = name(&item).to_string();
    if let Some(existing) = list.iter_mut().find(|x| name(x) == new_name) {
        r.warn(format!(
            "{key}={new_name}: defined again; this definition replaces the earlier one"
        ));
        *existing = item;
    } else {
        list.push(item);
    }
}

const PODMAN_FILES: &[&str] = &["src/pipeline.rs", "src/podman.rs"];

/// Every option, grouped as in the README.
pub static OPTIONS: &[OptionSpec] = &[
    OptionSpec {
        key: "b2c.run",
        aliases: &["b2c.container"],
        syntax: "b2c.run=ARGS",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Append,
        takes: Takes::Value,
        fields: &[],
        setting: "run",
        default: "",
        fallback: "",
        summary: "A pipeline container: `podman run` arguments (`[OPTIONS] IMAGE [COMMAND [ARG...]]`), run in order, attached to the console.",
        example: "b2c.run=\"-ti docker.io/alpine:3.20\"",
        parsed_in: "src/cmdline/container.rs",
        acted_on_in: PODMAN_FILES,
        apply: |c, g, r| c.run.extend(parse_container(g.key, g.text(), r)),
    },
    OptionSpec {
        key: "b2c.run_post",
        aliases: &["b2c.post_container"],
        syntax: "b2c.run_post=ARGS",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Append,
        takes: Takes::Value,
        fields: &[],
        setting: "run_post",
        default: "",
        fallback: "",
        summary: "A container run at the end whatever happened; its failures do not change the pipeline status.",
        example: "b2c.run_post=\"docker.io/alpine:3.20 echo done\"",
        parsed_in: "src/cmdline/container.rs",
        acted_on_in: PODMAN_FILES,
        apply: |c, g, r| c.run_post.extend(parse_container(g.key, g.text(), r)),
    },
    OptionSpec {
        key: "b2c.run_service",
        aliases: &["b2c.service"],
        syntax: "b2c.run_service=ARGS",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Append,
        takes: Takes::Value,
        fields: &[],
        setting: "run_service",
        default: "",
        fallback: "",
        summary: "A service container, started detached before the pipeline, stopped and removed at clean-up.",
        example: "b2c.run_service=\"docker.io/alpine:3.20 sleep 1d\"",
        parsed_in: "src/cmdline/container.rs",
        acted_on_in: PODMAN_FILES,
        apply: |c, g, r| c.run_service.extend(parse_container(g.key, g.text(), r)),
    },
    OptionSpec {
        key: "b2c.pipefail",
        aliases: &[],
        syntax: "b2c.pipefail[=1|0]",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::OptionalValue,
        fields: &[],
        setting: "pipefail",
        default: "off: every `b2c.run` container runs",
        fallback: "pipefail is off",
        summary: "Skip the remaining `b2c.run` containers after the first failure.",
        example: "b2c.pipefail",
        parsed_in: "src/cmdline/fields.rs",
        acted_on_in: &["src/pipeline.rs"],
        apply: |c, g, r| c.pipefail = parse_switch(g.key, g.value, r).unwrap_or(false),
    },
    OptionSpec {
        key: "b2c.login",
        aliases: &[],
        syntax: "b2c.login=[http://]REGISTRY,username=USER,password=PASSWORD",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::ByName,
        takes: Takes::Value,
        fields: LOGIN_FIELDS,
        setting: "logins",
        default: "",
        fallback: "",
        summary: "`podman login` to a registry before any pull (the password goes on standard input and is never printed).",
        example: "b2c.login=registry.fake,username=kovalsik,password=cacahuètes",
        parsed_in: "src/cmdline/network.rs",
        acted_on_in: &["src/podman.rs"],
        apply: |c, g, r| {
            if let Some(l) = parse_login(g.key, g.text(), r) {
                upsert(&mut c.logins, l, |l| &l.registry, g.key, r);
            }
        },
    },
    OptionSpec {
        key: "b2c.poweroff_delay",
        aliases: &[],
        syntax: "b2c.poweroff_delay=SECONDS",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "poweroff_delay",
        default: "0",
        fallback: "powering off without delay",
        summary: "Seconds to wait after `It's now safe to turn off your computer` before powering off (at most one day).",
        example: "b2c.poweroff_delay=15",
        parsed_in: "src/cmdline/machine.rs",
        acted_on_in: &["src/power.rs"],
        apply: |c, g, r| c.poweroff_delay = parse_delay(g.key, g.text(), r).unwrap_or_default(),
    },
    OptionSpec {
        key: "b2c.shutdown_cmd",
        aliases: &[],
        syntax: "b2c.shutdown_cmd=CMD",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "shutdown_cmd",
        default: "the init powers off itself",
        fallback: "the init powers off itself",
        summary: "A command run instead of the init's own power-off (split into words, never run by a shell).",
        example: "b2c.shutdown_cmd=\"/sbin/poweroff -f\"",
        parsed_in: "src/cmdline/machine.rs",
        acted_on_in: &["src/power.rs"],
        apply: |c, g, r| c.shutdown_cmd = parse_command(g.key, g.text(), r),
    },
    OptionSpec {
        key: "b2c.reboot_cmd",
        aliases: &[],
        syntax: "b2c.reboot_cmd=CMD",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "reboot_cmd",
        default: "the init reboots itself",
        fallback: "the init reboots itself",
        summary: "A command run instead of the init's own reboot (split into words, never run by a shell).",
        example: "b2c.reboot_cmd=\"/sbin/reboot -f\"",
        parsed_in: "src/cmdline/machine.rs",
        acted_on_in: &["src/power.rs"],
        apply: |c, g, r| c.reboot_cmd = parse_command(g.key, g.text(), r),
    },
    OptionSpec {
        key: "b2c.hostname",
        aliases: &[],
        syntax: "b2c.hostname=NAME",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "hostname",
        default: "boot2container",
        fallback: "the host name is boot2container",
        summary: "The kernel host name, written to /etc/hostname and /etc/hosts.",
        example: "b2c.hostname=plop",
        parsed_in: "src/cmdline/machine.rs",
        acted_on_in: &["src/system.rs"],
        apply: |c, g, r| c.hostname = parse_hostname(g.key, g.text(), r),
    },
    OptionSpec {
        key: "b2c.keymap",
        aliases: &[],
        syntax: "b2c.keymap=NAME",
        group: Group::Pipeline,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "keymap",
        default: "the kernel's built-in keymap",
        fallback: "the kernel's keymap is kept",
        summary: "Load this console keymap (Debian's console-data maps) with loadkeys; an unknown name is an error line listing close names, not fatal.",
        example: "b2c.keymap=fr",
        parsed_in: "src/cmdline/machine.rs",
        acted_on_in: &["src/keymap.rs"],
        apply: |c, g, r| c.keymap = parse_keymap(g.key, g.text(), r),
    },
    OptionSpec {
        key: "b2c.strict",
        aliases: &[],
        syntax: "b2c.strict[=1|0]",
        group: Group::Pipeline,
        stage: Stage::Early,
        repeat: Repeat::Last,
        takes: Takes::OptionalValue,
        fields: &[],
        setting: "strict",
        default: "off: a value the init can fall back from is a warning",
        fallback: "",
        summary: "Every warning about the options (unknown names, values replaced by a fallback) is an error: the pipeline does not run.",
        example: "b2c.strict",
        parsed_in: "src/cmdline/fields.rs",
        acted_on_in: &["src/cmdline/mod.rs"],
        apply: |c, g, r| {
            if let Some(on) = parse_switch(g.key, g.value, r) {
                c.strict = on;
            }
        },
    },
    OptionSpec {
        key: "b2c.iface",
        aliases: &[],
        syntax: "b2c.iface=NAME[,dhcp|auto][,address=CIDR][,gateway=IP][,nameserver=IP]...[,route=NET:GW]...[,forward]",
        group: Group::Network,
        stage: Stage::Early,
        repeat: Repeat::ByName,
        takes: Takes::Value,
        fields: IFACE_FIELDS,
        setting: "ifaces",
        default: "DHCP on every Ethernet interface",
        fallback: "",
        summary: "Configure these interfaces (DHCP, static addresses, routes, nameservers) instead of DHCP everywhere.",
        example: "b2c.iface=eth0,dhcp,nameserver=9.9.9.9",
        parsed_in: "src/cmdline/network.rs",
        acted_on_in: &["src/net/setup/iface.rs"],
        apply: |c, g, r| {
            if let Some(i) = parse_iface(g.key, g.text(), r) {
                upsert(&mut c.ifaces, i, |i| &i.name, g.key, r);
            }
        },
    },
    OptionSpec {
        key: "ip",
        aliases: &[],
        syntax: "ip=...",
        group: Group::Network,
        stage: Stage::Early,
        repeat: Repeat::Last,
        takes: Takes::OptionalValue,
        fields: &[],
        setting: "ip",
        default: "",
        fallback: "",
        summary: "The kernel's own option, applied by the init when the kernel did not (Debian's kernel has no IP autoconfiguration): DHCP or a static address, routes, DNS, host name.",
        example: "ip=dhcp",
        parsed_in: "src/cmdline/network.rs",
        acted_on_in: &["src/net/setup/ip.rs"],
        apply: |c, g, r| {
            // `ip` without `=` is not `ip=`.
            if let Some(ip) = g.value.and_then(|v| parse_kernel_ip(v, r)) {
                c.kernel_ip = Some(ip);
            }
        },
    },
    OptionSpec {
        key: "b2c.ntp_peer",
        aliases: &[],
        syntax: "b2c.ntp_peer=none|auto|HOST",
        group: Group::Network,
        stage: Stage::Early,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "ntp_peer",
        default: "none (a warning says the clock was not set)",
        fallback: "the clock is not set",
        summary: "Set the clock by SNTP (3 tries of 5 s; `auto`: the DHCP NTP server, else pool.ntp.org); a failure is a warning.",
        example: "b2c.ntp_peer=10.42.0.1",
        parsed_in: "src/cmdline/network.rs",
        acted_on_in: &["src/net/ntp.rs"],
        apply: |c, g, r| c.ntp_peer = parse_ntp_peer(g.key, g.text(), r).unwrap_or_default(),
    },
    OptionSpec {
        key: "b2c.extra_args_url",
        aliases: &[],
        syntax: "b2c.extra_args_url=URL",
        group: Group::Network,
        stage: Stage::Early,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "extra_args_url",
        default: "",
        fallback: "",
        summary: "Download more options (http, or https verified against the shipped CA bundle) once the network and the clock are set; a failed download runs no pipeline.",
        example: "b2c.extra_args_url=http://10.42.0.1/job/42/args",
        parsed_in: "src/cmdline/options.rs",
        acted_on_in: &["src/init.rs", "src/net/http.rs"],
        apply: |c, g, r| match Url::parse(g.text(), &["http", "https"]) {
            Ok(u) => c.extra_args_url = Some(u),
            Err(e) => r.error(format!("{}: the URL {e}", g.key)),
        },
    },
    OptionSpec {
        key: "b2c.proxy",
        aliases: &[],
        syntax: "b2c.proxy=https=URL[,http=URL][,no=HOST|HOST...]",
        group: Group::Network,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: PROXY_FIELDS,
        setting: "proxy",
        default: "no proxy",
        fallback: "",
        summary: "Proxies for podman's pulls and for the init's own HTTP.",
        example: "b2c.proxy=https=http://10.0.0.1:3128,no=10.42.0.1",
        parsed_in: "src/cmdline/network.rs",
        acted_on_in: &["src/podman.rs", "src/net/http.rs"],
        apply: |c, g, r| c.proxy = parse_proxy(g.key, g.text(), r).or(c.proxy.take()),
    },
    OptionSpec {
        key: "b2c.cache_device",
        aliases: &[],
        syntax: "b2c.cache_device=none|auto|reset|/dev/DISK|/dev/PART|FSNAME",
        group: Group::Storage,
        stage: Stage::Early,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &[],
        setting: "cache_device",
        default: "none: images and volumes live in RAM",
        fallback: "defaulting to none (images and volumes live in RAM)",
        summary: "The persistent cache: an ext4 filesystem labelled B2C_CACHE mounted at /storage, with podman's store and /var/tmp on it.",
        example: "b2c.cache_device=auto",
        parsed_in: "src/cmdline/storage.rs",
        acted_on_in: &["src/storage/cache.rs"],
        apply: |c, g, r| c.cache_device = parse_cache_device(g.key, g.text(), r).unwrap_or_default(),
    },
    OptionSpec {
        key: "b2c.swap",
        aliases: &[],
        syntax: "b2c.swap=SIZE|/dev/DEV[,swappiness=N]",
        group: Group::Storage,
        stage: Stage::Early,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: SWAP_FIELDS,
        setting: "swap",
        default: "no swap",
        fallback: "no swap",
        summary: "A swap file of SIZE on the cache (recreated at each boot), or swap on a device.",
        example: "b2c.swap=8G,swappiness=10",
        parsed_in: "src/cmdline/storage.rs",
        acted_on_in: &["src/storage/swap.rs"],
        apply: |c, g, r| c.swap = parse_swap(g.key, g.text(), r),
    },
    OptionSpec {
        key: "b2c.filesystem",
        aliases: &[],
        syntax: "b2c.filesystem=NAME,src=SOURCE[,type=TYPE][,opts=A|B...]",
        group: Group::Storage,
        stage: Stage::Late,
        repeat: Repeat::ByName,
        takes: Takes::Value,
        fields: FILESYSTEM_FIELDS,
        setting: "filesystems",
        default: "",
        fallback: "",
        summary: "A named mount (NFS through mount(2), or any local type), for `b2c.cache_device=NAME`, `b2c.volume=...,filesystem=NAME` and `b2c.storage`.",
        example: "b2c.filesystem=fs-web,type=nfs,src=w.fake:/web,opts=ro",
        parsed_in: "src/cmdline/storage.rs",
        acted_on_in: &["src/storage/mount.rs"],
        apply: |c, g, r| {
            let Some(f) = parse_filesystem(g.key, g.text(), r) else {
                return;
            };
            let for_cache =
                matches!(&c.cache_device, CacheDevice::Filesystem { name } if *name == f.name);
            if g.source == Source::ExtraArgs && for_cache {
                r.warn(format!(
                    "{}={}: no effect in the extra arguments: b2c.cache_device uses this filesystem and is set up before they are downloaded",
                    g.key, f.name
                ));
            } else {
                upsert(&mut c.filesystems, f, |f| &f.name, g.key, r);
            }
        },
    },
    OptionSpec {
        key: "b2c.nbd",
        aliases: &[],
        syntax: "b2c.nbd=/dev/nbdN,host=HOST,port=PORT[,name=EXPORT][,connections=N]",
        group: Group::Storage,
        stage: Stage::Early,
        repeat: Repeat::ByName,
        takes: Takes::Value,
        fields: NBD_FIELDS,
        setting: "nbd",
        default: "",
        fallback: "",
        summary: "Attach a network block device, usable as the cache or as swap.",
        example: "b2c.nbd=/dev/nbd0,host=10.42.0.1,port=10809",
        parsed_in: "src/cmdline/storage.rs",
        acted_on_in: &["src/storage/nbd.rs"],
        apply: |c, g, r| {
            if let Some(n) = parse_nbd(g.key, g.text(), r) {
                upsert(&mut c.nbds, n, |n| &n.device, g.key, r);
            }
        },
    },
    OptionSpec {
        key: "b2c.storage",
        aliases: &[],
        syntax: "b2c.storage=KEY=VALUE[,KEY=VALUE...]",
        group: Group::Storage,
        stage: Stage::Late,
        repeat: Repeat::Last,
        takes: Takes::Value,
        fields: &["additionalimagestores"],
        setting: "storage",
        default: "",
        fallback: "",
        summary: "containers-storage options; `additionalimagestores=FSNAME` mounts a `b2c.filesystem` read-only as a shared image store.",
        example: "b2c.storage=additionalimagestores=fs-web",
        parsed_in: "src/cmdline/storage.rs",
        acted_on_in: &["src/storage/podman_conf.rs"],
        apply: |c, g, r| {
            if let Some(s) = parse_storage(g.key, g.text(), r) {
                c.storage = s;
            }
        },
    },
    OptionSpec {
        key: "b2c.modules",
        aliases: &[],
        syntax: "b2c.modules=NAME[,NAME...]",
        group: Group::Modules,
        stage: Stage::Early,
        repeat: Repeat::Append,
        takes: Takes::Value,
        fields: &[],
        setting: "modules",
        default: "",
        fallback: "it is skipped",
        summary: "Load these kernel modules (dependencies resolved) after the coldplug.",
        example: "b2c.modules=nbd,vfat",
        parsed_in: "src/cmdline/storage.rs",
        acted_on_in: &["src/kmod/mod.rs"],
        apply: |c, g, r| c.modules.extend(parse_modules(g.key, g.text(), r)),
    },
    OptionSpec {
        key: "b2c.insmods",
        aliases: &[],
        syntax: "b2c.insmods=FILE[,FILE...]",
        group: Group::Modules,
        stage: Stage::Early,
        repeat: Repeat::Append,
        takes: Takes::Value,
        fields: &[],
        setting: "insmods",
        default: "",
        fallback: "it is skipped",
        summary: "Load these module files: a path, a file of /usr_mods (the original's folder), or a module file name (b2c compatibility).",
        example: "b2c.insmods=nbd.ko",
        parsed_in: "src/cmdline/storage.rs",
        acted_on_in: &["src/kmod/mod.rs"],
        apply: |c, g, r| c.insmods.extend(parse_insmods(g.key, g.text(), r)),
    },
    OptionSpec {
        key: "b2c.volume",
        aliases: &[],
        syntax: "b2c.volume=NAME[,FIELD...]",
        group: Group::Volumes,
        stage: Stage::Late,
        repeat: Repeat::ByName,
        takes: Takes::Value,
        fields: VOLUME_FIELDS,
        setting: "volumes",
        default: "",
        fallback: "",
        summary: "A podman volume created before the pipeline (labelled with its expiration), with a `b2c.filesystem` mounted on it, encrypted with fscrypt and mirrored to S3 if asked.",
        example: "b2c.volume=job,mirror=s3/jobs/42,pull_on=pipeline_start,push_on=changes,expiration=pipeline_end",
        parsed_in: "src/cmdline/volume.rs",
        acted_on_in: &["src/volumes.rs", "src/volumes/transfers.rs", "src/fscrypt/mod.rs"],
        apply: |c, g, r| {
            if let Some(v) = parse_volume(g.key, g.text(), r) {
                upsert(&mut c.volumes, v, |v| &v.name, g.key, r);
            }
        },
    },
    OptionSpec {
        key: "b2c.minio",
        aliases: &[],
        syntax: "b2c.minio=ALIAS,URL,ACCESS_KEY,SECRET_KEY",
        group: Group::Volumes,
        stage: Stage::Late,
        repeat: Repeat::ByName,
        takes: Takes::Value,
        fields: &[],
        setting: "minio",
        default: "",
        fallback: "",
        summary: "An S3-compatible endpoint that volumes name by its alias: path-style addressing, http or https, through `b2c.proxy`.",
        example: "b2c.minio=s3,http://10.42.0.1:9000,ACCESS,SECRET",
        parsed_in: "src/cmdline/volume.rs",
        acted_on_in: &["src/volumes/transfers.rs", "src/s3/mod.rs"],
        apply: |c, g, r| {
            if let Some(m) = parse_minio(g.key, g.text(), r) {
                upsert(&mut c.minio, m, |m| &m.alias, g.key, r);
            }
        },
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::{merge_extra_args, parse, Config};
    use std::path::Path;

    fn root() -> &'static Path {
        Path::new(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn keys_and_aliases_are_unique_and_found() {
        let mut all: Vec<&str> = OPTIONS.iter().map(|o| o.key).collect();
        all.extend(OPTIONS.iter().flat_map(|o| o.aliases.iter().copied()));
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len(), "a key is given twice: {all:?}");
        for key in all {
            assert!(lookup(key).is_some(), "{key}");
        }
        assert_eq!(lookup("b2c.container").map(|o| o.key), Some("b2c.run"));
        assert!(lookup("b2c.nope").is_none());
        assert!(!known_keys().contains(&"ip"));
    }

    #[test]
    fn examples_are_valid_together() {
        let line: Vec<&str> = OPTIONS.iter().map(|o| o.example).collect();
        let mut c = parse(line.join(" ").as_bytes());
        // b2c.extra_args_url defers the references: check them now.
        merge_extra_args(&mut c, b"");
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        for o in OPTIONS {
            assert!(
                o.example.starts_with(&format!("{}=", o.key)) || o.example == o.key,
                "{}: example {}",
                o.key,
                o.example
            );
            assert!(o.syntax.starts_with(o.key), "{}", o.key);
        }
    }

    /// `repeat` says what giving an option twice does: check it on each
    /// option's own example.
    #[test]
    fn repeat_is_what_the_parser_does() {
        for o in OPTIONS {
            let once = parse(o.example.as_bytes());
            let twice = parse(format!("{0} {0}", o.example).as_bytes());
            // (Errors of references to other options are the same.)
            assert_eq!(once.errors, twice.errors, "{}", o.key);
            match o.repeat {
                Repeat::Last => assert_eq!(once, twice, "{}", o.key),
                Repeat::Append => assert_ne!(once, twice, "{}", o.key),
                Repeat::ByName => {
                    let mut twice = twice.clone();
                    let before = twice.warnings.len();
                    twice
                        .warnings
                        .retain(|w| !w.message.contains("defined again"));
                    assert_eq!(before, twice.warnings.len() + 1, "{}", o.key);
                    assert_eq!(once, twice, "{}", o.key);
                }
            }
        }
    }

    /// `stage` says whether the extra arguments may give an option, and
    /// `takes` whether it may come without a value.
    #[test]
    fn stage_and_takes_are_what_the_parser_does() {
        for o in OPTIONS {
            let mut c = parse(b"");
            merge_extra_args(&mut c, o.example.as_bytes());
            let ignored = c
                .warnings
                .iter()
                .any(|w| w.message.contains("no effect in the extra arguments"));
            assert_eq!(ignored, o.stage == Stage::Early, "{}", o.key);
            let bare = parse(o.key.as_bytes());
            // A lenient option without a value falls back, with a warning.
            let problems = if o.is_lenient() {
                assert!(bare.errors.is_empty(), "{}: {:?}", o.key, bare.errors);
                &bare.warnings
            } else {
                &bare.errors
            };
            let needs = problems.iter().any(|e| {
                e.message
                    == format!(
                        "{0}: needs a value ({0}=...){1}",
                        o.key,
                        if o.is_lenient() {
                            format!("; {}", o.fallback)
                        } else {
                            String::new()
                        }
                    )
            });
            assert_eq!(needs, o.takes == Takes::Value, "{}", o.key);
        }
    }

    /// A lenient option's fallback is what its parser gives for an empty
    /// value (the dispatcher relies on it for values it cannot pass on): a
    /// warning naming the fallback and no error; the setting is then as if
    /// the option had not been given (as if this occurrence had not, for a
    /// repeatable one), whatever an earlier occurrence set.
    #[test]
    fn lenient_options_fall_back_on_an_empty_value() {
        let default = serde_json::to_value(Config::default()).unwrap();
        for o in OPTIONS.iter().filter(|o| o.is_lenient()) {
            let c = parse(format!("{} {}=", o.example, o.key).as_bytes());
            assert!(c.errors.is_empty(), "{}: {:?}", o.key, c.errors);
            assert_eq!(c.warnings.len(), 1, "{}: {:?}", o.key, c.warnings);
            assert!(
                c.warnings[0]
                    .message
                    .ends_with(&format!("; {}", o.fallback)),
                "{}",
                o.key
            );
            assert_eq!(c.warnings[0].option.as_deref(), Some(o.key));
            let setting = serde_json::to_value(&c).unwrap()[o.setting].clone();
            let expected = match o.repeat {
                Repeat::Append => {
                    serde_json::to_value(parse(o.example.as_bytes())).unwrap()[o.setting].clone()
                }
                _ => default[o.setting].clone(),
            };
            assert_eq!(setting, expected, "{}", o.key);
        }
        // The options the original boot2container ran whatever their value.
        let lenient: Vec<&str> = OPTIONS
            .iter()
            .filter(|o| o.is_lenient())
            .map(|o| o.key)
            .collect();
        assert_eq!(
            lenient,
            [
                "b2c.pipefail",
                "b2c.poweroff_delay",
                "b2c.shutdown_cmd",
                "b2c.reboot_cmd",
                "b2c.hostname",
                "b2c.keymap",
                "b2c.ntp_peer",
                "b2c.cache_device",
                "b2c.swap",
                "b2c.modules",
                "b2c.insmods",
            ]
        );
    }

    #[test]
    fn the_files_named_exist() {
        for o in OPTIONS {
            for file in std::iter::once(&o.parsed_in).chain(o.acted_on_in) {
                assert!(root().join(file).is_file(), "{}: {file}", o.key);
            }
        }
    }

    /// docs/options.md holds, for every option, the block its table entry
    /// gives (a failure prints the block to paste), and names each field.
    #[test]
    fn the_reference_matches_the_table() {
        let path = root().join("docs/options.md");
        let doc = std::fs::read_to_string(&path).unwrap_or_default();
        let mut missing = Vec::new();
        for o in OPTIONS {
            let block = o.reference_block();
            let Some(at) = doc.find(&block) else {
                missing.push(block);
                continue;
            };
            let section = &doc[at + block.len()..];
            let section = &section[..section.find("\n### ").unwrap_or(section.len())];
            for field in o.fields {
                assert!(
                    section.contains(&format!("`{field}`"))
                        || section.contains(&format!("`{field}=")),
                    "docs/options.md, {}: the field {field} is not described",
                    o.key
                );
            }
        }
        assert!(
            missing.is_empty(),
            "{} lacks these blocks (or they differ from the option table):\n\n{}",
            path.display(),
            missing.join("\n")
        );
        for line in doc.lines().filter(|l| l.starts_with("### `")) {
            let key = line.trim_start_matches("### `").trim_end_matches('`');
            assert!(
                lookup(key).is_some(),
                "docs/options.md documents an unknown option {key}"
            );
        }
    }

    /// The README's option tables name every option, and only those.
    #[test]
    fn the_readme_tables_match_the_table() {
        let readme = std::fs::read_to_string(root().join("README.md")).unwrap_or_default();
        let rows: Vec<&str> = readme
            .lines()
            .filter(|l| l.starts_with("| `b2c.") || l.starts_with("| `ip="))
            .collect();
        for o in OPTIONS {
            let row = rows.iter().find(|r| {
                r.starts_with(&format!("| `{}=", o.key)) || r.starts_with(&format!("| `{}`", o.key))
            });
            let Some(row) = row else {
                panic!("README.md has no table row for {}", o.key);
            };
            for alias in o.aliases {
                assert!(
                    row.contains(&format!("`{alias}`")),
                    "README.md, {}: alias {alias}",
                    o.key
                );
            }
            let says_repeatable = row.contains("repeatable");
            assert_eq!(
                says_repeatable,
                o.repeat != Repeat::Last,
                "README.md, {}: repeatable?",
                o.key
            );
        }
        for row in rows {
            let key = row
                .trim_start_matches("| `")
                .split(['=', '`'])
                .next()
                .unwrap_or_default();
            assert!(
                lookup(key).is_some(),
                "README.md documents an unknown option {key}"
            );
        }
    }
}
