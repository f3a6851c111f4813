//! The DHCP client against a real dnsmasq, across veth pairs between network
//! namespaces that each test creates (and always deletes).
//!
//! Needs root, `ip` (iproute2) and `dnsmasq`: without them the tests FAIL.
//! Addresses: 10.213.N.0/24, only inside the namespaces.
//!
//! Run: `cargo test --test dhcp_netns -- --nocapture` (the renewal test takes
//! about 65 s).
// An integration test crate: its helpers fail the test by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use boot2container::net::{bring_up, InterfaceStatus, NetError, NetOptions, NetSummary};

const DNSMASQ: &str = "/usr/sbin/dnsmasq";

/// Whether the tests can run: they need root (network namespaces, veth
/// pairs). Without it they skip with a line saying so, unless
/// `B2C_REQUIRE_ROOT_TESTS=1` (`./scripts/test` as root) makes that a failure.
fn require_tools() -> bool {
    if !nix::unistd::geteuid().is_root() {
        assert!(
            std::env::var_os("B2C_REQUIRE_ROOT_TESTS").is_none(),
            "the DHCP integration tests need root (they create network namespaces and veth pairs)"
        );
        let _ = std::io::Write::write_all(
            &mut std::io::stderr(),
            b"SKIPPED: the DHCP integration tests need root (network namespaces, veth pairs)\n",
        );
        return false;
    }
    assert!(
        Path::new(DNSMASQ).exists(),
        "the DHCP integration tests need dnsmasq at {DNSMASQ} (Debian package dnsmasq-base)"
    );
    let ip = Command::new("ip").arg("-V").output();
    assert!(
        ip.map(|o| o.status.success()).unwrap_or(false),
        "the DHCP integration tests need the `ip` command (Debian package iproute2)"
    );
    true
}

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Server and client namespaces joined by veth pairs, plus dnsmasq.
/// Everything is removed on drop, including after a failed assertion.
struct Lab {
    server_ns: String,
    client_ns: String,
    dir: PathBuf,
    dnsmasq: Option<Child>,
    /// Server-side veth names, one per client interface.
    server_ifs: Vec<String>,
    /// Subnet third octets, one per client interface.
    nets: Vec<u8>,
    generation: u32,
}

impl Lab {
    /// `nets`: one client interface (eth0, eth1...) per entry, each on
    /// 10.213.NET.0/24 with the server at .1.
    fn new(tag: &str, nets: &[u8]) -> Option<Self> {
        if !require_tools() {
            return None;
        }
        let id = format!("{}{}", std::process::id() % 100_000, tag);
        let dir = std::env::temp_dir().join(format!("b2c-dhcp-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            server_ns: format!("b2ct-s-{id}"),
            client_ns: format!("b2ct-c-{id}"),
            dir,
            dnsmasq: None,
            server_ifs: Vec::new(),
            nets: nets.to_vec(),
            generation: 0,
        };
        run(&["ip", "netns", "add", &lab.server_ns]);
        run(&["ip", "netns", "add", &lab.client_ns]);
        run(&["ip", "-n", &lab.server_ns, "link", "set", "lo", "up"]);
        for (i, net) in nets.iter().enumerate() {
            let sif = format!("vs{i}-{tag}");
            let cif = format!("eth{i}");
            run(&[
                "ip",
                "link",
                "add",
                &sif,
                "netns",
                &lab.server_ns,
                "type",
                "veth",
                "peer",
                "name",
                &cif,
                "netns",
                &lab.client_ns,
            ]);
            let addr = format!("10.213.{net}.1/24");
            run(&[
                "ip",
                "-n",
                &lab.server_ns,
                "addr",
                "add",
                &addr,
                "dev",
                &sif,
            ]);
            run(&["ip", "-n", &lab.server_ns, "link", "set", &sif, "up"]);
            lab.server_ifs.push(sif);
        }
        Some(lab)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(format!("dnsmasq-{}.log", self.generation))
    }

    /// Starts dnsmasq with the range .FIRST-.LAST on every subnet.
    fn start_dnsmasq(&mut self, first: u8, last: u8) {
        self.stop_dnsmasq();
        self.generation += 1;
        let log = self.log_path();
        let leases = self.dir.join(format!("leases-{}", self.generation));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.server_ns, DNSMASQ])
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--port=0",
                "--bind-interfaces",
                "--user=root",
                "--log-dhcp",
                // dnsmasq pings a new address for 3 s before offering it,
                // which would hide the client's own timing.
                "--no-ping",
            ])
            .arg(format!("--log-facility={}", log.display()))
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!("--pid-file={}", self.dir.join("pid").display()));
        for (sif, net) in self.server_ifs.iter().zip(&self.nets) {
            cmd.arg(format!("--interface={sif}"))
                .arg(format!(
                    "--dhcp-range=set:n{net},10.213.{net}.{first},10.213.{net}.{last},255.255.255.0,2m"
                ))
                .arg(format!("--dhcp-option=tag:n{net},option:router,10.213.{net}.1"))
                .arg(format!("--dhcp-option=tag:n{net},option:dns-server,10.213.{net}.53"))
                .arg(format!("--dhcp-option=tag:n{net},option:ntp-server,10.213.{net}.123"));
        }
        cmd.arg("--dhcp-option=option:domain-name,b2c.test")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.dnsmasq = Some(cmd.spawn().expect("cannot start dnsmasq"));
        // dnsmasq is ready once it logs its DHCP ranges.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if self.log().contains("DHCP, IP range") {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("dnsmasq did not start; log:\n{}", self.log());
    }

    fn stop_dnsmasq(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // `ip netns exec` execs dnsmasq in place, so the child is dnsmasq;
        // the pid file is a second check.
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
            if let Ok(pid) = pid.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
            let _ = std::fs::remove_file(self.dir.join("pid"));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn client_ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.client_ns];
        full.extend_from_slice(args);
        run(&full)
    }

    fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    fn options(&self, interfaces: &[&str], timeout: Duration) -> NetOptions {
        NetOptions {
            timeout,
            resolv_conf: self.resolv_conf(),
            interfaces: interfaces.iter().map(|s| s.to_string()).collect(),
            extra_nameservers: Vec::new(),
            default_route: true,
        }
    }

    /// Runs `f` on a thread inside the client namespace, on its own
    /// current-thread runtime (dropped at the end: every client task stops).
    fn in_client<F, Fut, T>(&self, f: F) -> T
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = T>,
        T: Send + 'static,
    {
        let path = format!("/run/netns/{}", self.client_ns);
        let thread = std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(f())
        });
        match thread.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_dnsmasq();
        // Deleting the namespaces deletes the veth pairs.
        let _ = Command::new("ip")
            .args(["netns", "del", &self.client_ns])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.server_ns])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn in_range(a: Ipv4Addr, net: u8, first: u8, last: u8) -> bool {
    let o = a.octets();
    o[0] == 10 && o[1] == 213 && o[2] == net && (first..=last).contains(&o[3])
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn lease_obtained_and_options_applied() {
    let Some(mut lab) = Lab::new("a", &[11]) else {
        return;
    };
    lab.start_dnsmasq(100, 150);
    let mut times = Vec::new();
    let mut calls = Vec::new();
    for round in 0..7 {
        // A fresh link and runtime each round.
        lab.client_ip(&["link", "set", "eth0", "down"]);
        lab.client_ip(&["addr", "flush", "dev", "eth0"]);
        let opts = lab.options(&["eth0"], Duration::from_secs(10));
        let (summary, took): (NetSummary, Duration) = lab.in_client(move || async move {
            let start = Instant::now();
            let s = bring_up(&opts).await.unwrap();
            let took = start.elapsed();
            // Let the client settle before the runtime (and client) stops.
            tokio::time::sleep(Duration::from_millis(50)).await;
            (s, took)
        });
        let p = &summary.primary;
        times.push(p.time_to_lease);
        calls.push(took);
        if std::env::var_os("B2C_DHCP_DEBUG").is_some() {
            eprintln!("{}", lab.log());
        }
        if round > 0 {
            continue;
        }
        assert_eq!(p.interface, "eth0");
        assert!(p.primary);
        assert!(in_range(p.address, 11, 100, 150), "{p:?}");
        assert_eq!(p.prefix_len, 24);
        assert_eq!(p.router, Some(Ipv4Addr::new(10, 213, 11, 1)));
        assert_eq!(p.server, Ipv4Addr::new(10, 213, 11, 1));
        assert_eq!(p.dns, vec![Ipv4Addr::new(10, 213, 11, 53)]);
        assert_eq!(p.domain.as_deref(), Some("b2c.test"));
        assert_eq!(p.ntp, vec![Ipv4Addr::new(10, 213, 11, 123)]);
        assert_eq!(summary.ntp_servers(), vec![Ipv4Addr::new(10, 213, 11, 123)]);
        assert_eq!(p.lease_time, Some(Duration::from_secs(120)));

        let addrs = lab.client_ip(&["-4", "addr", "show", "dev", "eth0"]);
        assert!(
            addrs.contains(&format!("inet {}/24", p.address)),
            "address not on eth0: {addrs}"
        );
        let routes = lab.client_ip(&["-4", "route", "show", "default"]);
        assert!(
            routes.contains("default via 10.213.11.1 dev eth0"),
            "no default route: {routes}"
        );
        let lo = lab.client_ip(&["-4", "addr", "show", "dev", "lo"]);
        assert!(lo.contains("inet 127.0.0.1/8"), "lo not up: {lo}");
        let resolv = std::fs::read_to_string(lab.resolv_conf()).unwrap();
        assert!(resolv.contains("nameserver 10.213.11.53\n"), "{resolv}");
        assert!(resolv.contains("search b2c.test\n"), "{resolv}");
        let log = lab.log();
        assert!(log.contains("DHCPDISCOVER(vs0-a)"), "{log}");
        assert!(
            log.contains(&format!("DHCPACK(vs0-a) {}", p.address)),
            "{log}"
        );
    }
    let us: Vec<u128> = times.iter().map(|t| t.as_micros()).collect();
    eprintln!(
        "link up to lease against dnsmasq, {} runs: {us:?} us, median {} us",
        times.len(),
        median(times.clone()).as_micros()
    );
    eprintln!(
        "whole bring_up call (netlink connect, lo, link up, lease): median {} us",
        median(calls).as_micros()
    );
    assert!(
        median(times) < Duration::from_millis(500),
        "slow leases: {us:?} us"
    );
}

#[test]
fn renewal_with_short_lease() {
    let Some(mut lab) = Lab::new("r", &[12]) else {
        return;
    };
    lab.start_dnsmasq(100, 150);
    let opts = lab.options(&["eth0"], Duration::from_secs(10));
    let (before, after) = lab.in_client(move || async move {
        let summary = bring_up(&opts).await.unwrap();
        let mut h = summary.interface("eth0").unwrap().clone();
        // 120 s lease: T1 at 60 s.
        let renewed = h
            .wait_for(
                Duration::from_secs(90),
                |s| matches!(s, InterfaceStatus::Leased(l) if l.renewals >= 1),
            )
            .await;
        (summary.primary, renewed)
    });
    let Some(InterfaceStatus::Leased(after)) = after else {
        panic!("no renewal within 90 s; dnsmasq log:\n{}", lab.log());
    };
    assert_eq!(after.address, before.address);
    let log = lab.log();
    let acks = log
        .matches(&format!("DHCPACK(vs0-r) {}", before.address))
        .count();
    assert!(acks >= 2, "dnsmasq acked {acks} times:\n{log}");
    let addrs = lab.client_ip(&["-4", "addr", "show", "dev", "eth0"]);
    assert!(
        addrs.contains(&format!("inet {}/24", before.address)),
        "{addrs}"
    );
}

#[test]
fn nak_after_server_range_change() {
    let Some(mut lab) = Lab::new("n", &[13]) else {
        return;
    };
    lab.start_dnsmasq(100, 150);
    let opts = lab.options(&["eth0"], Duration::from_secs(10));
    let summary = lab.in_client(move || async move { bring_up(&opts).await.unwrap() });
    let old = summary.primary.address;
    assert!(in_range(old, 13, 100, 150));
    // The runtime above is gone: run a fresh client, then change the server.
    let opts = lab.options(&["eth0"], Duration::from_secs(10));
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let path = format!("/run/netns/{}", lab.client_ns);
    let client = std::thread::spawn(move || {
        let ns = std::fs::File::open(&path).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let summary = bring_up(&opts).await.unwrap();
            let mut h = summary.interface("eth0").unwrap().clone();
            done_tx.send(summary.primary.address).unwrap();
            // Wait (off the runtime) for the server to change.
            tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
                .await
                .unwrap()
                .unwrap();
            h.renew_now();
            let started = Instant::now();
            let new = h
                .wait_for(Duration::from_secs(20), |s| {
                    matches!(s, InterfaceStatus::Leased(l) if in_range(l.address, 13, 200, 250))
                })
                .await;
            (new, started.elapsed())
        })
    });
    let first = done_rx.recv_timeout(Duration::from_secs(15)).unwrap();
    assert_eq!(first, old, "same client id, same address");
    lab.start_dnsmasq(200, 250);
    tx.send(()).unwrap();
    let (new, took) = match client.join() {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    };
    let log = lab.log();
    let Some(InterfaceStatus::Leased(new)) = new else {
        panic!("no new lease after the range change; dnsmasq log:\n{log}");
    };
    eprintln!(
        "NAK to new lease {} in {} ms",
        new.address,
        took.as_millis()
    );
    assert!(log.contains(&format!("DHCPNAK(vs0-n) {old}")), "{log}");
    assert!(
        log.contains(&format!("DHCPACK(vs0-n) {}", new.address)),
        "{log}"
    );
    let addrs = lab.client_ip(&["-4", "addr", "show", "dev", "eth0"]);
    assert!(
        addrs.contains(&format!("inet {}/24", new.address)),
        "{addrs}"
    );
    assert!(
        !addrs.contains(&format!("inet {old}/")),
        "old address kept: {addrs}"
    );
    let routes = lab.client_ip(&["-4", "route", "show", "default"]);
    assert!(
        routes.contains("default via 10.213.13.1 dev eth0"),
        "{routes}"
    );
}

#[test]
fn no_server_fails_in_about_the_timeout() {
    let Some(lab) = Lab::new("x", &[14]) else {
        return;
    };
    let opts = lab.options(&["eth0"], Duration::from_secs(3));
    let (result, took) = lab.in_client(move || async move {
        let start = Instant::now();
        let r = bring_up(&opts).await;
        (r.map(|s| s.primary), start.elapsed())
    });
    match result {
        Err(NetError::NoLease { tried, timeout }) => {
            assert_eq!(timeout, Duration::from_secs(3));
            assert_eq!(tried.len(), 1);
            assert_eq!(tried[0].name, "eth0");
            assert_eq!(tried[0].status, InterfaceStatus::Discovering);
            let msg = NetError::NoLease { tried, timeout }.to_string();
            assert!(msg.contains("eth0"), "{msg}");
        }
        other => panic!("expected NoLease, got {other:?}"),
    }
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_millis(3500),
        "took {took:?}"
    );
}

#[test]
fn several_interfaces_and_one_without_carrier() {
    let Some(mut lab) = Lab::new("m", &[15, 16, 17]) else {
        return;
    };
    // eth2's peer is down: eth2 never gets a carrier.
    lab.start_dnsmasq(100, 150);
    run(&["ip", "-n", &lab.server_ns, "link", "set", "vs2-m", "down"]);
    let opts = lab.options(&["eth0", "eth1", "eth2"], Duration::from_secs(10));
    let (summary, statuses) = lab.in_client(move || async move {
        let start = Instant::now();
        let summary = bring_up(&opts).await.unwrap();
        assert!(start.elapsed() < Duration::from_secs(2), "held up");
        let mut statuses = Vec::new();
        for name in ["eth0", "eth1"] {
            let mut h = summary.interface(name).unwrap().clone();
            let s = h
                .wait_for(Duration::from_secs(10), |s| {
                    matches!(s, InterfaceStatus::Leased(_))
                })
                .await;
            statuses.push(s);
        }
        let mut eth2 = summary.interface("eth2").unwrap().clone();
        statuses.push(
            eth2.wait_for(Duration::from_secs(2), |s| *s == InterfaceStatus::NoCarrier)
                .await,
        );
        (summary, statuses)
    });
    let leases: Vec<_> = statuses[..2]
        .iter()
        .map(|s| match s {
            Some(InterfaceStatus::Leased(l)) => l.clone(),
            other => panic!("no lease: {other:?}"),
        })
        .collect();
    assert!(in_range(leases[0].address, 15, 100, 150));
    assert!(in_range(leases[1].address, 16, 100, 150));
    assert_eq!(leases.iter().filter(|l| l.primary).count(), 1);
    assert_eq!(statuses[2], Some(InterfaceStatus::NoCarrier));
    let primary = &summary.primary.interface;
    let routes = lab.client_ip(&["-4", "route", "show", "default"]);
    assert_eq!(routes.lines().count(), 1, "one default route: {routes}");
    assert!(routes.contains(&format!("dev {primary}")), "{routes}");
}

#[test]
fn autodetect_skips_virtual_interfaces() {
    // The client namespace has only lo and a veth named eth0: nothing to use.
    let Some(lab) = Lab::new("v", &[18]) else {
        return;
    };
    let opts = lab.options(&[], Duration::from_millis(500));
    let result = lab.in_client(move || async move { bring_up(&opts).await.map(|s| s.primary) });
    match result {
        Err(NetError::NoInterface { present }) => {
            assert!(present.contains(&"lo".to_string()), "{present:?}");
            assert!(present.contains(&"eth0".to_string()), "{present:?}");
        }
        other => panic!("expected NoInterface, got {other:?}"),
    }
}

#[test]
fn missing_named_interface_is_reported() {
    let Some(lab) = Lab::new("i", &[19]) else {
        return;
    };
    let opts = lab.options(&["eth7"], Duration::from_millis(500));
    let result = lab.in_client(move || async move { bring_up(&opts).await.map(|s| s.primary) });
    match result {
        Err(e @ NetError::MissingInterface { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("eth7") && msg.contains("eth0"), "{msg}");
        }
        other => panic!("expected MissingInterface, got {other:?}"),
    }
}

#[test]
fn lease_with_strict_reverse_path_filter() {
    // Some systems set rp_filter=1; replies to an interface without an
    // address must still come through.
    let Some(mut lab) = Lab::new("p", &[20]) else {
        return;
    };
    lab.start_dnsmasq(100, 150);
    for key in ["all", "default", "eth0"] {
        run(&[
            "ip",
            "netns",
            "exec",
            &lab.client_ns,
            "sysctl",
            "-qw",
            &format!("net.ipv4.conf.{key}.rp_filter=1"),
        ]);
    }
    let opts = lab.options(&["eth0"], Duration::from_secs(5));
    let lease = lab.in_client(move || async move { bring_up(&opts).await.map(|s| s.primary) });
    let lease = lease.unwrap_or_else(|e| panic!("{e}; dnsmasq log:\n{}", lab.log()));
    assert!(in_range(lease.address, 20, 100, 150), "{lease:?}");
}

/// `b2c.iface` lines through `net::setup_with`: DHCP on eth0, a static
/// address, a route and nameservers on eth1, and a missing interface.
#[test]
fn iface_lines_static_and_dhcp() {
    use boot2container::net::{setup_with, SetupOptions};
    let Some(mut lab) = Lab::new("s", &[31, 32]) else {
        return;
    };
    lab.start_dnsmasq(100, 150);
    let resolv = lab.resolv_conf();
    let opts = SetupOptions {
        timeout: Duration::from_secs(10),
        resolv_conf: resolv.clone(),
        pnp: lab.dir.join("pnp"),
    };
    let config = boot2container::cmdline::parse(
        b"b2c.iface=eth0,dhcp b2c.iface=eth1,address=10.213.32.15/24,route=10.214.0.0/24:10.213.32.1,nameserver=10.213.32.3,nameserver=10.213.32.4",
    );
    assert!(config.errors.is_empty(), "{:?}", config.errors);
    let o = opts.clone();
    let (setup, ntp) = lab.in_client(move || async move {
        let s = setup_with(&config, &o).await.unwrap();
        let ntp = s.ntp_servers();
        (s.describe(), ntp)
    });
    assert_eq!(setup[0], "Network configured from b2c.iface");
    assert!(setup.contains(
        &"eth1: static 10.213.32.15/24, route 10.214.0.0/24 via 10.213.32.1".to_string()
    ));
    assert!(
        setup.iter().any(|l| l.starts_with("eth0: DHCP 10.213.31.")
            && l.ends_with(", default route via 10.213.31.1")),
        "{setup:?}"
    );
    assert_eq!(ntp, vec![Ipv4Addr::new(10, 213, 31, 123)]);
    let addrs = lab.client_ip(&["-4", "addr", "show", "eth1"]);
    assert!(addrs.contains("10.213.32.15/24"), "{addrs}");
    let routes = lab.client_ip(&["-4", "route"]);
    assert!(
        routes.contains("10.214.0.0/24 via 10.213.32.1 dev eth1"),
        "{routes}"
    );
    assert!(
        routes.contains("default via 10.213.31.1 dev eth0"),
        "{routes}"
    );
    let text = std::fs::read_to_string(&resolv).unwrap();
    let ns: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver "))
        .collect();
    assert_eq!(ns, ["10.213.32.3", "10.213.32.4", "10.213.31.53"], "{text}");

    // A static gateway wins over the DHCP router; lo is up.
    let config = boot2container::cmdline::parse(
        b"b2c.iface=eth0,dhcp b2c.iface=eth1,address=10.213.32.16/24,gateway=10.213.32.1",
    );
    let o = opts.clone();
    lab.in_client(move || async move { setup_with(&config, &o).await.unwrap().describe() });
    let routes = lab.client_ip(&["-4", "route"]);
    assert!(
        routes.contains("default via 10.213.32.1 dev eth1"),
        "{routes}"
    );
    assert!(lab.client_ip(&["link", "show", "lo"]).contains("UP"));

    // A named interface that never appears: bounded, names it and the others.
    let config = boot2container::cmdline::parse(b"b2c.iface=eth7,address=10.9.9.9/24");
    let o = SetupOptions {
        timeout: Duration::from_secs(1),
        ..opts
    };
    let start = Instant::now();
    let err = lab.in_client(move || async move { setup_with(&config, &o).await.err().unwrap() });
    assert!(start.elapsed() < Duration::from_secs(3));
    let msg = err.to_string();
    assert!(
        msg.starts_with("interface eth7 not found within 1s; interfaces present: lo, eth0, eth1"),
        "{msg}"
    );
}
