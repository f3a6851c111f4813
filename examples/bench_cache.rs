//! Cache benchmark (run by `scripts/bench-cache`, not a test): N pairs of
//! boots with `b2c.cache_device=auto`, the first on a blank disk, the second
//! on the same disk; prints the medians of QEMU start -> the container's
//! first line for each, their ratio, and the blobs downloaded per boot (from
//! the registry's access log).
//!
//! Usage: bench_cache --image IMAGE --greeting TEXT --registry-log FILE
//!        --work DIR [--runs N] [--disk-size BYTES]
//! The initramfs and kernel are the harness's (`$B2C_INITRD`, `$B2C_KERNEL`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use common::{Vm, VmConfig};

/// One boot's figures.
struct Boot {
    /// QEMU start -> the container's first line (s).
    first_line: f64,
    /// "Pull, create, and init the container" -> the container's first line: pull + start (s).
    pull_and_start: f64,
    /// Blob GETs answered by the registry during the boot.
    blob_gets: usize,
    /// Bytes of those blobs.
    blob_bytes: u64,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        n => v[n / 2],
    }
}

/// (count, bytes) of the successful blob GETs in the access log (combined
/// log format: `"GET /v2/NAME/blobs/DIGEST HTTP/1.1" 200 BYTES ...`).
fn blob_totals(log: &Path) -> (usize, u64) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut count = 0;
    let mut bytes = 0;
    for line in text.lines() {
        let Some((_, rest)) = line.split_once("\"GET /v2/") else {
            continue;
        };
        let Some((request, after)) = rest.split_once('"') else {
            continue;
        };
        if !request.contains("/blobs/") {
            continue;
        }
        let mut fields = after.split_whitespace();
        let status = fields.next().unwrap_or("");
        if !status.starts_with('2') {
            continue;
        }
        count += 1;
        bytes += fields
            .next()
            .and_then(|b| b.parse::<u64>().ok())
            .unwrap_or(0);
    }
    (count, bytes)
}

struct Bench {
    image: String,
    greeting: String,
    registry_log: PathBuf,
}

impl Bench {
    fn boot(&self, name: &str, disk: &Path) -> Boot {
        let (gets_before, bytes_before) = blob_totals(&self.registry_log);
        let mut vm = Vm::boot(
            name,
            VmConfig {
                cmdline: format!(
                    "b2c.cache_device=auto b2c.run=\"--tls-verify=false {}\"",
                    self.image
                ),
                launcher_args: vec!["--cache-disk".into(), disk.display().to_string()],
                ..Default::default()
            },
        );
        vm.wait_for("Cache: /dev/vda1 (ext4) mounted at /storage");
        let running = vm.wait_for("Pull, create, and init the container");
        let first = vm.wait_for(&self.greeting);
        vm.expect_clean_poweroff();
        let (gets_after, bytes_after) = blob_totals(&self.registry_log);
        Boot {
            first_line: vm.since_start(&first).as_secs_f64(),
            pull_and_start: first.at.duration_since(running.at).as_secs_f64(),
            blob_gets: gets_after.saturating_sub(gets_before),
            blob_bytes: bytes_after.saturating_sub(bytes_before),
        }
    }
}

fn fresh_disk(path: &Path, size: u64) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::File::create(path)?.set_len(size)
}

fn main() -> ExitCode {
    let usage = "usage: bench_cache --image IMAGE --greeting TEXT --registry-log FILE \
                 --work DIR [--runs N] [--disk-size BYTES]";
    let (mut image, mut greeting, mut log, mut work) = (None, None, None, None);
    let mut runs = 3usize;
    let mut disk_size: u64 = 4 << 30;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        let bad = |what: &str| {
            eprintln!("bench_cache: {a}: {what}\n{usage}");
            ExitCode::from(2)
        };
        match (a.as_str(), value) {
            ("--image", Some(v)) => image = Some(v),
            ("--greeting", Some(v)) => greeting = Some(v),
            ("--registry-log", Some(v)) => log = Some(PathBuf::from(v)),
            ("--work", Some(v)) => work = Some(PathBuf::from(v)),
            ("--runs", Some(v)) => match v.parse() {
                Ok(n) if n > 0 => runs = n,
                _ => return bad(&format!("'{v}' is not a positive number")),
            },
            ("--disk-size", Some(v)) => match v.parse() {
                Ok(n) => disk_size = n,
                Err(_) => return bad(&format!("'{v}' is not a size in bytes")),
            },
            (_, None) => return bad("missing value"),
            _ => return bad("unknown argument"),
        }
    }
    let (Some(image), Some(greeting), Some(registry_log), Some(work)) =
        (image, greeting, log, work)
    else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    if let Err(e) = std::fs::create_dir_all(&work) {
        eprintln!("bench_cache: cannot create {}: {e}", work.display());
        return ExitCode::FAILURE;
    }
    let bench = Bench {
        image,
        greeting,
        registry_log,
    };
    let disk = work.join("cache.img");
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for run in 1..=runs {
        if let Err(e) = fresh_disk(&disk, disk_size) {
            eprintln!("bench_cache: cannot create {}: {e}", disk.display());
            return ExitCode::FAILURE;
        }
        for (label, samples) in [("blank disk", &mut first), ("same disk", &mut second)] {
            eprintln!("bench-cache: run {run}/{runs}: {label}");
            let b = bench.boot(&format!("bench-cache-{run}-{label}"), &disk);
            eprintln!(
                "bench-cache:   first line at {:.1} s, pull+start {:.1} s, {} blob GET(s), {:.1} MB",
                b.first_line,
                b.pull_and_start,
                b.blob_gets,
                b.blob_bytes as f64 / 1e6
            );
            samples.push(b);
        }
    }
    let _ = std::fs::remove_file(&disk);
    let col = |v: &[Boot], f: fn(&Boot) -> f64| median(&v.iter().map(f).collect::<Vec<_>>());
    println!(
        "Medians over {runs} pair(s) of boots with b2c.cache_device=auto (seconds, host time):"
    );
    println!(
        "  {:<40} {:>11} {:>10} {:>7}",
        "", "blank disk", "same disk", "ratio"
    );
    for (name, f) in [
        (
            "QEMU start -> container's first line",
            (|b: &Boot| b.first_line) as fn(&Boot) -> f64,
        ),
        ("'Pull, create, and init' -> first line", |b: &Boot| {
            b.pull_and_start
        }),
        ("blob GETs per boot", |b: &Boot| b.blob_gets as f64),
        ("MB of blobs per boot", |b: &Boot| b.blob_bytes as f64 / 1e6),
    ] {
        let (a, b) = (col(&first, f), col(&second, f));
        let ratio = if b > 0.0 {
            format!("{:>7.2}", a / b)
        } else {
            format!("{:>7}", "-")
        };
        println!("  {name:<40} {a:>11.1} {b:>10.1} {ratio}");
    }
    let gets = |v: &[Boot]| {
        v.iter()
            .map(|b| b.blob_gets.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  blob GETs, boot by boot: blank disk [{}], same disk [{}]",
        gets(&first),
        gets(&second)
    );
    ExitCode::SUCCESS
}
