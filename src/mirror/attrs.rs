//! `preserve`: file mode and times kept in object metadata, in the format
//! of MinIO's `mc` (`X-Amz-Meta-Mc-Attrs:
//! atime:SECONDS#NANOS/gid:G/mode:ST_MODE/mtime:SECONDS#NANOS/uid:U`), so that
//! objects pushed by `mc mirror -a` pull with their attributes and the
//! other way round. rclone's `X-Amz-Meta-Mtime` (decimal seconds) is read
//! too.

use std::fs::{File, FileTimes};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The user-metadata name (after `x-amz-meta-`) of mc's attributes.
pub const MC_ATTRS: &str = "mc-attrs";
/// rclone's modification time.
const RCLONE_MTIME: &str = "mtime";

/// A time as seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp {
    /// Seconds (negative before 1970).
    pub secs: i64,
    /// Nanoseconds, below 1e9.
    pub nanos: u32,
}

impl Stamp {
    fn parse(s: &str) -> Option<Stamp> {
        let (secs, nanos) = match s.split_once('#') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let secs = secs.trim().parse::<i64>().ok()?;
        let nanos = match nanos {
            Some(n) => n
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n < 1_000_000_000)?,
            None => 0,
        };
        Some(Stamp { secs, nanos })
    }

    fn render(self) -> String {
        format!("{}#{}", self.secs, self.nanos)
    }

    fn system_time(self) -> SystemTime {
        let nanos = Duration::from_nanos(u64::from(self.nanos));
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.secs.unsigned_abs()) + nanos
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs()) + nanos
        }
    }

    /// Equal times; when one side has no nanoseconds (kept with a
    /// one-second resolution), only the seconds are compared.
    pub fn same_as(self, other: Stamp) -> bool {
        if self.nanos == 0 || other.nanos == 0 {
            self.secs == other.secs
        } else {
            self == other
        }
    }
}

/// What `preserve` keeps of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attrs {
    /// `st_mode` (type and permission bits).
    pub mode: Option<u32>,
    /// Modification time.
    pub mtime: Option<Stamp>,
    /// Access time.
    pub atime: Option<Stamp>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
}

impl Attrs {
    /// The attributes of a local file.
    pub fn of(meta: &std::fs::Metadata) -> Attrs {
        Attrs {
            mode: Some(meta.mode()),
            mtime: Some(Stamp {
                secs: meta.mtime(),
                nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
            }),
            atime: Some(Stamp {
                secs: meta.atime(),
                nanos: u32::try_from(meta.atime_nsec()).unwrap_or(0),
            }),
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
        }
    }

    /// The `mc-attrs` value.
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = self.atime {
            parts.push(format!("atime:{}", a.render()));
        }
        if let Some(g) = self.gid {
            parts.push(format!("gid:{g}"));
        }
        if let Some(m) = self.mode {
            parts.push(format!("mode:{m}"));
        }
        if let Some(t) = self.mtime {
            parts.push(format!("mtime:{}", t.render()));
        }
        if let Some(u) = self.uid {
            parts.push(format!("uid:{u}"));
        }
        parts.join("/")
    }

    /// The attributes in an object's user metadata (`mc-attrs`, else
    /// rclone's `mtime`); `None` when there are none.
    pub fn from_user_meta(user: &std::collections::BTreeMap<String, String>) -> Option<Attrs> {
        if let Some(v) = user.get(MC_ATTRS) {
            let mut a = Attrs {
                mode: None,
                mtime: None,
                atime: None,
                uid: None,
                gid: None,
            };
            for field in v.split('/') {
                let Some((k, val)) = field.trim().split_once(':') else {
                    continue;
                };
                match k {
                    "mode" => a.mode = val.parse().ok(),
                    "mtime" => a.mtime = Stamp::parse(val),
                    "atime" => a.atime = Stamp::parse(val),
                    "uid" => a.uid = val.parse().ok(),
                    "gid" => a.gid = val.parse().ok(),
                    _ => {}
                }
            }
            if a.mode.is_some() || a.mtime.is_some() {
                return Some(a);
            }
        }
        let mtime = user.get(RCLONE_MTIME).and_then(|v| parse_decimal_time(v))?;
        Some(Attrs {
            mode: None,
            mtime: Some(mtime),
            atime: None,
            uid: None,
            gid: None,
        })
    }

    /// Sets the permission bits and the times of the open file `f`
    /// (ownership is left as it is).
    pub fn apply(&self, f: &File) -> std::io::Result<()> {
        if let Some(mode) = self.mode {
            f.set_permissions(std::fs::Permissions::from_mode(mode & 0o7777))?;
        }
        if let Some(m) = self.mtime {
            let mut times = FileTimes::new().set_modified(m.system_time());
            times = times.set_accessed(self.atime.unwrap_or(m).system_time());
            f.set_times(times)?;
        }
        Ok(())
    }
}

/// `1700000000.123456789` (rclone's format).
fn parse_decimal_time(s: &str) -> Option<Stamp> {
    let (secs, frac) = match s.trim().split_once('.') {
        Some((a, b)) => (a, b),
        None => (s.trim(), ""),
    };
    let secs = secs.parse::<i64>().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos = if digits.is_empty() {
        0
    } else {
        format!("{digits:0<9}").parse::<u32>().ok()?
    };
    Some(Stamp { secs, nanos })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn mc_format_round_trip() {
        let a = Attrs {
            mode: Some(0o100644),
            mtime: Some(Stamp {
                secs: 1_700_000_000,
                nanos: 5,
            }),
            atime: Some(Stamp {
                secs: 1_700_000_001,
                nanos: 0,
            }),
            uid: Some(1000),
            gid: Some(100),
        };
        let text = a.render();
        assert_eq!(
            text,
            "atime:1700000001#0/gid:100/mode:33188/mtime:1700000000#5/uid:1000"
        );
        let mut user = BTreeMap::new();
        user.insert(MC_ATTRS.to_string(), text);
        assert_eq!(Attrs::from_user_meta(&user), Some(a));
    }

    #[test]
    fn mc_written_values() {
        // As mc writes it (names included, no nanoseconds on old versions).
        let mut user = BTreeMap::new();
        user.insert(
            MC_ATTRS.to_string(),
            "atime:1591920848/ctime:1591920845/gid:0/gname:root/mode:16877/mtime:1591920845/uid:0/uname:root".to_string(),
        );
        let a = Attrs::from_user_meta(&user).unwrap();
        assert_eq!(a.mode, Some(16877));
        assert_eq!(
            a.mtime,
            Some(Stamp {
                secs: 1591920845,
                nanos: 0
            })
        );
    }

    #[test]
    fn rclone_mtime() {
        let mut user = BTreeMap::new();
        user.insert("mtime".to_string(), "1700000000.25".to_string());
        let a = Attrs::from_user_meta(&user).unwrap();
        assert_eq!(
            a.mtime,
            Some(Stamp {
                secs: 1_700_000_000,
                nanos: 250_000_000
            })
        );
        assert_eq!(a.mode, None);
        user.insert("mtime".to_string(), "soon".to_string());
        assert_eq!(Attrs::from_user_meta(&user), None);
        assert_eq!(Attrs::from_user_meta(&BTreeMap::new()), None);
    }

    #[test]
    fn comparing_times() {
        let a = Stamp { secs: 10, nanos: 5 };
        assert!(a.same_as(Stamp { secs: 10, nanos: 5 }));
        assert!(!a.same_as(Stamp { secs: 10, nanos: 6 }));
        assert!(a.same_as(Stamp { secs: 10, nanos: 0 }));
        assert!(!a.same_as(Stamp { secs: 11, nanos: 0 }));
    }

    #[test]
    fn apply_to_a_file() {
        let dir = std::env::temp_dir().join(format!("b2c-attrs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"x").unwrap();
        let a = Attrs {
            mode: Some(0o100751),
            mtime: Some(Stamp {
                secs: 1_000_000_000,
                nanos: 123,
            }),
            atime: None,
            uid: None,
            gid: None,
        };
        a.apply(&File::open(&path).unwrap()).unwrap();
        let m = std::fs::metadata(&path).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o751);
        assert_eq!(m.mtime(), 1_000_000_000);
        assert_eq!(m.mtime_nsec(), 123);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
