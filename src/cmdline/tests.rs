//! Tests of [`parse`](super::parse) and [`merge_extra_args`](super::merge_extra_args)
//! on whole command lines, each with its full expected result.

use super::*;
use std::net::IpAddr;

fn spec(source: &str, args: &[&str]) -> ContainerSpec {
    ContainerSpec {
        source: source.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn url(s: &str) -> Url {
    Url::parse(s, &["http", "https"]).unwrap()
}

fn loc(s: &str) -> S3Location {
    S3Location::parse(s).unwrap()
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn empty_and_kernel_only_lines() {
    assert_eq!(parse(b""), Config::default());
    assert_eq!(parse(b"\n"), Config::default());
    assert_eq!(
        parse(b"BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet console=ttyS0,115200 \"foo=a b\"\n"),
        Config::default()
    );
}

#[test]
fn run_alpine() {
    let c = parse(b"b2c.run=\"-it docker.io/alpine:3.20\"");
    assert_eq!(
        c,
        Config {
            run: vec![spec(
                "-it docker.io/alpine:3.20",
                &["-it", "docker.io/alpine:3.20"]
            )],
            ..Config::default()
        }
    );
}

#[test]
fn simple_settings() {
    let c = parse(
        b"b2c.hostname=plop b2c.keymap=fr b2c.pipefail b2c.poweroff_delay=15 b2c.ntp_peer=auto",
    );
    assert_eq!(
        c,
        Config {
            hostname: Some("plop".into()),
            keymap: Some("fr".into()),
            pipefail: true,
            poweroff_delay: Duration::from_secs(15),
            ntp_peer: NtpPeer::Auto,
            ..Config::default()
        }
    );
}

#[test]
fn login_example() {
    let c = parse("b2c.login=registry.fake,username=kovalsik,password=cacahuètes".as_bytes());
    assert_eq!(
        c,
        Config {
            logins: vec![Login {
                registry: "registry.fake".into(),
                username: "kovalsik".into(),
                password: Secret::new("cacahuètes"),
                plain_http: false,
            }],
            ..Config::default()
        }
    );
    assert!(!format!("{c:?}").contains("cacahuètes"));
}

#[test]
fn login_to_a_registry_without_tls() {
    let c = parse(
        b"b2c.login=http://10.42.0.1:5000,username=ci,password=pw b2c.login=https://r.fake,username=u,password=p",
    );
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.logins[0].registry, "10.42.0.1:5000");
    assert!(c.logins[0].plain_http);
    assert_eq!(c.logins[1].registry, "r.fake");
    assert!(!c.logins[1].plain_http);
    let c = parse(b"b2c.login=ftp://r.fake,username=u,password=p");
    assert_eq!(
        c.errors,
        ["b2c.login: \"ftp://r.fake\" is not a registry (expected [http://]HOST[:PORT][/PATH], like registry.fake or http://10.42.0.1:5000)"]
    );
}

#[test]
fn iface_examples() {
    let c = parse(b"b2c.iface=eth0,dhcp,nameserver=9.9.9.9 b2c.iface=eth1,address=192.168.42.1/24 b2c.iface=eth2,dhcp,forward");
    let iface = |name: &str| Iface {
        name: name.into(),
        dhcp: false,
        address: None,
        gateway: None,
        nameservers: vec![],
        routes: vec![],
        forward: false,
    };
    assert_eq!(
        c,
        Config {
            ifaces: vec![
                Iface {
                    dhcp: true,
                    nameservers: vec![ip("9.9.9.9")],
                    ..iface("eth0")
                },
                Iface {
                    address: Cidr::parse("192.168.42.1/24"),
                    ..iface("eth1")
                },
                Iface {
                    dhcp: true,
                    forward: true,
                    ..iface("eth2")
                },
            ],
            ..Config::default()
        }
    );
}

#[test]
fn filesystem_example() {
    let c = parse(b"b2c.filesystem=fs-web,type=nfs,src=w.fake:/web,opts=ro");
    assert_eq!(
        c,
        Config {
            filesystems: vec![Filesystem {
                name: "fs-web".into(),
                src: "w.fake:/web".into(),
                fstype: Some("nfs".into()),
                opts: strings(&["ro"]),
            }],
            ..Config::default()
        }
    );
}

#[test]
fn minio_and_volume_example() {
    let c = parse(b"b2c.minio=\"job,http://10.42.0.1:9000,KEY,SECRET\" b2c.volume=\"job-vol,mirror=job/bucket/prefix,pull_on=pipeline_start,push_on=changes|pipeline_end,overwrite,remove,exclude=*.tmp,expiration=pipeline_end\"");
    assert_eq!(
        c,
        Config {
            minio: vec![Minio {
                alias: "job".into(),
                url: url("http://10.42.0.1:9000"),
                access_key: Secret::new("KEY"),
                secret_key: Secret::new("SECRET"),
            }],
            volumes: vec![Volume {
                name: "job-vol".into(),
                mirror: Some(loc("job/bucket/prefix")),
                pull_on: vec![Condition::PipelineStart],
                push_on: vec![Condition::Changes],
                overwrite: true,
                remove: true,
                exclude: strings(&["*.tmp"]),
                expiration: Expiration::PipelineEnd,
                ..Volume::default()
            }],
            warnings: vec![Problem::new(Some("b2c.volume"), "b2c.volume=job-vol: push_on has \"changes\", so \"pipeline_end\" is ignored (changes already pushes continuously and once at pipeline end)")
                .with_instance("job-vol")
                .with_field("push_on")],
            ..Config::default()
        }
    );
}

#[test]
fn mesa_ci_line() {
    let line = b"b2c.container=\"-ti --tls-verify=false docker://10.42.0.1:8002/mesa/mesa/debian/x86_64_test-gl:2024-01-01-abcdef\" b2c.ntp_peer=10.42.0.1 b2c.pipefail b2c.cache_device=auto b2c.swap=8G b2c.poweroff_delay=15 b2c.extra_args_url=http://10.42.0.1:8000/job/1234/extra_args b2c.post_container=\"-v job-vol:/results docker://10.42.0.1:8002/tools/uploader:1 upload /results\" b2c.service=\"--name=sshd docker://10.42.0.1:8002/tools/sshd:1\" b2c.hostname=dut-42 console=ttyS0,115200 earlyprintk=vga,keep loglevel=6 ip=dhcp amdgpu.gpu_recovery=1 initcall_blacklist=simpledrm_platform_driver_init\n";
    let c = parse(line);
    assert_eq!(
        c,
        Config {
            run: vec![spec(
                "-ti --tls-verify=false docker://10.42.0.1:8002/mesa/mesa/debian/x86_64_test-gl:2024-01-01-abcdef",
                &["-ti", "--tls-verify=false", "docker://10.42.0.1:8002/mesa/mesa/debian/x86_64_test-gl:2024-01-01-abcdef"],
            )],
            run_post: vec![spec(
                "-v job-vol:/results docker://10.42.0.1:8002/tools/uploader:1 upload /results",
                &["-v", "job-vol:/results", "docker://10.42.0.1:8002/tools/uploader:1", "upload", "/results"],
            )],
            run_service: vec![spec(
                "--name=sshd docker://10.42.0.1:8002/tools/sshd:1",
                &["--name=sshd", "docker://10.42.0.1:8002/tools/sshd:1"],
            )],
            pipefail: true,
            poweroff_delay: Duration::from_secs(15),
            hostname: Some("dut-42".into()),
            ntp_peer: NtpPeer::Host("10.42.0.1".into()),
            extra_args_url: Some(url("http://10.42.0.1:8000/job/1234/extra_args")),
            cache_device: CacheDevice::Auto,
            swap: Some(Swap {
                target: SwapTarget::File { size: 8 << 30 },
                swappiness: None
            }),
            kernel_ip: Some("dhcp".into()),
            ..Config::default()
        }
    );
}

#[test]
fn spec_examples_storage() {
    let c = parse(b"b2c.filesystem=images,src=10.0.2.2:/images,type=nfs4,opt=ro|nolock b2c.storage=additionalimagestores=images b2c.cache_device=/dev/sda b2c.swap=512M,swappiness=10 b2c.nbd=/dev/nbd0,host=10.0.2.2,port=10809,name=disk b2c.modules=nbd,nfsv4 b2c.insmods=extra.ko b2c.modules=veth");
    assert_eq!(
        c,
        Config {
            filesystems: vec![Filesystem {
                name: "images".into(),
                src: "10.0.2.2:/images".into(),
                fstype: Some("nfs4".into()),
                opts: strings(&["ro", "nolock"]),
            }],
            storage: vec![StorageOption {
                key: "additionalimagestores".into(),
                value: "images".into()
            }],
            cache_device: CacheDevice::Device {
                path: "/dev/sda".into()
            },
            swap: Some(Swap {
                target: SwapTarget::File { size: 512 << 20 },
                swappiness: Some(10)
            }),
            nbds: vec![Nbd {
                device: "/dev/nbd0".into(),
                host: "10.0.2.2".into(),
                port: 10809,
                name: Some("disk".into()),
                connections: 1
            }],
            modules: strings(&["nbd", "nfsv4", "veth"]),
            insmods: strings(&["extra.ko"]),
            ..Config::default()
        }
    );
}

#[test]
fn cache_device_on_a_filesystem() {
    let c = parse(b"b2c.cache_device=cache b2c.filesystem=cache,src=/dev/vdb1,type=ext4");
    assert_eq!(
        c.cache_device,
        CacheDevice::Filesystem {
            name: "cache".into()
        }
    );
    assert!(c.errors.is_empty());
    // The original said the name is none of those and defaulted to none.
    let c = parse(b"b2c.cache_device=cahce b2c.filesystem=cache,src=/dev/vdb1");
    assert_eq!(c.cache_device, CacheDevice::None);
    assert!(c.errors.is_empty());
    assert_eq!(
        c.warnings,
        [Problem::new(Some("b2c.cache_device"), "b2c.cache_device: \"cahce\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line (defined: cache); defaulting to none (images and volumes live in RAM)")
            .with_suggestion("cache")]
    );
}

#[test]
fn swap_file_without_cache_warns() {
    let c = parse(b"b2c.swap=8G");
    assert_eq!(
        c.warnings,
        ["b2c.swap: a swap file needs a cache device, and b2c.cache_device is none: no swap"]
    );
    assert!(parse(b"b2c.swap=/dev/vdb").warnings.is_empty());
}

#[test]
fn shutdown_and_reboot_commands() {
    let c = parse(
        b"b2c.shutdown_cmd=\"/bin/sh -c 'echo bye; poweroff -f'\" b2c.reboot_cmd=\"reboot -f\"",
    );
    assert_eq!(
        c.shutdown_cmd,
        Some(strings(&["/bin/sh", "-c", "echo bye; poweroff -f"]))
    );
    assert_eq!(c.reboot_cmd, Some(strings(&["reboot", "-f"])));
    // A command that cannot be split: the default one (a warning).
    let c = parse(b"b2c.reboot_cmd=\"reboot -f\" b2c.reboot_cmd=\"'x\"");
    assert_eq!(c.reboot_cmd, None);
    assert!(c.errors.is_empty());
    assert_eq!(
        c.warnings,
        ["b2c.reboot_cmd: unterminated single quote in \"'x\"; the init reboots itself"]
    );
    let c = parse(b"b2c.shutdown_cmd=\" \"");
    assert_eq!(c.shutdown_cmd, None);
    assert_eq!(
        c.warnings,
        ["b2c.shutdown_cmd: no command given; the init powers off itself"]
    );
}

#[test]
fn proxy_and_url() {
    let c = parse(b"b2c.proxy=https=http://p:3128,no=localhost|10.42.0.1 b2c.extra_args_url=https://ci.example/args.txt");
    let p = c.proxy.unwrap();
    assert_eq!(p.https.unwrap().to_string(), "http://p:3128");
    assert_eq!(p.http, None);
    assert_eq!(p.no, strings(&["localhost", "10.42.0.1"]));
    assert_eq!(c.extra_args_url.unwrap().host, "ci.example");
    assert_eq!(
        parse(b"b2c.extra_args_url=ftp://x/y").errors,
        ["b2c.extra_args_url: the URL has the scheme \"ftp\", expected http|https"]
    );
}

#[test]
fn aliases_and_repetition() {
    let c = parse(b"b2c.container=a b2c.run=b b2c.post_container=c b2c.run_post=d b2c.service=e b2c.run_service=f");
    let images = |v: &[ContainerSpec]| v.iter().map(|s| s.source.clone()).collect::<Vec<_>>();
    assert_eq!(images(&c.run), ["a", "b"]);
    assert_eq!(images(&c.run_post), ["c", "d"]);
    assert_eq!(images(&c.run_service), ["e", "f"]);
    // Last one wins for the others.
    let c = parse(b"b2c.hostname=a b2c.hostname=b b2c.poweroff_delay=1 b2c.poweroff_delay=2 b2c.cache_device=auto b2c.cache_device=none");
    assert_eq!(c.hostname.as_deref(), Some("b"));
    assert_eq!(c.poweroff_delay, Duration::from_secs(2));
    assert_eq!(c.cache_device, CacheDevice::None);
    assert!(c.warnings.is_empty() && c.errors.is_empty());
}

#[test]
fn named_definitions_replace_with_a_warning() {
    let c = parse(b"b2c.iface=eth0,dhcp b2c.iface=eth0,address=10.0.0.2/8");
    assert_eq!(c.ifaces.len(), 1);
    assert!(!c.ifaces[0].dhcp);
    assert_eq!(
        c.warnings,
        ["b2c.iface=eth0: defined again; this definition replaces the earlier one"]
    );
}

#[test]
fn tokenising_through_parse() {
    // Mixed quoted and unquoted parts.
    let c = parse(b"b2c.volume=\"a,overwrite\",remove");
    assert!(c.volumes[0].overwrite && c.volumes[0].remove);
    // Tabs and newlines separate.
    let c = parse(b"b2c.hostname=x\tb2c.keymap=us\nb2c.pipefail");
    assert_eq!(
        (c.hostname.as_deref(), c.keymap.as_deref(), c.pipefail),
        (Some("x"), Some("us"), true)
    );
    // Unbalanced quote: the rest of the line, and a warning.
    let c = parse(b"b2c.run=\"img sh -c 'x' b2c.hostname=h\n");
    assert_eq!(
        c.run[0].args,
        strings(&["img", "sh", "-c", "x", "b2c.hostname=h"])
    );
    assert_eq!(c.hostname, None);
    assert_eq!(
        c.warnings,
        ["b2c.run: unbalanced double quote: the rest of the command line is taken as its value"]
    );
    // A bare word is not shown (it could be a piece of a secret).
    let c = parse(b"b2c.login=r,username=u,password=a \"b");
    assert_eq!(
        c.warnings,
        ["unbalanced double quote in a word of the command line (not shown): the rest of the command line is part of it"]
    );
    // Even in a kernel option, since it swallows the b2c options after it.
    let c = parse(b"console=\"ttyS0 b2c.hostname=h");
    assert_eq!(c.hostname, None);
    assert_eq!(
        c.warnings,
        ["unbalanced double quote in a word of the command line (not shown): the rest of the command line is part of it"]
    );
}

#[test]
fn container_values() {
    let c = parse(b"b2c.run=\"-e HOME=$HOME img sh -c 'echo $(id) *'\"");
    assert_eq!(
        c.run[0].args,
        strings(&["-e", "HOME=$HOME", "img", "sh", "-c", "echo $(id) *"])
    );
    let e = |s: &[u8]| parse(s).errors;
    assert_eq!(
        e(b"b2c.run=\"img sh -c 'x\""),
        ["b2c.run: unterminated single quote in \"img sh -c 'x\""]
    );
    assert_eq!(
        e(b"b2c.run=img\\"),
        ["b2c.run: trailing backslash in \"img\\\""]
    );
    assert_eq!(e(b"b2c.run="), ["b2c.run: empty value"]);
    assert_eq!(e(b"b2c.run"), ["b2c.run: needs a value (b2c.run=...)"]);
    assert_eq!(e(b"b2c.service=\"  \""), ["b2c.service: no podman run arguments (expected [PODMAN OPTIONS] IMAGE [COMMAND [ARG...]])"]);
    assert_eq!(
        e(b"b2c.container=\"-ti --rm\""),
        ["b2c.container: no image in \"-ti --rm\" (expected [PODMAN OPTIONS] IMAGE [COMMAND [ARG...]])"]
    );
}

#[test]
fn control_characters_are_escaped_in_messages() {
    let c = parse(b"b2c.iface=\"a\x1b[2Jb\" b2c.\x1b[31m=1 b2c.swap=1G,\x1b=1");
    assert_eq!(
        c.errors,
        ["b2c.iface: \"a\\u{1b}[2Jb\" is not a valid interface name (1 to 15 characters, no '/', ':' or spaces)"]
    );
    assert_eq!(c.warnings[0], "b2c.\\u{1b}[31m: unknown option ignored");
    assert_eq!(c.warnings[0].option.as_deref(), Some("b2c.\\u{1b}[31m"));
    // Every part of a problem, the field's name too.
    assert_eq!(c.warnings[1].field.as_deref(), Some("\\u{1b}"));
    assert_eq!(
        parse(b"ip=\xff").warnings,
        ["ip: the value is not valid UTF-8 text; option ignored"]
    );
}

#[test]
fn unknown_keys() {
    let c = parse(b"b2c.hostnme=x b2c.containers=y b2c.zzzzzzzzzzzz=1 B2C.run=x b2cfoo=1");
    assert_eq!(
        c.warnings,
        [
            "b2c.hostnme: unknown option ignored (did you mean b2c.hostname?)",
            "b2c.containers: unknown option ignored (did you mean b2c.container?)",
            "b2c.zzzzzzzzzzzz: unknown option ignored",
        ]
    );
    assert!(c.errors.is_empty());
}

/// Parses `line` and checks that it gives no error and exactly `warning`.
fn lenient(line: &str, warning: &str) -> Config {
    let c = parse(line.as_bytes());
    assert!(c.errors.is_empty(), "{line}: {:?}", c.errors);
    assert_eq!(c.warnings, [warning], "{line}");
    c
}

#[test]
fn poweroff_delay_as_busybox_sleep_reads_it() {
    let delay = |v: &str| {
        let c = parse(format!("b2c.poweroff_delay={v}").as_bytes());
        assert!(c.errors.is_empty() && c.warnings.is_empty(), "{v}");
        c.poweroff_delay
    };
    assert_eq!(delay("15"), Duration::from_secs(15));
    assert_eq!(delay("1.5"), Duration::from_millis(1500));
    assert_eq!(delay(".25"), Duration::from_millis(250));
    assert_eq!(delay("2."), Duration::from_secs(2));
    assert_eq!(delay("0"), Duration::ZERO);
    assert_eq!(delay("3s"), Duration::from_secs(3));
    assert_eq!(delay("1.5m"), Duration::from_secs(90));
    assert_eq!(delay("2h"), Duration::from_secs(7200));
    assert_eq!(delay("1d"), Duration::from_secs(86_400));
    // What sleep refuses: a warning and no delay, whatever came before.
    for v in ["abc", "-1", "1.5.2", "1x", "s", ".", "1 2", "1e3", "+3"] {
        let c = lenient(
            &format!("b2c.poweroff_delay=10 b2c.poweroff_delay=\"{v}\""),
            &format!("b2c.poweroff_delay: \"{v}\" is not a number of seconds (like 15, 1.5 or 2m); powering off without delay"),
        );
        assert_eq!(c.poweroff_delay, Duration::ZERO, "{v}");
    }
    lenient(
        "b2c.poweroff_delay",
        "b2c.poweroff_delay: needs a value (b2c.poweroff_delay=...); powering off without delay",
    );
    // More than a day waits a day.
    for v in ["100000", "2d", "99999999999999999999999", "inf", "infinity"] {
        let c = lenient(
            &format!("b2c.poweroff_delay={v}"),
            &format!("b2c.poweroff_delay: \"{v}\" is more than one day: waiting one day (86400 s)"),
        );
        assert_eq!(c.poweroff_delay, POWEROFF_DELAY_MAX, "{v}");
    }
    // In seconds in the checker's JSON: whole, or not.
    let json = |v: &str| {
        serde_json::to_value(parse(format!("b2c.poweroff_delay={v}").as_bytes())).unwrap()
            ["poweroff_delay"]
            .clone()
    };
    assert_eq!(json("15"), serde_json::json!(15));
    assert_eq!(json("1.5"), serde_json::json!(1.5));
}

#[test]
fn cache_device_names_that_are_none_of_those_mean_none() {
    for v in ["a b", "/tmp/x", "/dev/", "bogus", "fs:1"] {
        let c = parse(format!("b2c.cache_device=auto b2c.cache_device=\"{v}\"").as_bytes());
        assert_eq!(c.cache_device, CacheDevice::None, "{v}");
        assert!(c.errors.is_empty(), "{v}: {:?}", c.errors);
        assert_eq!(c.warnings.len(), 1, "{v}");
        assert!(
            c.warnings[0]
                .message
                .starts_with(&format!("b2c.cache_device: \"{v}\" is not ")),
            "{v}"
        );
        assert!(
            c.warnings[0]
                .message
                .ends_with("; defaulting to none (images and volumes live in RAM)"),
            "{v}"
        );
    }
    lenient(
        "b2c.cache_device=/dev/",
        "b2c.cache_device: \"/dev/\" is not a device path (expected /dev/NAME); defaulting to none (images and volumes live in RAM)",
    );
    lenient(
        "b2c.cache_device=bogus",
        "b2c.cache_device: \"bogus\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line (none is defined); defaulting to none (images and volumes live in RAM)",
    );
    // A swap file then has no cache to live on.
    let c = parse(b"b2c.cache_device=bogus b2c.swap=1G");
    assert_eq!(
        c.swap.as_ref().map(|s| &s.target),
        Some(&SwapTarget::File { size: 1 << 30 })
    );
    assert!(c.warnings[1]
        .message
        .contains("a swap file needs a cache device"));
}

#[test]
fn hostname_keymap_and_ntp_fall_back() {
    let c = lenient(
        "b2c.hostname=plop b2c.hostname=-bad",
        "b2c.hostname: \"-bad\" is not a valid host name (letters, digits and '-', in labels of 1 to 63 characters separated by '.', no '-' at either end of a label); the host name is boot2container",
    );
    assert_eq!(c.hostname, None);
    lenient(
        "b2c.hostname",
        "b2c.hostname: needs a value (b2c.hostname=...); the host name is boot2container",
    );
    let c = lenient(
        "b2c.keymap=../etc/passwd",
        "b2c.keymap: \"../etc/passwd\" is not a keymap name (letters, digits, '_', '-' and '.', like fr, us or de-latin1); the kernel's keymap is kept",
    );
    assert_eq!(c.keymap, None);
    let c = lenient(
        "b2c.ntp_peer=auto b2c.ntp_peer=\"a b\"",
        "b2c.ntp_peer: \"a b\" is not none, auto or a host name or IP address; the clock is not set",
    );
    assert_eq!(c.ntp_peer, NtpPeer::None);
}

#[test]
fn swap_that_cannot_be_made_is_no_swap() {
    for (v, warning) in [
        (
            "8Q",
            "b2c.swap: size \"8Q\" has an unknown unit \"Q\" (expected K, M, G or T); no swap",
        ),
        (
            "100K",
            "b2c.swap: size \"100K\" is too small (at least 1M); no swap",
        ),
        (
            "2T",
            "b2c.swap: size \"2T\" is too large (at most 1T); no swap",
        ),
        (
            "/dev/",
            "b2c.swap: \"/dev/\" is not a device path (expected /dev/NAME); no swap",
        ),
        (
            "1G,swappiness=300",
            "b2c.swap: swappiness \"300\" is not a number from 0 to 200; no swap",
        ),
    ] {
        let c = lenient(&format!("b2c.swap=/dev/vdb b2c.swap={v}"), warning);
        assert_eq!(c.swap, None, "{v}");
    }
    let c = parse(b"b2c.swap=1G,swappiness=300");
    assert_eq!(c.warnings[0].field.as_deref(), Some("swappiness"));
}

#[test]
fn pipefail_with_another_value_is_off() {
    assert!(parse(b"b2c.pipefail=true").pipefail);
    assert!(!parse(b"b2c.pipefail b2c.pipefail=0").pipefail);
    let c = lenient(
        "b2c.pipefail b2c.pipefail=maybe",
        "b2c.pipefail: \"maybe\" is not a boolean (write b2c.pipefail alone, or b2c.pipefail=1 / b2c.pipefail=0); pipefail is off",
    );
    assert!(!c.pipefail);
}

#[test]
fn odd_module_names_are_skipped() {
    let c = lenient(
        "b2c.modules=nbd,a/b,vfat",
        "b2c.modules: \"a/b\" is not a module name (letters, digits, '_' and '-'); it is skipped",
    );
    assert_eq!(c.modules, strings(&["nbd", "vfat"]));
    let c = lenient(
        "b2c.insmods=\"x.ko,a b.ko\"",
        "b2c.insmods: \"a b.ko\" is not a module file name; it is skipped",
    );
    assert_eq!(c.insmods, strings(&["x.ko"]));
}

#[test]
fn what_cannot_run_stays_an_error() {
    let e = |s: &[u8]| parse(s).errors;
    assert_eq!(e(b"b2c.run"), ["b2c.run: needs a value (b2c.run=...)"]);
    assert_eq!(
        e(b"b2c.extra_args_url=x"),
        ["b2c.extra_args_url: the URL is not a URL (expected http|https://HOST...)"]
    );
    assert_eq!(
        e(b"b2c.iface=eth0,address=1.2.3"),
        ["b2c.iface=eth0: address \"1.2.3\" is not a valid CIDR (expected ADDRESS/PREFIX, like 192.168.42.1/24)"]
    );
    assert_eq!(
        e(b"b2c.filesystem=fs"),
        ["b2c.filesystem=fs: field \"src\" is missing (src=SOURCE is mandatory)"]
    );
    assert_eq!(
        e(b"b2c.strict=maybe"),
        ["b2c.strict: \"maybe\" is not a boolean (write b2c.strict alone, or b2c.strict=1 / b2c.strict=0)"]
    );
    assert_eq!(
        parse(b"ip=").warnings,
        ["ip: empty value; the kernel ignores it"]
    );
}

#[test]
fn strict_makes_every_warning_an_error() {
    let line = "b2c.cache_device=bogus b2c.poweroff_delay=abc b2c.colour=blue b2c.run=img";
    let c = parse(line.as_bytes());
    assert_eq!(c.warnings.len(), 3);
    assert!(c.errors.is_empty());
    // Wherever b2c.strict is on the line.
    for strict in [format!("b2c.strict {line}"), format!("{line} b2c.strict=1")] {
        let s = parse(strict.as_bytes());
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert!(s.strict);
        let expected: Vec<String> = c
            .warnings
            .iter()
            .map(|w| format!("{} (an error with b2c.strict)", w.message))
            .collect();
        assert_eq!(
            s.errors,
            expected.iter().map(String::as_str).collect::<Vec<_>>()
        );
        // The fallbacks are still what the parse says (the pipeline does not run).
        assert_eq!(s.cache_device, CacheDevice::None);
        assert!(s
            .errors
            .iter()
            .any(|e| e.option.as_deref() == Some("b2c.cache_device")));
    }
    assert!(!parse(format!("b2c.strict b2c.strict=0 {line}").as_bytes()).strict);
    assert!(parse(format!("b2c.strict=0 {line}").as_bytes())
        .errors
        .is_empty());
    // The extra arguments' warnings too; b2c.strict itself acts before them.
    let mut c = parse(b"b2c.strict b2c.extra_args_url=http://x/y");
    assert!(c.errors.is_empty());
    merge_extra_args(&mut c, b"b2c.hostname=-x b2c.run=img");
    assert_eq!(
        c.errors,
        ["b2c.hostname: \"-x\" is not a valid host name (letters, digits and '-', in labels of 1 to 63 characters separated by '.', no '-' at either end of a label); the host name is boot2container (an error with b2c.strict)"]
    );
    let mut c = parse(b"b2c.extra_args_url=http://x/y");
    merge_extra_args(&mut c, b"b2c.strict b2c.run=img");
    assert!(!c.strict && c.errors.is_empty());
    assert_eq!(c.warnings.len(), 1);
}

#[test]
fn problems_name_the_option_instance_and_field() {
    let c = parse(b"b2c.iface=eth0,address=1.2.3,mtu=9000 b2c.container=\"-ti\" b2c.volume=v,pull_on=pipeline_strat b2c.hostnme=x");
    let p = |list: &[Problem], at: usize| {
        let p = &list[at];
        (
            p.option.clone(),
            p.instance.clone(),
            p.field.clone(),
            p.suggestion.clone(),
        )
    };
    let some = |s: &str| Some(s.to_string());
    assert_eq!(
        p(&c.errors, 0),
        (some("b2c.iface"), some("eth0"), some("address"), None)
    );
    // An alias is named by its option's key.
    assert_eq!(p(&c.errors, 1), (some("b2c.run"), None, None, None));
    assert_eq!(
        p(&c.errors, 2),
        (
            some("b2c.volume"),
            some("v"),
            some("pull_on"),
            some("pipeline_start")
        )
    );
    assert_eq!(
        p(&c.warnings, 0),
        (some("b2c.iface"), some("eth0"), some("mtu"), None)
    );
    assert_eq!(
        p(&c.warnings, 1),
        (some("b2c.hostnme"), None, None, some("b2c.hostname"))
    );
    let c = parse(b"b2c.volume=v,filesystem=fs-wbe b2c.filesystem=fs-web,src=h:/x");
    assert_eq!(
        p(&c.errors, 0),
        (
            some("b2c.volume"),
            some("v"),
            some("filesystem"),
            some("fs-web")
        )
    );
    let c = parse(b"b2c.volume=v,fscrypt_key=AAAA");
    assert_eq!(
        p(&c.errors, 0),
        (
            some("b2c.volume"),
            some("v"),
            some("fscrypt_key"),
            some("make one with: head -c 64 /dev/urandom | base64 -w0")
        )
    );
    // A field that could be a piece of a secret is not named.
    let c = parse(b"b2c.login=reg,username=u,password=ab,cd");
    assert_eq!(
        p(&c.warnings, 0),
        (some("b2c.login"), some("reg"), None, None)
    );
}

#[test]
fn non_utf8_is_reported_not_fatal() {
    let c = parse(b"b2c.run=pl\xffop b2c.keymap=fr console=tty\xfe0");
    assert!(c.run.is_empty());
    assert_eq!(c.keymap.as_deref(), Some("fr"));
    assert_eq!(
        c.errors,
        ["b2c.run: the value is not valid UTF-8 text; option ignored"]
    );
    // A lenient option falls back, whatever came before.
    let c = parse(b"b2c.hostname=plop b2c.hostname=pl\xffop");
    assert_eq!(c.hostname, None);
    assert!(c.errors.is_empty());
    assert_eq!(
        c.warnings,
        ["b2c.hostname: the value is not valid UTF-8 text; the host name is boot2container"]
    );
    let c = parse(b"b2c.\xff=1");
    assert_eq!(c.warnings, ["b2c.\u{fffd}: unknown option ignored"]);
}

#[test]
fn reference_errors_escape_control_characters() {
    // Found by fuzzing: the names checked once the parse is done reached
    // the console raw.
    let mut c = parse(b"b2c.storage=additionalimagestores=im\x1bg");
    let msg = "b2c.storage: additionalimagestores \"im\\u{1b}g\" is neither an absolute path nor a b2c.filesystem (none is defined)";
    assert_eq!(c.errors, [msg]);
    merge_extra_args(&mut c, b"b2c.hostname=h");
    assert_eq!(c.errors, [msg], "the error is replaced, not doubled");
}

#[test]
fn references_between_options() {
    let c =
        parse(b"b2c.volume=v,mirror=job/b,filesystem=nfs1 b2c.storage=additionalimagestores=imgs");
    assert_eq!(
        c.errors,
        [
            "b2c.volume=v: filesystem \"nfs1\" is not defined by any b2c.filesystem (none is defined)",
            "b2c.volume=v: mirror \"job/b\" uses the alias \"job\", which no b2c.minio defines (none is defined)",
            "b2c.storage: additionalimagestores \"imgs\" is neither an absolute path nor a b2c.filesystem (none is defined)",
        ]
    );
    let c = parse(
        b"b2c.minio=s3,http://s3:9000,K,S b2c.volume=v,pull_from=job/b,pull_on=pipeline_start",
    );
    assert_eq!(
        c.errors,
        ["b2c.volume=v: pull_from \"job/b\" uses the alias \"job\", which no b2c.minio defines (defined: s3)"]
    );
    // Order does not matter.
    let c =
        parse(b"b2c.volume=v,push_to=job/b,push_on=pipeline_end b2c.minio=job,http://s3:9000,K,S");
    assert!(c.errors.is_empty());
}

#[test]
fn extra_args_merge() {
    let mut c = parse(b"b2c.run=first b2c.hostname=a b2c.extra_args_url=http://x/args b2c.volume=v,mirror=job/b,push_on=pipeline_end b2c.cache_device=auto b2c.filesystem=fs1,src=/dev/vdb");
    // The volume's alias is defined by the extra arguments: not an error yet.
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    merge_extra_args(
        &mut c,
        b"b2c.run=second\nb2c.hostname=b\nb2c.minio=job,http://s3:9000,K,S\n\
          b2c.modules=nbd b2c.insmods=x.ko b2c.cache_device=reset b2c.swap=1G b2c.iface=eth0,dhcp\n\
          b2c.ntp_peer=auto b2c.extra_args_url=http://y b2c.nbd=/dev/nbd0,host=h ip=dhcp\n\
          b2c.filesystem=fs2,src=/dev/vdc\n",
    );
    assert_eq!(
        c.run.iter().map(|s| s.source.as_str()).collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(c.hostname.as_deref(), Some("b"));
    assert_eq!(c.minio.len(), 1);
    assert_eq!(c.filesystems.len(), 2);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert_eq!(c.cache_device, CacheDevice::Auto);
    assert_eq!(c.swap, None);
    assert!(
        c.ifaces.is_empty() && c.modules.is_empty() && c.insmods.is_empty() && c.nbds.is_empty()
    );
    assert_eq!(c.ntp_peer, NtpPeer::None);
    assert_eq!(c.kernel_ip, None);
    assert_eq!(c.extra_args_url.as_ref().unwrap().host, "x");
    let no_effect: Vec<&str> = c
        .warnings
        .iter()
        .filter(|w| w.message.contains("no effect in the extra arguments"))
        .map(|w| w.option.as_deref().unwrap())
        .collect();
    assert_eq!(
        no_effect,
        [
            "b2c.modules",
            "b2c.insmods",
            "b2c.cache_device",
            "b2c.swap",
            "b2c.iface",
            "b2c.ntp_peer",
            "b2c.extra_args_url",
            "b2c.nbd",
            "ip",
        ]
    );
}

#[test]
fn extra_args_errors_are_checked_after_the_merge() {
    let mut c =
        parse(b"b2c.extra_args_url=http://x/args b2c.volume=v,mirror=job/b,push_on=pipeline_end");
    merge_extra_args(&mut c, b"b2c.hostname=ok\n");
    assert_eq!(
        c.errors,
        ["b2c.volume=v: mirror \"job/b\" uses the alias \"job\", which no b2c.minio defines (none is defined)"]
    );
    // Errors already reported by parse() are not duplicated by a merge.
    let mut c = parse(b"b2c.volume=v,mirror=job/b,push_on=pipeline_end");
    assert_eq!(c.errors.len(), 1);
    merge_extra_args(&mut c, b"");
    assert_eq!(c.errors.len(), 1);
    merge_extra_args(&mut c, b"b2c.minio=job,http://s3,K,S");
    assert!(c.errors.is_empty());
    // An unbalanced quote in the file.
    let mut c = parse(b"");
    merge_extra_args(&mut c, b"b2c.run=\"img\nb2c.hostname=h\n");
    assert_eq!(c.warnings, ["b2c.run: unbalanced double quote: the rest of the extra arguments is taken as its value"]);
}

#[test]
fn extra_args_that_are_not_b2c_options() {
    let mut c = parse(b"");
    merge_extra_args(
        &mut c,
        b"console=ttyS0 b2c.hostname=h quiet console=tty0 SECRET",
    );
    assert_eq!(
        c.warnings,
        ["b2c.extra_args_url: 4 word(s) of the extra arguments are not b2c options and are ignored (not shown)"]
    );
    let mut c = parse(b"");
    merge_extra_args(
        &mut c,
        b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>\n<body>password=hunter2</body></html>",
    );
    assert_eq!(
        c.warnings,
        ["b2c.extra_args_url: 6 word(s) of the extra arguments are not b2c options and are ignored (not shown)"]
    );
    assert!(!c.warnings[0].message.contains("hunter2"));
}

#[test]
fn extra_args_cannot_redefine_the_cache_filesystem() {
    let mut c = parse(b"b2c.cache_device=cache b2c.filesystem=cache,src=/dev/vdb1");
    merge_extra_args(&mut c, b"b2c.filesystem=cache,src=/dev/vdc1");
    assert_eq!(c.filesystems[0].src, "/dev/vdb1");
    assert_eq!(
        c.warnings,
        ["b2c.filesystem=cache: no effect in the extra arguments: b2c.cache_device uses this filesystem and is set up before they are downloaded"]
    );
}

/// Every secret in every place it can be, well-formed and malformed: none
/// may appear in a message, in `Debug` output or in the checker's JSON.
#[test]
fn secrets_never_leak() {
    const SECRETS: &[&str] = &[
        "hunter2/pw",
        "hunter2",
        "S3CR3TKEY",
        "ACC3SSKEY",
        "hunter2pw",
        "SSEC0123456789abcdef0123456789ab",
        "SNEAKY",
    ];
    let fscrypt =
        "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ==";
    let lines = [
        "b2c.minio=job,http://s3:9000,ACC3SSKEY,S3CR3TKEY".to_string(),
        "b2c.minio=job,http://s3:9000,ACC3SSKEY,S3CR3TKEY,SNEAKY".to_string(),
        "b2c.minio=job,ftp://s3:9000,ACC3SSKEY,S3CR3TKEY".to_string(),
        "b2c.minio=job,http://u:SNEAKY@s3:9000,ACC3SSKEY,S3CR3TKEY".to_string(),
        "b2c.minio=j/b,http://s3,ACC3SSKEY,".to_string(),
        // Found by fuzzing: the URL first, in the alias's place, was quoted.
        "b2c.minio=http://u:SNEAKY@s3:9000,job,ACC3SSKEY,S3CR3TKEY".to_string(),
        "b2c.minio=\"job,http://s3:9000,ACC3SSKEY,S3CR3TKEY".to_string(),
        "b2c.login=reg,username=u,password=hunter2pw".to_string(),
        "b2c.login=reg,username=u,password=x \"hunter2pw".to_string(),
        "b2c.login=reg,username=u,password=x hunter2pw=1 SNEAKY".to_string(),
        "b2c.login=reg,username=u,password=x \"hunter2pw=1 SNEAKY".to_string(),
        "b2c.login=reg,username=u,password=hunter2pw,SNEAKY".to_string(),
        "b2c.login=reg,username=u,password=hunter2pw,SNEAKY=x".to_string(),
        "b2c.login=reg,password=hunter2pw,password=hunter2pw".to_string(),
        "b2c.login=bad!reg,username=u,password=hunter2pw".to_string(),
        "b2c.volume=v,encrypt_key=SSEC0123456789abcdef0123456789ab".to_string(),
        "b2c.volume=v,encrypt_key=SNEAKY".to_string(),
        "b2c.volume=v,encrypt_key=SSEC0123456789abcdef0123456789ab,SNEAKY,mirror=job/b".to_string(),
        format!("b2c.volume=v,fscrypt_key={fscrypt},SNEAKY"),
        "b2c.volume=v,fscrypt_key=SNEAKY".to_string(),
        "b2c.volume=v,fscrypt_key=SNEAKY,fscrypt_key=SNEAKY".to_string(),
        "b2c.proxy=https=http://u:hunter2pw@p:3128,SNEAKY".to_string(),
        "b2c.proxy=https=http://u:hunter2pw@p:0".to_string(),
        "b2c.proxy=https=http://u:hunter2,pw@p:3128".to_string(),
        "b2c.extra_args_url=http://u:hunter2pw@x/y".to_string(),
        "b2c.extra_args_url=http://u:hunter2pw@x:99999/y".to_string(),
        "b2c.extra_args_url=http://u:hunter2/pw@x/y b2c.minio=job,http://u:hunter2/pw@x/y,K,S".to_string(),
        "b2c.minio=job,http://s3:9000,ACC3SSKEY,S3CR3TKEY b2c.minio=job,http://s3:9000,ACC3SSKEY,S3CR3TKEY".to_string(),
        "b2c.run=\"--creds u:hunter2pw -ti img\"".to_string(),
        "b2c.run=\"--creds=u:hunter2pw img skopeo copy --src-creds a:SNEAKY x y\"".to_string(),
        "b2c.run_post=\"--creds 'u:hunter2pw img\"".to_string(),
        "b2c.service=\"--creds u:hunter2pw\"".to_string(),
        "b2c.run=\"--creds u:hunter2pw -éé img\"".to_string(),
        "b2c.filesystem=fs,src=//h/s,type=cifs,opts=username=u|password=hunter2pw".to_string(),
        "b2c.filesystem=fs,src=//h/s,type=cifs,opts=pass=hunter2pw|ro".to_string(),
    ];
    for line in &lines {
        let mut config = parse(line.as_bytes());
        merge_extra_args(&mut config, line.as_bytes());
        let report = crate::check::Report::new(Some(line.as_bytes()), Some(line.as_bytes()));
        let shown = format!(
            "{:?}\n{}\n{}\n{}",
            config,
            config
                .warnings
                .iter()
                .chain(&config.errors)
                .map(|p| format!("{p} {:?} {:?}", p.field, p.suggestion))
                .collect::<Vec<_>>()
                .join("\n"),
            report.json_string(),
            report.text()
        );
        for secret in SECRETS {
            assert!(
                !shown.contains(secret),
                "{secret} leaked for {line}:\n{shown}"
            );
        }
        assert!(!shown.contains("AQEBAQEB"), "fscrypt key leaked for {line}");
    }
    // The secrets are still there for the code that needs them.
    let c = parse(lines[0].as_bytes());
    assert_eq!(c.minio[0].secret_key.expose(), "S3CR3TKEY");
    assert_eq!(c.minio[0].access_key.expose(), "ACC3SSKEY");
}

mod properties {
    use super::super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_words_round_trips(words in prop::collection::vec(".*", 0..6)) {
            let line = words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
            prop_assert_eq!(split_words(&line), Ok(words));
        }
    }
}
