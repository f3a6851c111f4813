//! `b2c mirror pull|push`: runs one transfer of a `b2c.volume` on a
//! workstation, with the init's own parser and engine (for the benchmark,
//! and to try a farm's S3 settings by hand). Not listed by `b2c --help`.
//!
//! ```text
//! B2C_CMDLINE='b2c.minio=job,http://127.0.0.1:9000,KEY,SECRET b2c.volume=v,mirror=job/bucket/p,overwrite' \
//!     b2c mirror push --volume v --dir ./folder
//! ```

use std::ffi::OsString;
use std::path::PathBuf;

use super::{pull, push, TransferOptions};
use crate::cmdline;
use crate::s3::{Endpoint, EndpointOptions};

const USAGE: &str = "\
Usage: b2c mirror pull|push --volume NAME --dir DIR [--cmdline 'OPTIONS']
                  [--transfers N] [--part-size MIB] [--ca-bundle PATH]

Runs one transfer of the b2c.volume NAME between its bucket (mirror=,
pull_from= or push_to=) and the local folder DIR, with the volume's
overwrite, remove, exclude, preserve and encrypt_key fields, and prints the
one-line summary. The options (b2c.minio, b2c.volume, b2c.proxy) come from
--cmdline, or from the environment variable B2C_CMDLINE (keeps the keys out
of the process list).

Exit status: 0 done, 1 the transfer failed, 2 usage error.
";

#[derive(Debug)]
struct Args {
    push: bool,
    volume: String,
    dir: PathBuf,
    cmdline: Option<String>,
    transfers: Option<usize>,
    part_size: Option<u64>,
    ca_bundle: Option<PathBuf>,
}

fn parse_args(args: &[OsString]) -> Result<Option<Args>, String> {
    let mut it = args
        .iter()
        .skip(2)
        .map(|a| a.to_string_lossy().into_owned());
    let push = match it.next().as_deref() {
        Some("push") => true,
        Some("pull") => false,
        Some("-h" | "--help") => return Ok(None),
        Some(other) => return Err(format!("unknown direction \"{other}\" (pull or push)")),
        None => return Err("pull or push is missing".to_string()),
    };
    let mut volume = None;
    let mut dir = None;
    let mut cmdline = None;
    let mut transfers = None;
    let mut part_size = None;
    let mut ca_bundle = None;
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--volume" => volume = Some(value("--volume")?),
            "--dir" => dir = Some(PathBuf::from(value("--dir")?)),
            "--cmdline" => cmdline = Some(value("--cmdline")?),
            "--ca-bundle" => ca_bundle = Some(PathBuf::from(value("--ca-bundle")?)),
            "--transfers" => {
                let v = value("--transfers")?;
                transfers = Some(
                    v.parse::<usize>()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or(format!("--transfers {v}: not a positive number"))?,
                );
            }
            "--part-size" => {
                let v = value("--part-size")?;
                part_size = Some(
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| *n >= 5)
                        .ok_or(format!("--part-size {v}: a number of MiB, at least 5"))?
                        << 20,
                );
            }
            other => return Err(format!("unknown argument \"{other}\"")),
        }
    }
    Ok(Some(Args {
        push,
        volume: volume.ok_or("--volume NAME is missing")?,
        dir: dir.ok_or("--dir DIR is missing")?,
        cmdline,
        transfers,
        part_size,
        ca_bundle,
    }))
}

/// Entry point of `b2c mirror`; returns the exit status.
pub fn main(args: Vec<OsString>) -> i32 {
    let args = match parse_args(&args) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("b2c mirror: {e}");
            eprint!("{USAGE}");
            return 2;
        }
    };
    let text = match args
        .cmdline
        .clone()
        .or_else(|| std::env::var("B2C_CMDLINE").ok())
    {
        Some(t) => t,
        None => {
            eprintln!("b2c mirror: give the options with --cmdline or B2C_CMDLINE");
            return 2;
        }
    };
    match run(&args, &text) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(e) => {
            eprintln!("b2c mirror: {e}");
            1
        }
    }
}

fn run(args: &Args, text: &str) -> Result<String, String> {
    let config = cmdline::parse(text.as_bytes());
    for w in &config.warnings {
        eprintln!("b2c mirror: warning: {w}");
    }
    if let Some(e) = config.errors.first() {
        return Err(e.to_string());
    }
    let volume = config
        .volumes
        .iter()
        .find(|v| v.name == args.volume)
        .ok_or(format!("no b2c.volume={} in the options", args.volume))?;
    let location = if args.push {
        volume.push_destination()
    } else {
        volume.pull_source()
    }
    .ok_or(format!(
        "b2c.volume={} has no {}",
        volume.name,
        if args.push {
            "mirror= or push_to="
        } else {
            "mirror= or pull_from="
        }
    ))?;
    let minio = config
        .minio
        .iter()
        .find(|m| m.alias == location.alias)
        .ok_or(format!(
            "no b2c.minio={},... in the options",
            location.alias
        ))?;
    let mut ep_opts = EndpointOptions::default();
    if let Some(ca) = &args.ca_bundle {
        ep_opts.ca_bundle = ca.clone();
    }
    let endpoint = Endpoint::with_options(minio, config.proxy.as_ref(), &ep_opts)
        .map_err(|e| e.to_string())?;
    let mut opts = TransferOptions::from_volume(volume);
    if let Some(n) = args.transfers {
        opts.transfers = n;
    }
    if let Some(p) = args.part_size {
        opts.part_size = p;
    }
    let result = if args.push {
        push(&endpoint, &args.dir, location, &opts)
    } else {
        pull(&endpoint, location, &args.dir, &opts)
    };
    match result {
        Ok(summary) => {
            for n in &summary.notes {
                eprintln!("b2c mirror: note: {n}");
            }
            for k in &summary.kept {
                eprintln!("b2c mirror: kept (differs, no overwrite): {k}");
            }
            Ok(summary.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn os(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments() {
        let a = parse_args(&os(&[
            "b2c",
            "mirror",
            "push",
            "--volume",
            "v",
            "--dir",
            "/d",
            "--transfers",
            "4",
            "--part-size",
            "8",
        ]))
        .unwrap()
        .unwrap();
        assert!(a.push);
        assert_eq!(a.volume, "v");
        assert_eq!(a.transfers, Some(4));
        assert_eq!(a.part_size, Some(8 << 20));
        assert!(parse_args(&os(&["b2c", "mirror", "--help"]))
            .unwrap()
            .is_none());
        assert!(parse_args(&os(&["b2c", "mirror", "sideways"])).is_err());
        assert!(parse_args(&os(&["b2c", "mirror", "pull", "--dir", "/d"]))
            .unwrap_err()
            .contains("--volume"));
        assert!(parse_args(&os(&[
            "b2c",
            "mirror",
            "pull",
            "--volume",
            "v",
            "--dir",
            "/d",
            "--part-size",
            "1"
        ]))
        .is_err());
    }

    #[test]
    fn missing_pieces() {
        let a = parse_args(&os(&[
            "b2c", "mirror", "pull", "--volume", "v", "--dir", "/d",
        ]))
        .unwrap()
        .unwrap();
        let e = run(
            &a,
            "b2c.minio=job,http://h,K,S b2c.volume=w,mirror=job/b,pull_on=pipeline_start",
        )
        .unwrap_err();
        assert!(e.contains("no b2c.volume=v"), "{e}");
        let e = run(
            &a,
            "b2c.minio=job,http://h,K,S b2c.volume=v,push_to=job/b,push_on=pipeline_end",
        )
        .unwrap_err();
        assert!(e.contains("has no mirror= or pull_from="), "{e}");
        let e = run(
            &a,
            "b2c.volume=v,mirror=job/b,pull_on=pipeline_start b2c.minio=other,http://h,K,S",
        )
        .unwrap_err();
        assert!(e.contains("job"), "{e}");
    }
}
