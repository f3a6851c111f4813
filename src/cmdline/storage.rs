//! Storage options: `b2c.cache_device`, `b2c.swap`, `b2c.filesystem`,
//! `b2c.nbd`, `b2c.storage`, `b2c.modules`, `b2c.insmods`.

use super::fields::{split_fields, FieldChecker, Report};
use super::network::leading_name;
use super::validate::{is_host, is_identifier, parse_size};
use serde::Serialize;

/// `b2c.cache_device`: where podman's storage lives.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum CacheDevice {
    /// `none` (the default): everything in RAM.
    #[default]
    None,
    /// `auto`: a B2C_CACHE partition, or a blank disk.
    Auto,
    /// `reset`: reformat the B2C_CACHE partition (or behave like `auto`).
    Reset,
    /// `/dev/...`: a disk or a partition.
    Device {
        /// The device path.
        path: String,
    },
    /// The name of a `b2c.filesystem` to mount at /storage.
    Filesystem {
        /// The filesystem's name.
        name: String,
    },
}

/// What `b2c.swap` swaps on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SwapTarget {
    /// A swap file of this many bytes on the cache.
    File {
        /// Size in bytes.
        size: u64,
    },
    /// A block device.
    Device {
        /// The device path.
        path: String,
    },
}

/// `b2c.swap=SIZE|/dev/DEVICE[,swappiness=N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Swap {
    /// File or device.
    pub target: SwapTarget,
    /// `vm.swappiness`, if given (0-200).
    pub swappiness: Option<u8>,
}

/// Smallest swap file accepted (1 MiB).
pub const SWAP_MIN: u64 = 1 << 20;
/// Largest swap file accepted (1 TiB).
pub const SWAP_MAX: u64 = 1 << 40;

/// `b2c.filesystem=NAME,src=SOURCE[,type=TYPE][,opts=A|B]`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Filesystem {
    /// The name other options refer to.
    pub name: String,
    /// The mount source (`w.fake:/web`, `/dev/sdb1`, ...).
    pub src: String,
    /// The filesystem type (`nfs`, `ext4`, ...), if given.
    #[serde(rename = "type")]
    pub fstype: Option<String>,
    /// Mount options, in order (a `password=` is masked when serialised).
    #[serde(serialize_with = "super::mask::serialize_mount_options")]
    pub opts: Vec<String>,
}

impl std::fmt::Debug for Filesystem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opts: Vec<String> = self
            .opts
            .iter()
            .map(|o| super::mask::mount_option(o))
            .collect();
        f.debug_struct("Filesystem")
            .field("name", &self.name)
            .field("src", &self.src)
            .field("fstype", &self.fstype)
            .field("opts", &opts)
            .finish()
    }
}

/// `b2c.nbd=/dev/nbdN,host=HOST,port=PORT[,name=EXPORT][,connections=N]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nbd {
    /// The device, `/dev/nbdN`.
    pub device: String,
    /// The server.
    pub host: String,
    /// The server's port (10809 when not given).
    pub port: u16,
    /// The export name, if given.
    pub name: Option<String>,
    /// Number of connections (1 when not given).
    pub connections: u32,
}

/// The NBD port registered with IANA, used when `port=` is not given.
pub const NBD_DEFAULT_PORT: u16 = 10809;

/// One `KEY=VALUE` of `b2c.storage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StorageOption {
    /// The containers-storage option, e.g. `additionalimagestores`.
    pub key: String,
    /// Its value.
    pub value: String,
}

fn is_device_path(s: &str) -> bool {
    s.strip_prefix("/dev/").is_some_and(|rest| {
        !rest.is_empty()
            && !rest.ends_with('/')
            && rest
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..")
            && rest.chars().all(|c| c.is_ascii_graphic() && c != ',')
    })
}

/// Parses `b2c.cache_device=none|auto|reset|/dev/...|FILESYSTEM_NAME`.
/// A filesystem name is checked against the `b2c.filesystem` list later.
pub(crate) fn parse_cache_device(
    key: &str,
    value: &str,
    report: &mut Report,
) -> Option<CacheDevice> {
    match value {
        "none" => Some(CacheDevice::None),
        "auto" => Some(CacheDevice::Auto),
        "reset" => Some(CacheDevice::Reset),
        dev if dev.starts_with('/') => {
            if is_device_path(dev) {
                Some(CacheDevice::Device {
                    path: dev.to_string(),
                })
            } else {
                report.error(format!(
                    "{key}: \"{dev}\" is not a device path (expected /dev/NAME)"
                ));
                None
            }
        }
        name if is_identifier(name) => Some(CacheDevice::Filesystem {
            name: name.to_string(),
        }),
        other => {
            report.error(format!(
                "{key}: \"{other}\" is not none, auto, reset, a /dev/ path or a b2c.filesystem name"
            ));
            None
        }
    }
}

pub(crate) const SWAP_FIELDS: &[&str] = &["swappiness"];

/// Parses `b2c.swap=SIZE[,swappiness=N]` or `b2c.swap=/dev/DEVICE[,swappiness=N]`.
pub(crate) fn parse_swap(key: &str, value: &str, report: &mut Report) -> Option<Swap> {
    let fields = split_fields(key, value, report);
    let first = leading_name(key, "size or device", &fields, report)?;
    let errors_before = report.errors.len();
    let target = if first.starts_with('/') {
        if !is_device_path(first) {
            report.error(format!(
                "{key}: \"{first}\" is not a device path (expected /dev/NAME)"
            ));
            return None;
        }
        SwapTarget::Device {
            path: first.to_string(),
        }
    } else {
        match parse_size(first) {
            Err(e) => {
                report.error(format!("{key}: size {e}"));
                return None;
            }
            Ok(size) if size < SWAP_MIN => {
                report.error(format!(
                    "{key}: size \"{first}\" is too small (at least 1M)"
                ));
                return None;
            }
            Ok(size) if size > SWAP_MAX => {
                report.error(format!("{key}: size \"{first}\" is too large (at most 1T)"));
                return None;
            }
            Ok(size) => SwapTarget::File { size },
        }
    };
    let mut check = FieldChecker::new(key, SWAP_FIELDS, false);
    let mut swappiness = None;
    for field in &fields[1..] {
        match field.name.as_str() {
            "swappiness" => {
                if !check.first_time(field, report) {
                    continue;
                }
                if let Some(v) = check.value(field, report) {
                    match v.parse::<u8>() {
                        Ok(n) if n <= 200 && v.chars().all(|c| c.is_ascii_digit()) => {
                            swappiness = Some(n)
                        }
                        _ => report.field("swappiness").error(format!(
                            "{key}: swappiness \"{v}\" is not a number from 0 to 200"
                        )),
                    }
                }
            }
            _ => check.unknown(field, report),
        }
    }
    (report.errors.len() == errors_before).then_some(Swap { target, swappiness })
}

pub(crate) const FILESYSTEM_FIELDS: &[&str] = &["src", "type", "opts", "opt"];

/// Parses `b2c.filesystem=NAME,src=SOURCE[,type=TYPE][,opts=A|B|C]` (`opt=` is `opts=`).
pub(crate) fn parse_filesystem(key: &str, value: &str, report: &mut Report) -> Option<Filesystem> {
    let fields = split_fields(key, value, report);
    let name = leading_name(key, "filesystem name", &fields, report)?;
    if !is_identifier(name) {
        report.error(format!(
            "{key}: \"{name}\" is not a valid filesystem name (letters, digits, '_', '-' and '.')"
        ));
        return None;
    }
    report.set_instance(name);
    let option = format!("{key}={name}");
    let mut check = FieldChecker::new(&option, FILESYSTEM_FIELDS, false);
    let errors_before = report.errors.len();
    let mut src = None;
    let mut fstype = None;
    let mut opts: Option<Vec<String>> = None;
    for field in &fields[1..] {
        match field.name.as_str() {
            "src" => {
                if check.first_time(field, report) {
                    src = check.value(field, report).map(str::to_string);
                }
            }
            "type" => {
                if !check.first_time(field, report) {
                    continue;
                }
                if let Some(v) = check.value(field, report) {
                    if v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
                    {
                        fstype = Some(v.to_string());
                    } else {
                        report
                            .field("type")
                            .error(format!("{option}: type \"{v}\" is not a filesystem type"));
                    }
                }
            }
            "opts" | "opt" => {
                if opts.is_some() {
                    report.field(&field.name).error(format!(
                        "{option}: mount options are given more than once (opts= and opt= are the same field)"
                    ));
                    continue;
                }
                if let Some(v) = check.value(field, report) {
                    let mut list = Vec::new();
                    for o in v.split('|').map(str::trim) {
                        if o.is_empty() {
                            report
                                .field(&field.name)
                                .warn(format!("{option}: empty mount option in \"{v}\" ignored"));
                        } else {
                            list.push(o.to_string());
                        }
                    }
                    opts = Some(list);
                }
            }
            _ => check.unknown(field, report),
        }
    }
    if report.errors.len() > errors_before {
        return None;
    }
    let Some(src) = src else {
        report.field("src").error(format!(
            "{option}: field \"src\" is missing (src=SOURCE is mandatory)"
        ));
        return None;
    };
    Some(Filesystem {
        name: name.to_string(),
        src,
        fstype,
        opts: opts.unwrap_or_default(),
    })
}

pub(crate) const NBD_FIELDS: &[&str] = &["host", "port", "name", "connections"];

/// Parses `b2c.nbd=/dev/nbdN,host=HOST,port=PORT[,name=EXPORT][,connections=N]`.
pub(crate) fn parse_nbd(key: &str, value: &str, report: &mut Report) -> Option<Nbd> {
    let fields = split_fields(key, value, report);
    let device = leading_name(key, "device", &fields, report)?;
    let valid_device = device
        .strip_prefix("/dev/nbd")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if !valid_device {
        report.error(format!(
            "{key}: \"{device}\" is not an NBD device (expected /dev/nbdN)"
        ));
        return None;
    }
    report.set_instance(device);
    let option = format!("{key}={device}");
    let mut check = FieldChecker::new(&option, NBD_FIELDS, false);
    let errors_before = report.errors.len();
    let mut nbd = Nbd {
        device: device.to_string(),
        host: String::new(),
        port: NBD_DEFAULT_PORT,
        name: None,
        connections: 1,
    };
    let mut host = None;
    for field in &fields[1..] {
        let name = field.name.as_str();
        if !NBD_FIELDS.contains(&name) {
            check.unknown(field, report);
            continue;
        }
        if !check.first_time(field, report) {
            continue;
        }
        let Some(v) = check.value(field, report) else {
            continue;
        };
        match name {
            "host" => {
                if is_host(v) {
                    host = Some(v.to_string());
                } else {
                    report.field(name).error(format!(
                        "{option}: host \"{v}\" is not a host name or IP address"
                    ));
                }
            }
            "port" => match v.parse::<u16>() {
                Ok(p) if p > 0 && v.chars().all(|c| c.is_ascii_digit()) => nbd.port = p,
                _ => report.field(name).error(format!(
                    "{option}: port \"{v}\" is not a number from 1 to 65535"
                )),
            },
            "name" => nbd.name = Some(v.to_string()),
            _ => match v.parse::<u32>() {
                Ok(n) if (1..=64).contains(&n) && v.chars().all(|c| c.is_ascii_digit()) => {
                    nbd.connections = n
                }
                _ => report.field(name).error(format!(
                    "{option}: connections \"{v}\" is not a number from 1 to 64"
                )),
            },
        }
    }
    if report.errors.len() > errors_before {
        return None;
    }
    nbd.host = check.required("host", host, report)?;
    Some(nbd)
}

/// Parses `b2c.storage=KEY=VALUE[,KEY=VALUE...]`. `additionalimagestores`
/// may be given more than once; other keys only once.
pub(crate) fn parse_storage(
    key: &str,
    value: &str,
    report: &mut Report,
) -> Option<Vec<StorageOption>> {
    let fields = split_fields(key, value, report);
    let errors_before = report.errors.len();
    let mut out: Vec<StorageOption> = Vec::new();
    for field in &fields {
        let name = field.name.as_str();
        let Some(v) = field.value.as_deref() else {
            report
                .field(name)
                .error(format!("{key}: \"{name}\" is not KEY=VALUE"));
            continue;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            report
                .field(name)
                .error(format!("{key}: \"{name}\" is not a storage option name"));
            continue;
        }
        if v.is_empty() {
            report
                .field(name)
                .error(format!("{key}: \"{name}\" has an empty value"));
            continue;
        }
        if name != "additionalimagestores" && out.iter().any(|o| o.key == name) {
            report
                .field(name)
                .error(format!("{key}: \"{name}\" is given more than once"));
            continue;
        }
        out.push(StorageOption {
            key: name.to_string(),
            value: v.to_string(),
        });
    }
    if out.is_empty() && report.errors.len() == errors_before {
        report.error(format!("{key}: no KEY=VALUE given"));
    }
    (report.errors.len() == errors_before).then_some(out)
}

/// Parses `b2c.modules=name,name`: kernel module names. A name that cannot
/// be one is an error (made a warning by the option table: it is skipped).
pub(crate) fn parse_modules(key: &str, value: &str, report: &mut Report) -> Vec<String> {
    let mut out = Vec::new();
    for f in split_fields(key, value, report) {
        let valid = f.raw.len() <= 56
            && f.raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            out.push(f.raw);
        } else {
            report.error(format!(
                "{key}: \"{}\" is not a module name (letters, digits, '_' and '-')",
                f.raw
            ));
        }
    }
    out
}

/// Parses `b2c.insmods=file,file`: module files for insmod. A name that
/// cannot be one is an error (made a warning by the option table: it is skipped).
pub(crate) fn parse_insmods(key: &str, value: &str, report: &mut Report) -> Vec<String> {
    let mut out = Vec::new();
    for f in split_fields(key, value, report) {
        if f.raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            report.error(format!("{key}: \"{}\" is not a module file name", f.raw));
        } else {
            out.push(f.raw);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(
        f: impl Fn(&str, &str, &mut Report) -> Option<T>,
        key: &str,
        v: &str,
    ) -> (Option<T>, Report) {
        let mut r = Report::default();
        (f(key, v, &mut r), r)
    }

    #[test]
    fn cache_device() {
        let k = "b2c.cache_device";
        assert_eq!(
            run(parse_cache_device, k, "none").0,
            Some(CacheDevice::None)
        );
        assert_eq!(
            run(parse_cache_device, k, "auto").0,
            Some(CacheDevice::Auto)
        );
        assert_eq!(
            run(parse_cache_device, k, "reset").0,
            Some(CacheDevice::Reset)
        );
        assert_eq!(
            run(parse_cache_device, k, "/dev/sda").0,
            Some(CacheDevice::Device {
                path: "/dev/sda".into()
            })
        );
        assert_eq!(
            run(parse_cache_device, k, "fs-cache").0,
            Some(CacheDevice::Filesystem {
                name: "fs-cache".into()
            })
        );
        let (c, r) = run(parse_cache_device, k, "/dev/");
        assert!(c.is_none());
        assert_eq!(
            r.errors,
            ["b2c.cache_device: \"/dev/\" is not a device path (expected /dev/NAME)"]
        );
        let (_, r) = run(parse_cache_device, k, "/tmp/x");
        assert!(r.errors[0].message.contains("not a device path"));
        let (_, r) = run(parse_cache_device, k, "a b");
        assert!(r.errors[0].message.contains("is not none, auto, reset"));
    }

    #[test]
    fn swap() {
        let k = "b2c.swap";
        let (s, r) = run(parse_swap, k, "8G");
        assert!(r.errors.is_empty());
        assert_eq!(
            s.unwrap(),
            Swap {
                target: SwapTarget::File { size: 8 << 30 },
                swappiness: None
            }
        );
        let (s, _) = run(parse_swap, k, "512M,swappiness=10");
        assert_eq!(
            s.unwrap(),
            Swap {
                target: SwapTarget::File { size: 512 << 20 },
                swappiness: Some(10)
            }
        );
        let (s, _) = run(parse_swap, k, "/dev/nbd0,swappiness=200");
        assert_eq!(
            s.unwrap(),
            Swap {
                target: SwapTarget::Device {
                    path: "/dev/nbd0".into()
                },
                swappiness: Some(200)
            }
        );
        let (s, r) = run(parse_swap, k, "8Q");
        assert!(s.is_none());
        assert_eq!(
            r.errors,
            ["b2c.swap: size \"8Q\" has an unknown unit \"Q\" (expected K, M, G or T)"]
        );
        assert_eq!(
            run(parse_swap, k, "100K").1.errors,
            ["b2c.swap: size \"100K\" is too small (at least 1M)"]
        );
        assert_eq!(
            run(parse_swap, k, "2T").1.errors,
            ["b2c.swap: size \"2T\" is too large (at most 1T)"]
        );
        assert!(run(parse_swap, k, "99999999999999999999G").1.errors[0]
            .message
            .contains("too large"));
        assert_eq!(
            run(parse_swap, k, "1G,swappiness=300").1.errors,
            ["b2c.swap: swappiness \"300\" is not a number from 0 to 200"]
        );
        assert!(run(parse_swap, k, "1G,swapiness=3").1.warnings[0]
            .message
            .contains("did you mean \"swappiness\""));
        assert!(run(parse_swap, k, "swappiness=3").1.errors[0]
            .message
            .contains("first field must be the size or device"));
    }

    #[test]
    fn filesystem() {
        let k = "b2c.filesystem";
        let (f, r) = run(
            parse_filesystem,
            k,
            "fs-web,type=nfs,src=w.fake:/web,opts=ro",
        );
        assert!(r.errors.is_empty() && r.warnings.is_empty());
        assert_eq!(
            f.unwrap(),
            Filesystem {
                name: "fs-web".into(),
                src: "w.fake:/web".into(),
                fstype: Some("nfs".into()),
                opts: vec!["ro".into()]
            }
        );
        let (f, _) = run(
            parse_filesystem,
            k,
            "n,src=10.0.2.2:/export,type=nfs4,opt=vers=4.2|nolock",
        );
        assert_eq!(f.unwrap().opts, ["vers=4.2", "nolock"]);
        let (f, r) = run(parse_filesystem, k, "fs-web,type=nfs");
        assert!(f.is_none());
        assert_eq!(
            r.errors,
            ["b2c.filesystem=fs-web: field \"src\" is missing (src=SOURCE is mandatory)"]
        );
        assert!(
            run(parse_filesystem, k, "x,src=a,opts=ro,opt=rw").1.errors[0]
                .message
                .contains("more than once")
        );
        assert!(run(parse_filesystem, k, "x,src=a,type=n f").1.errors[0]
            .message
            .contains("type \"n f\""));
        assert!(
            run(parse_filesystem, k, "x,src=a,opts=ro||rw").1.warnings[0]
                .message
                .contains("empty mount option")
        );
        assert!(run(parse_filesystem, k, "x/y,src=a").1.errors[0]
            .message
            .contains("not a valid filesystem name"));
    }

    #[test]
    fn nbd() {
        let k = "b2c.nbd";
        let (n, r) = run(
            parse_nbd,
            k,
            "/dev/nbd0,host=10.0.2.2,port=10809,name=disk,connections=4",
        );
        assert!(r.errors.is_empty());
        let n = n.unwrap();
        assert_eq!(n.connections, 4);
        assert_eq!(n.name.as_deref(), Some("disk"));
        let (n, _) = run(parse_nbd, k, "/dev/nbd1,host=srv");
        let n = n.unwrap();
        assert_eq!((n.port, n.connections), (NBD_DEFAULT_PORT, 1));
        assert_eq!(
            run(parse_nbd, k, "/dev/sda,host=x").1.errors,
            ["b2c.nbd: \"/dev/sda\" is not an NBD device (expected /dev/nbdN)"]
        );
        assert_eq!(
            run(parse_nbd, k, "/dev/nbd0").1.errors,
            ["b2c.nbd=/dev/nbd0: field \"host\" is missing"]
        );
        assert!(run(parse_nbd, k, "/dev/nbd0,host=x,port=0").1.errors[0]
            .message
            .contains("port \"0\""));
        assert!(run(parse_nbd, k, "/dev/nbd0,host=x,connections=100")
            .1
            .errors[0]
            .message
            .contains("connections \"100\""));
        assert!(
            run(parse_nbd, k, "/dev/nbd0,host=x,port=1,port=2").1.errors[0]
                .message
                .contains("more than once")
        );
    }

    #[test]
    fn storage() {
        let k = "b2c.storage";
        let (s, r) = run(
            parse_storage,
            k,
            "additionalimagestores=fs-images,additionalimagestores=/x,size=10G",
        );
        assert!(r.errors.is_empty());
        assert_eq!(s.unwrap().len(), 3);
        assert_eq!(
            run(parse_storage, k, "oops").1.errors,
            ["b2c.storage: \"oops\" is not KEY=VALUE"]
        );
        assert!(run(parse_storage, k, "size=1,size=2").1.errors[0]
            .message
            .contains("more than once"));
        assert!(run(parse_storage, k, "size=").1.errors[0]
            .message
            .contains("empty value"));
    }

    #[test]
    fn modules() {
        let list = |f: fn(&str, &str, &mut Report) -> Vec<String>, key: &str, v: &str| {
            let mut r = Report::default();
            (f(key, v, &mut r), r)
        };
        let (m, r) = list(parse_modules, "b2c.modules", "nbd, nfsv4 ,,");
        assert_eq!(m, ["nbd", "nfsv4"]);
        assert_eq!(
            r.warnings,
            ["b2c.modules: empty field (stray comma) ignored"]
        );
        // A bad name is skipped, the others are kept.
        let (m, r) = list(parse_modules, "b2c.modules", "nbd,a/b,vfat");
        assert_eq!(m, ["nbd", "vfat"]);
        assert_eq!(
            r.errors,
            ["b2c.modules: \"a/b\" is not a module name (letters, digits, '_' and '-')"]
        );
        let (m, _) = list(parse_insmods, "b2c.insmods", "/lib/modules/x.ko,y.ko");
        assert_eq!(m, ["/lib/modules/x.ko", "y.ko"]);
        let (m, r) = list(parse_insmods, "b2c.insmods", "a b.ko,y.ko");
        assert_eq!(m, ["y.ko"]);
        assert_eq!(
            r.errors,
            ["b2c.insmods: \"a b.ko\" is not a module file name"]
        );
    }
}
