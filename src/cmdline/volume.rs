//! `b2c.minio` (S3 endpoints) and `b2c.volume` (docs/options.md).

use super::fields::{split_fields, FieldChecker, Report};
use super::network::leading_name;
use super::secret::Secret;
use super::suggest::closest;
use super::validate::{decode_base64, is_identifier, Url};
use serde::Serialize;
use std::fmt;

/// `b2c.minio=ALIAS,URL,ACCESS_KEY,SECRET_KEY`: an S3-compatible endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Minio {
    /// The name volumes use to refer to it.
    pub alias: String,
    /// The endpoint, `http://` or `https://`.
    pub url: Url,
    /// The access key (never printed).
    pub access_key: Secret,
    /// The secret key (never printed).
    pub secret_key: Secret,
}

/// A place in an S3 endpoint: `ALIAS/BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    /// The `b2c.minio` alias.
    pub alias: String,
    /// The bucket.
    pub bucket: String,
    /// The prefix inside the bucket, without leading or trailing `/`.
    pub prefix: Option<String>,
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.alias, self.bucket)?;
        if let Some(p) = &self.prefix {
            write!(f, "/{p}")?;
        }
        Ok(())
    }
}

impl Serialize for S3Location {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl S3Location {
    /// Parses `ALIAS/BUCKET[/PREFIX]`.
    pub fn parse(s: &str) -> Result<S3Location, String> {
        let mut parts = s.splitn(3, '/');
        let alias = parts.next().unwrap_or_default();
        let bucket = parts.next().unwrap_or_default();
        let prefix = parts
            .next()
            .map(|p| p.trim_matches('/'))
            .filter(|p| !p.is_empty());
        if alias.is_empty() || bucket.is_empty() {
            return Err(format!("\"{s}\" is not ALIAS/BUCKET[/PREFIX]"));
        }
        if !is_identifier(alias) {
            return Err(format!("\"{s}\": \"{alias}\" is not a valid alias"));
        }
        let bucket_ok = bucket.len() <= 63
            && bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !bucket_ok {
            return Err(format!("\"{s}\": \"{bucket}\" is not a valid bucket name"));
        }
        if let Some(p) = prefix {
            if p.chars().any(|c| c.is_control()) || p.split('/').any(|s| s == "..") {
                return Err(format!("\"{s}\": the prefix \"{p}\" is not valid"));
            }
        }
        Ok(S3Location {
            alias: alias.to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.map(str::to_string),
        })
    }
}

/// When a transfer happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Before any container runs.
    PipelineStart,
    /// Before each `b2c.run` container.
    ContainerStart,
    /// After each `b2c.run` container.
    ContainerEnd,
    /// After the last container.
    PipelineEnd,
    /// Continuously while the pipeline runs, then once at its end.
    Changes,
}

/// The condition names, in the order docs/options.md lists them.
pub const CONDITIONS: &[&str] = &[
    "pipeline_start",
    "container_start",
    "container_end",
    "pipeline_end",
    "changes",
];

impl Condition {
    /// Parses one condition name.
    pub fn parse(s: &str) -> Option<Condition> {
        Some(match s {
            "pipeline_start" => Condition::PipelineStart,
            "container_start" => Condition::ContainerStart,
            "container_end" => Condition::ContainerEnd,
            "pipeline_end" => Condition::PipelineEnd,
            "changes" => Condition::Changes,
            _ => return None,
        })
    }

    /// The name as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::PipelineStart => "pipeline_start",
            Condition::ContainerStart => "container_start",
            Condition::ContainerEnd => "container_end",
            Condition::PipelineEnd => "pipeline_end",
            Condition::Changes => "changes",
        }
    }
}

/// When a volume is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiration {
    /// Kept across boots (the default).
    #[default]
    Never,
    /// Deleted at clean-up (and before set-up if left over).
    PipelineEnd,
}

/// `b2c.volume=NAME[,field...]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Volume {
    /// The podman volume name.
    pub name: String,
    /// `filesystem=FSNAME`: a `b2c.filesystem` mounted on the volume.
    pub filesystem: Option<String>,
    /// `mirror=`: pull from and push to this location.
    pub mirror: Option<S3Location>,
    /// `pull_from=`: pull only.
    pub pull_from: Option<S3Location>,
    /// `push_to=`: push only.
    pub push_to: Option<S3Location>,
    /// `pull_on=`: when to pull (`changes` is dropped: it only applies to pushes).
    pub pull_on: Vec<Condition>,
    /// `push_on=`: when to push (`[Changes]` alone when `changes` was given).
    pub push_on: Vec<Condition>,
    /// `overwrite`: replace differing destination files.
    pub overwrite: bool,
    /// `remove`: delete destination files the source lacks.
    pub remove: bool,
    /// `exclude=GLOB` (repeatable).
    pub exclude: Vec<String>,
    /// `preserve`: keep file modes and modification times.
    pub preserve: bool,
    /// `encrypt_key=`: SSE-C key (never printed).
    pub encrypt_key: Option<Secret>,
    /// `expiration=`.
    pub expiration: Expiration,
    /// `fscrypt_key=`: base64 fscrypt master key (never printed).
    pub fscrypt_key: Option<Secret>,
    /// `fscrypt_reset_key`: empty and re-encrypt on a key mismatch.
    pub fscrypt_reset_key: bool,
}

impl Volume {
    /// Where pulls come from (`mirror` or `pull_from`).
    pub fn pull_source(&self) -> Option<&S3Location> {
        self.mirror.as_ref().or(self.pull_from.as_ref())
    }

    /// Where pushes go (`mirror` or `push_to`).
    pub fn push_destination(&self) -> Option<&S3Location> {
        self.mirror.as_ref().or(self.push_to.as_ref())
    }

    /// Every S3 location named by the volume, with the field that names it.
    pub fn locations(&self) -> Vec<(&'static str, &S3Location)> {
        let mut out = Vec::new();
        if let Some(l) = &self.mirror {
            out.push(("mirror", l));
        }
        if let Some(l) = &self.pull_from {
            out.push(("pull_from", l));
        }
        if let Some(l) = &self.push_to {
            out.push(("push_to", l));
        }
        out
    }
}

/// Length of an fscrypt master key for AES-256-XTS with a v2 policy.
pub const FSCRYPT_KEY_LEN: usize = 64;
/// Length of an SSE-C key (AES-256).
pub const SSEC_KEY_LEN: usize = 32;

const MINIO_FORMAT: &str = "ALIAS,URL,ACCESS_KEY,SECRET_KEY";

/// Parses `b2c.minio=ALIAS,URL,ACCESS_KEY,SECRET_KEY`. Messages never quote the keys.
pub(crate) fn parse_minio(key: &str, value: &str, report: &mut Report) -> Option<Minio> {
    let parts: Vec<&str> = value
        .split(',')
        .map(|p| p.trim_matches([' ', '\t', '\n', '\r']))
        .collect();
    let alias = parts.first().copied().unwrap_or_default();
    let option = if is_identifier(alias) {
        report.set_instance(alias);
        format!("{key}={alias}")
    } else {
        key.to_string()
    };
    if parts.len() != 4 {
        report.error(format!(
            "{option}: expected 4 comma-separated fields {MINIO_FORMAT}, got {}",
            parts.len()
        ));
        return None;
    }
    let errors_before = report.errors.len();
    if alias.contains('@') {
        // Fields in the wrong order put the URL, password included, here.
        report.error(format!(
            "{key}: the first field is not a valid alias (letters, digits, '_', '-' and '.'); not shown: it holds a '@', as a URL with a password does"
        ));
    } else if !is_identifier(alias) {
        report.error(format!(
            "{key}: \"{alias}\" is not a valid alias (letters, digits, '_', '-' and '.')"
        ));
    }
    let url = match Url::parse(parts[1], &["http", "https"]) {
        Ok(u) => Some(u),
        Err(e) => {
            report.error(format!("{option}: the URL {e}"));
            None
        }
    };
    if parts[2].is_empty() {
        report.error(format!("{option}: ACCESS_KEY (third field) is empty"));
    }
    if parts[3].is_empty() {
        report.error(format!("{option}: SECRET_KEY (fourth field) is empty"));
    }
    let url = url?;
    (report.errors.len() == errors_before).then(|| Minio {
        alias: alias.to_string(),
        url,
        access_key: Secret::new(parts[2]),
        secret_key: Secret::new(parts[3]),
    })
}

pub(crate) const VOLUME_FIELDS: &[&str] = &[
    "filesystem",
    "mirror",
    "pull_from",
    "push_to",
    "pull_on",
    "push_on",
    "overwrite",
    "remove",
    "exclude",
    "preserve",
    "encrypt_key",
    "expiration",
    "fscrypt_key",
    "fscrypt_reset_key",
];

fn parse_conditions(option: &str, field: &str, v: &str, report: &mut Report) -> Vec<Condition> {
    let mut out = Vec::new();
    for c in v.split('|').map(str::trim) {
        if c.is_empty() {
            report.field(field).error(format!(
                "{option}: {field} has an empty condition in \"{v}\""
            ));
            continue;
        }
        match Condition::parse(c) {
            Some(cond) if out.contains(&cond) => {
                report
                    .field(field)
                    .warn(format!("{option}: {field} lists \"{c}\" twice"));
            }
            Some(cond) => out.push(cond),
            None => {
                let suggestion = closest(c, CONDITIONS);
                let hint = suggestion
                    .map(|s| format!(" (did you mean \"{s}\"?)"))
                    .unwrap_or_default();
                report.field(field).suggest(suggestion).error(format!(
                    "{option}: {field} has an unknown condition \"{c}\"{hint}; accepted: {}",
                    CONDITIONS.join(", ")
                ));
            }
        }
    }
    out
}

fn check_encrypt_key(option: &str, key: &str, report: &mut Report) {
    let raw_ok = key.len() == SSEC_KEY_LEN;
    let b64_ok = decode_base64(key).is_some_and(|k| k.len() == SSEC_KEY_LEN);
    if !raw_ok && !b64_ok {
        report.field("encrypt_key").error(format!(
            "{option}: encrypt_key must be {SSEC_KEY_LEN} bytes, or base64 of {SSEC_KEY_LEN} bytes (its value is not shown)"
        ));
    }
}

/// A command that prints a valid `fscrypt_key`.
const MAKE_FSCRYPT_KEY: &str = "head -c 64 /dev/urandom | base64 -w0";

fn check_fscrypt_key(option: &str, key: &str, report: &mut Report) {
    let msg = match decode_base64(key) {
        None => format!("{option}: fscrypt_key is not valid base64 (its value is not shown)"),
        Some(k) if k.len() != FSCRYPT_KEY_LEN => format!(
            "{option}: fscrypt_key must decode to {FSCRYPT_KEY_LEN} bytes, it decodes to {} (make one with: {MAKE_FSCRYPT_KEY})",
            k.len()
        ),
        Some(_) => return,
    };
    report
        .field("fscrypt_key")
        .suggest(Some(format!("make one with: {MAKE_FSCRYPT_KEY}")))
        .error(msg);
}

/// Parses `b2c.volume=NAME[,field...]`. References to `b2c.minio` aliases and
/// `b2c.filesystem` names are checked later, once every option is known.
pub(crate) fn parse_volume(key: &str, value: &str, report: &mut Report) -> Option<Volume> {
    let fields = split_fields(key, value, report);
    let name = leading_name(key, "volume name", &fields, report)?;
    if !is_identifier(name) {
        report.error(format!(
            "{key}: \"{name}\" is not a valid volume name (letters, digits, '_', '-' and '.', starting with a letter or digit)"
        ));
        return None;
    }
    report.set_instance(name);
    let option = format!("{key}={name}");
    let has_secret = fields[1..]
        .iter()
        .any(|f| f.name == "encrypt_key" || f.name == "fscrypt_key");
    let mut check = FieldChecker::new(&option, VOLUME_FIELDS, has_secret);
    let errors_before = report.errors.len();
    let mut vol = Volume {
        name: name.to_string(),
        ..Volume::default()
    };
    for field in &fields[1..] {
        let fname = field.name.as_str();
        match fname {
            "overwrite" | "remove" | "preserve" | "fscrypt_reset_key" => {
                if !check.flag(field, report) {
                    continue;
                }
                match fname {
                    "overwrite" => vol.overwrite = true,
                    "remove" => vol.remove = true,
                    "preserve" => vol.preserve = true,
                    _ => vol.fscrypt_reset_key = true,
                }
            }
            "exclude" => {
                if let Some(v) = check.value(field, report) {
                    vol.exclude.push(v.to_string());
                }
            }
            "filesystem" | "mirror" | "pull_from" | "push_to" | "pull_on" | "push_on"
            | "encrypt_key" | "expiration" | "fscrypt_key" => {
                if !check.first_time(field, report) {
                    continue;
                }
                let Some(v) = check.value(field, report) else {
                    continue;
                };
                match fname {
                    "filesystem" => {
                        if is_identifier(v) {
                            vol.filesystem = Some(v.to_string());
                        } else {
                            report.field(fname).error(format!(
                                "{option}: filesystem \"{v}\" is not a valid filesystem name"
                            ));
                        }
                    }
                    "mirror" | "pull_from" | "push_to" => match S3Location::parse(v) {
                        Ok(l) if fname == "mirror" => vol.mirror = Some(l),
                        Ok(l) if fname == "pull_from" => vol.pull_from = Some(l),
                        Ok(l) => vol.push_to = Some(l),
                        Err(e) => report.field(fname).error(format!("{option}: {fname} {e}")),
                    },
                    "pull_on" => vol.pull_on = parse_conditions(&option, fname, v, report),
                    "push_on" => vol.push_on = parse_conditions(&option, fname, v, report),
                    "encrypt_key" => {
                        check_encrypt_key(&option, v, report);
                        vol.encrypt_key = Some(Secret::new(v));
                    }
                    "fscrypt_key" => {
                        check_fscrypt_key(&option, v, report);
                        vol.fscrypt_key = Some(Secret::new(v));
                    }
                    _ => match v {
                        "never" => vol.expiration = Expiration::Never,
                        "pipeline_end" => vol.expiration = Expiration::PipelineEnd,
                        other => report.field(fname).error(format!(
                            "{option}: expiration \"{other}\" is not never or pipeline_end"
                        )),
                    },
                }
            }
            _ => check.unknown(field, report),
        }
    }
    if vol.mirror.is_some() && vol.pull_from.is_some() {
        report.field("pull_from").error(format!(
            "{option}: mirror and pull_from cannot both be given (mirror already pulls)"
        ));
    }
    if vol.mirror.is_some() && vol.push_to.is_some() {
        report.field("push_to").error(format!(
            "{option}: mirror and push_to cannot both be given (mirror already pushes)"
        ));
    }
    if vol.fscrypt_reset_key && vol.fscrypt_key.is_none() {
        report
            .field("fscrypt_reset_key")
            .error(format!("{option}: fscrypt_reset_key needs fscrypt_key=KEY"));
    }
    if report.errors.len() > errors_before {
        return None;
    }
    check_transfers(&option, &mut vol, report);
    Some(vol)
}

/// Warnings about transfers that cannot happen or conditions that are ignored.
fn check_transfers(option: &str, vol: &mut Volume, report: &mut Report) {
    if vol.pull_on.contains(&Condition::Changes) {
        report.field("pull_on").warn(format!(
            "{option}: pull_on=changes is ignored (changes only applies to push_on)"
        ));
        vol.pull_on.retain(|c| *c != Condition::Changes);
    }
    if vol.push_on.contains(&Condition::Changes) && vol.push_on.len() > 1 {
        let others: Vec<&str> = vol
            .push_on
            .iter()
            .filter(|c| **c != Condition::Changes)
            .map(|c| c.as_str())
            .collect();
        report.field("push_on").warn(format!(
            "{option}: push_on has \"changes\", so {} ignored (changes already pushes continuously and once at pipeline end)",
            match others.as_slice() {
                [one] => format!("\"{one}\" is"),
                many => format!("\"{}\" are", many.join("|")),
            }
        ));
        vol.push_on = vec![Condition::Changes];
    }
    let can_pull = vol.pull_source().is_some();
    let can_push = vol.push_destination().is_some();
    if !vol.pull_on.is_empty() && !can_pull {
        report.field("pull_on").warn(format!(
            "{option}: pull_on is given but there is no mirror or pull_from: nothing is pulled"
        ));
    }
    if !vol.push_on.is_empty() && !can_push {
        report.field("push_on").warn(format!(
            "{option}: push_on is given but there is no mirror or push_to: nothing is pushed"
        ));
    }
    if vol.mirror.is_some() && vol.pull_on.is_empty() && vol.push_on.is_empty() {
        report.field("mirror").warn(format!(
            "{option}: mirror is given but neither pull_on nor push_on: nothing is transferred"
        ));
    }
    if vol.pull_from.is_some() && vol.pull_on.is_empty() {
        report.field("pull_from").warn(format!(
            "{option}: pull_from is given but not pull_on: nothing is pulled"
        ));
    }
    if vol.push_to.is_some() && vol.push_on.is_empty() {
        report.field("push_to").warn(format!(
            "{option}: push_to is given but not push_on: nothing is pushed"
        ));
    }
    if vol.encrypt_key.is_some() && !can_pull && !can_push {
        report.field("encrypt_key").warn(format!(
            "{option}: encrypt_key has no effect without mirror, pull_from or push_to"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(v: &str) -> (Option<Volume>, Report) {
        let mut r = Report::default();
        (parse_volume("b2c.volume", v, &mut r), r)
    }

    fn fscrypt_key() -> String {
        // 64 bytes of 0x01, base64.
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ=="
            .to_string()
    }

    #[test]
    fn farm_example() {
        let (v, r) = vol("job-vol,mirror=job/bucket/prefix,pull_on=pipeline_start,push_on=changes|pipeline_end,overwrite,remove,exclude=*.tmp,expiration=pipeline_end");
        let v = v.unwrap();
        assert!(r.errors.is_empty());
        assert_eq!(
            r.warnings,
            ["b2c.volume=job-vol: push_on has \"changes\", so \"pipeline_end\" is ignored (changes already pushes continuously and once at pipeline end)"]
        );
        assert_eq!(v.name, "job-vol");
        assert_eq!(v.mirror.as_ref().unwrap().to_string(), "job/bucket/prefix");
        assert_eq!(v.pull_on, [Condition::PipelineStart]);
        assert_eq!(v.push_on, [Condition::Changes]);
        assert!(v.overwrite && v.remove && !v.preserve);
        assert_eq!(v.exclude, ["*.tmp"]);
        assert_eq!(v.expiration, Expiration::PipelineEnd);
        assert_eq!(v.pull_source().unwrap().bucket, "bucket");
    }

    #[test]
    fn every_field() {
        let key = fscrypt_key();
        let (v, r) = vol(&format!(
            "v,filesystem=fs,pull_from=a/b,push_to=c/d/e/f,pull_on=container_start|pipeline_start,push_on=container_end,exclude=x,exclude=y,preserve,encrypt_key=0123456789abcdef0123456789abcdef,expiration=never,fscrypt_key={key},fscrypt_reset_key"
        ));
        assert!(r.errors.is_empty(), "{:?}", r.errors);
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        let v = v.unwrap();
        assert_eq!(v.filesystem.as_deref(), Some("fs"));
        assert_eq!(v.push_to.as_ref().unwrap().prefix.as_deref(), Some("e/f"));
        assert_eq!(
            v.pull_on,
            [Condition::ContainerStart, Condition::PipelineStart]
        );
        assert_eq!(v.exclude, ["x", "y"]);
        assert!(v.fscrypt_reset_key && v.preserve);
        let shown = format!("{v:?} {}", serde_json::to_string(&v).unwrap());
        assert!(!shown.contains("0123456789abcdef"));
        assert!(!shown.contains("AQEB"));
    }

    #[test]
    fn errors() {
        let e = |s: &str| vol(s).1.errors;
        assert_eq!(
            e("v,pull_on=pipeline_strat"),
            ["b2c.volume=v: pull_on has an unknown condition \"pipeline_strat\" (did you mean \"pipeline_start\"?); accepted: pipeline_start, container_start, container_end, pipeline_end, changes"]
        );
        assert_eq!(
            e("v,mirror=job"),
            ["b2c.volume=v: mirror \"job\" is not ALIAS/BUCKET[/PREFIX]"]
        );
        assert!(e("v,mirror=job/Bu ck")[0]
            .message
            .contains("not a valid bucket name"));
        assert_eq!(
            e("v,expiration=soon"),
            ["b2c.volume=v: expiration \"soon\" is not never or pipeline_end"]
        );
        assert!(e("v,mirror=a/b,pull_from=a/c")[0]
            .message
            .contains("mirror and pull_from cannot both be given"));
        assert!(e("v,mirror=a/b,push_to=a/c")[0]
            .message
            .contains("mirror and push_to"));
        assert_eq!(
            e("v,fscrypt_reset_key"),
            ["b2c.volume=v: fscrypt_reset_key needs fscrypt_key=KEY"]
        );
        assert!(e("v,fscrypt_key=!!!")[0]
            .message
            .contains("fscrypt_key is not valid base64"));
        assert!(e("v,fscrypt_key=AAAA")[0]
            .message
            .contains("must decode to 64 bytes, it decodes to 3"));
        assert!(e("v,encrypt_key=short")[0]
            .message
            .contains("encrypt_key must be 32 bytes"));
        assert!(e("v,push_on=pipeline_end,push_on=changes")[0]
            .message
            .contains("\"push_on\" is given more than once"));
        assert!(e("v,overwrite=yes")[0]
            .message
            .contains("\"overwrite\" is a flag"));
        assert!(e("v,exclude=")[0].message.contains("empty value"));
        assert!(e("v,pull_on=|")[0].message.contains("empty condition"));
        assert!(e("-v")[0].message.contains("not a valid volume name"));
        assert!(e("mirror=a/b")[0]
            .message
            .contains("first field must be the volume name"));
    }

    #[test]
    fn warnings() {
        let w = |s: &str| vol(s).1.warnings;
        assert_eq!(
            w("v,expire=never"),
            ["b2c.volume=v: unknown field \"expire\" ignored; accepted fields: filesystem, mirror, pull_from, push_to, pull_on, push_on, overwrite, remove, exclude, preserve, encrypt_key, expiration, fscrypt_key, fscrypt_reset_key"]
        );
        assert!(w("v,overwrit")[0]
            .message
            .contains("did you mean \"overwrite\"?"));
        assert!(w("v,pull_on=changes,mirror=a/b")[0]
            .message
            .contains("pull_on=changes is ignored"));
        assert!(w("v,push_on=pipeline_end")[0]
            .message
            .contains("nothing is pushed"));
        assert!(w("v,mirror=a/b")[0]
            .message
            .contains("nothing is transferred"));
        assert!(w("v,pull_from=a/b")[0].message.contains("not pull_on"));
        assert!(w("v,push_on=pipeline_end|pipeline_end,push_to=a/b")[0]
            .message
            .contains("twice"));
        let ws = w("v,push_on=changes|container_end|pipeline_end,mirror=a/b");
        assert!(ws[0]
            .message
            .contains("\"container_end|pipeline_end\" are ignored"));
        let ws = w("v,encrypt_key=0123456789abcdef0123456789abcdef,zzz");
        assert!(ws
            .iter()
            .any(|w| w.message.contains("unknown field number 3")));
        assert!(ws
            .iter()
            .any(|w| w.message.contains("encrypt_key has no effect")));
    }

    #[test]
    fn minio() {
        let mut r = Report::default();
        let m = parse_minio("b2c.minio", "job,http://10.42.0.1:9000,KEY,SECRET", &mut r).unwrap();
        assert!(r.errors.is_empty());
        assert_eq!(m.alias, "job");
        assert_eq!(m.url.to_string(), "http://10.42.0.1:9000");
        assert_eq!(m.secret_key.expose(), "SECRET");
        let json = serde_json::to_string(&m).unwrap();
        assert!(!json.contains("SECRET") && !json.contains("KEY\""));

        let e = |s: &str| {
            let mut r = Report::default();
            assert!(parse_minio("b2c.minio", s, &mut r).is_none());
            r.errors
        };
        assert_eq!(
            e("job,http://x,KEY,SEC,RET"),
            ["b2c.minio=job: expected 4 comma-separated fields ALIAS,URL,ACCESS_KEY,SECRET_KEY, got 5"]
        );
        assert_eq!(
            e("job,ftp://x,K,S"),
            ["b2c.minio=job: the URL has the scheme \"ftp\", expected http|https"]
        );
        assert_eq!(
            e("job,http://x,,S"),
            ["b2c.minio=job: ACCESS_KEY (third field) is empty"]
        );
        assert_eq!(
            e("job,http://x,K,"),
            ["b2c.minio=job: SECRET_KEY (fourth field) is empty"]
        );
        assert!(e("j/b,http://x,K,S")[0]
            .message
            .contains("is not a valid alias"));
        let errs = e("job,http://x,K3Y,S3C,RET");
        assert!(!errs[0].message.contains("K3Y") && !errs[0].message.contains("S3C"));
    }
}
