//! Boot benchmark (run by `scripts/bench-boot`, not a test): boots our
//! initramfs and the busybox-shell baseline alternately, N times each, and
//! prints medians of where the time goes.
//!
//! Usage: bench_boot --set LABEL OURS BASELINE [--set ...] --image IMAGE [--runs N]
//! (one set per compression, e.g. zstd and xz: each run boots every archive
//! once, alternating).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Vm, VmConfig};

const GREETING: &str = "Hello from boot2container!";

#[derive(Default)]
struct Samples {
    first_line: Vec<f64>,
    kernel_to_init: Vec<f64>,
    init_to_modules: Vec<f64>,
    init_to_network: Vec<f64>,
    network_to_podman: Vec<f64>,
    podman_to_first_line: Vec<f64>,
    total: Vec<f64>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let mid = v.len() / 2;
    if v.len() % 2 == 0 {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn boot_ours(initrd: &Path, image: &str, samples: &mut Samples) {
    let mut vm = Vm::boot(
        "bench-ours",
        VmConfig {
            cmdline: format!("b2c.run=\"--tls-verify=false {image}\""),
            initrd: Some(initrd.to_path_buf()),
            ..Default::default()
        },
    );
    let podman = vm.wait_for("Pull, create, and init the container");
    let first = vm.wait_for(GREETING);
    let timeline = vm.wait_for("Boot timeline (s of uptime):");
    let status = vm.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "QEMU exited with {status}");
    let total = vm.started.elapsed().as_secs_f64();
    let marks = boot2container::timeline::parse_line(&timeline.text);
    let mark = |name: &str| {
        marks
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
            .unwrap_or(f64::NAN)
    };
    samples
        .first_line
        .push(vm.since_start(&first).as_secs_f64());
    samples.kernel_to_init.push(mark("init"));
    samples.init_to_modules.push(mark("modules") - mark("init"));
    samples.init_to_network.push(mark("network") - mark("init"));
    samples
        .network_to_podman
        .push(mark("podman_start") - mark("network"));
    samples
        .podman_to_first_line
        .push(first.at.duration_since(podman.at).as_secs_f64());
    samples.total.push(total);
}

fn boot_baseline(initrd: &Path, image: &str, samples: &mut Samples) {
    let mut vm = Vm::boot(
        "bench-baseline",
        VmConfig {
            cmdline: format!("baseline.image={image}"),
            initrd: Some(initrd.to_path_buf()),
            ..Default::default()
        },
    );
    let start = vm.wait_for("BASELINE [");
    let modules = vm.wait_for("]: modules loaded:");
    let podman = vm.wait_for("BASELINE: container start");
    let first = vm.wait_for(GREETING);
    let status = vm.wait_exit(Duration::from_secs(120));
    assert!(status.success(), "QEMU exited with {status}");
    // "BASELINE [UPTIME]: ..." lines carry the guest's uptime.
    let uptime = |text: &str| -> f64 {
        text.split_once('[')
            .and_then(|(_, r)| r.split_once(']'))
            .and_then(|(t, _)| t.trim().parse().ok())
            .unwrap_or(f64::NAN)
    };
    samples.kernel_to_init.push(uptime(&start.text));
    samples
        .init_to_modules
        .push(uptime(&modules.text) - uptime(&start.text));
    samples
        .first_line
        .push(vm.since_start(&first).as_secs_f64());
    samples
        .podman_to_first_line
        .push(first.at.duration_since(podman.at).as_secs_f64());
    samples.total.push(vm.started.elapsed().as_secs_f64());
}

/// One pair of archives to compare (ours and the baseline), compressed the
/// same way.
struct Set {
    label: String,
    ours: PathBuf,
    baseline: PathBuf,
    o: Samples,
    b: Samples,
}

fn main() {
    let mut sets: Vec<Set> = Vec::new();
    let mut image = None;
    let mut runs = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--set" => {
                let (Some(label), Some(ours), Some(baseline)) =
                    (args.next(), args.next(), args.next())
                else {
                    eprintln!("bench_boot: --set needs LABEL OURS BASELINE");
                    std::process::exit(2);
                };
                sets.push(Set {
                    label,
                    ours: PathBuf::from(ours),
                    baseline: PathBuf::from(baseline),
                    o: Samples::default(),
                    b: Samples::default(),
                });
            }
            "--image" => image = args.next(),
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            other => {
                eprintln!("bench_boot: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let Some(image) = image.filter(|_| !sets.is_empty()) else {
        eprintln!(
            "usage: bench_boot --set LABEL OURS_INITRD BASELINE_INITRD [--set ...] --image IMAGE [--runs N]"
        );
        std::process::exit(2);
    };
    // Every run boots each archive once, alternating, so that the load of
    // the (shared) machine weighs on all of them alike.
    for run in 1..=runs {
        for set in sets.iter_mut() {
            eprintln!("bench-boot: run {run}/{runs}: ours ({})", set.label);
            boot_ours(&set.ours, &image, &mut set.o);
            eprintln!("bench-boot: run {run}/{runs}: baseline ({})", set.label);
            boot_baseline(&set.baseline, &image, &mut set.b);
        }
    }
    for set in &sets {
        report(set, runs);
    }
    if let Some((first, rest)) = sets.split_first() {
        for other in rest {
            println!(
                "{} against {} (QEMU start -> container's first line): ours {:+.2} s ({:.3}), baseline {:+.2} s ({:.3})",
                other.label,
                first.label,
                median(&other.o.first_line) - median(&first.o.first_line),
                median(&other.o.first_line) / median(&first.o.first_line),
                median(&other.b.first_line) - median(&first.b.first_line),
                median(&other.b.first_line) / median(&first.b.first_line),
            );
        }
    }
}

fn report(set: &Set, runs: usize) {
    let (o, b) = (&set.o, &set.b);
    println!();
    println!(
        "{}: medians over {runs} boots each (seconds; host time unless noted):",
        set.label
    );
    println!("  {:<44} {:>8} {:>9}", "", "ours", "baseline");
    let row = |name: &str, ours: &[f64], base: Option<&[f64]>| {
        let b = base
            .map(|b| format!("{:>9.2}", median(b)))
            .unwrap_or_else(|| format!("{:>9}", "-"));
        println!("  {:<44} {:>8.2} {b}", name, median(ours));
    };
    row(
        "QEMU start -> container's first line",
        &o.first_line,
        Some(&b.first_line),
    );
    row(
        "kernel -> init (guest uptime)",
        &o.kernel_to_init,
        Some(&b.kernel_to_init),
    );
    row(
        "init -> modules loaded (guest)",
        &o.init_to_modules,
        Some(&b.init_to_modules),
    );
    row("init -> network up (guest)", &o.init_to_network, None);
    row(
        "network up -> podman start (guest)",
        &o.network_to_podman,
        None,
    );
    row(
        "podman start -> container's first line",
        &o.podman_to_first_line,
        Some(&b.podman_to_first_line),
    );
    row(
        "QEMU start -> power-off (QEMU exit)",
        &o.total,
        Some(&b.total),
    );
    println!(
        "Ratio ours/baseline: first line {:.3}, power-off {:.3}",
        median(&o.first_line) / median(&b.first_line),
        median(&o.total) / median(&b.total)
    );
}
