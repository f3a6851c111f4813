//! Tests of [`parse`](super::parse) and [`merge_extra_args`](super::merge_extra_args)
//! on whole command lines, each with its full expected result.

#![allow(clippy::unwrap_used)]

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
            poweroff_delay: 15,
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
            }],
            ..Config::default()
        }
    );
    assert!(!format!("{c:?}").contains("cacahuètes"));
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
            warnings: strings(&["b2c.volume=job-vol: push_on has \"changes\", so \"pipeline_end\" is ignored (changes already pushes continuously and once at pipeline end)"]),
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
            poweroff_delay: 15,
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
    let c = parse(b"b2c.cache_device=cahce b2c.filesystem=cache,src=/dev/vdb1");
    assert_eq!(c.cache_device, CacheDevice::None);
    assert_eq!(
        c.errors,
        ["b2c.cache_device: \"cahce\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line (defined: cache)"]
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
    assert_eq!(
        parse(b"b2c.reboot_cmd=\"'x\"").errors,
        ["b2c.reboot_cmd: unterminated single quote in \"'x\""]
    );
    assert_eq!(
        parse(b"b2c.shutdown_cmd=\" \"").errors,
        ["b2c.shutdown_cmd: no command given"]
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
    assert_eq!(c.poweroff_delay, 2);
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
fn non_ascii_where_an_option_is_expected() {
    assert_eq!(
        parse("b2c.run=\"-éé img\"".as_bytes()).errors,
        ["b2c.run: \"-éé\" is not a podman option (they are ASCII) in \"-éé img\""]
    );
    // After the image, the container's own arguments may be anything.
    let c = parse("b2c.run=\"-e A=é img echo -éé\"".as_bytes());
    assert!(c.errors.is_empty());
    assert_eq!(c.run[0].args, strings(&["-e", "A=é", "img", "echo", "-éé"]));
    let report =
        crate::check::Report::new(Some("b2c.run=\"-e A=é img echo -éé\"".as_bytes()), None);
    assert_eq!(report.json()["run"][0]["image"], "img");
}

#[test]
fn control_characters_are_escaped_in_messages() {
    let c = parse(b"b2c.hostname=\"a\x1b[2Jb\" b2c.\x1b[31m=1");
    assert_eq!(
        c.errors,
        ["b2c.hostname: \"a\\u{1b}[2Jb\" is not a valid host name (letters, digits and '-', in labels of 1 to 63 characters separated by '.', no '-' at either end of a label)"]
    );
    assert_eq!(c.warnings, ["b2c.\\u{1b}[31m: unknown option ignored"]);
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

#[test]
fn simple_value_errors() {
    let e = |s: &[u8]| parse(s).errors;
    assert_eq!(
        e(b"b2c.poweroff_delay=1.5"),
        ["b2c.poweroff_delay: \"1.5\" is not a whole number of seconds"]
    );
    assert_eq!(
        e(b"b2c.poweroff_delay=-1"),
        ["b2c.poweroff_delay: \"-1\" is not a whole number of seconds"]
    );
    assert_eq!(
        e(b"b2c.poweroff_delay=100000"),
        ["b2c.poweroff_delay: \"100000\" seconds is too long (at most 86400, one day)"]
    );
    assert_eq!(e(b"b2c.poweroff_delay=99999999999999999999999"), ["b2c.poweroff_delay: \"99999999999999999999999\" seconds is too long (at most 86400, one day)"]);
    assert_eq!(e(b"b2c.pipefail=maybe"), ["b2c.pipefail: \"maybe\" is not a boolean (write b2c.pipefail alone, or b2c.pipefail=1 / b2c.pipefail=0)"]);
    assert!(parse(b"b2c.pipefail=true").pipefail);
    assert!(!parse(b"b2c.pipefail b2c.pipefail=0").pipefail);
    assert!(
        e(b"b2c.hostname=-bad")[0].starts_with("b2c.hostname: \"-bad\" is not a valid host name")
    );
    assert_eq!(
        e(b"b2c.hostname"),
        ["b2c.hostname: needs a value (b2c.hostname=...)"]
    );
    assert!(e(b"b2c.keymap=../etc/passwd")[0]
        .starts_with("b2c.keymap: \"../etc/passwd\" is not a keymap name"));
    assert_eq!(
        e(b"b2c.ntp_peer=\"a b\""),
        ["b2c.ntp_peer: \"a b\" is not none, auto or a host name or IP address"]
    );
    assert_eq!(
        parse(b"ip=").warnings,
        ["ip: empty value; the kernel ignores it"]
    );
}

#[test]
fn non_utf8_is_reported_not_fatal() {
    let c = parse(b"b2c.hostname=pl\xffop b2c.keymap=fr console=tty\xfe0");
    assert_eq!(c.hostname, None);
    assert_eq!(c.keymap.as_deref(), Some("fr"));
    assert_eq!(
        c.errors,
        ["b2c.hostname: the value is not valid UTF-8 text; option ignored"]
    );
    let c = parse(b"b2c.\xff=1");
    assert_eq!(c.warnings, ["b2c.\u{fffd}: unknown option ignored"]);
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
        .filter(|w| w.contains("no effect in the extra arguments"))
        .map(|w| w.split(':').next().unwrap())
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
    assert!(!c.warnings[0].contains("hunter2"));
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
    ];
    for line in &lines {
        let mut config = parse(line.as_bytes());
        merge_extra_args(&mut config, line.as_bytes());
        let report = crate::check::Report::new(Some(line.as_bytes()), Some(line.as_bytes()));
        let shown = format!(
            "{:?}\n{}\n{}\n{}",
            config,
            config.warnings.join("\n") + &config.errors.join("\n"),
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

    /// Fragments that make lines look like real ones, to reach deep into the parsers.
    fn fragment() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "b2c.run=",
            "b2c.volume=",
            "b2c.minio=",
            "b2c.iface=",
            "b2c.filesystem=",
            "b2c.swap=",
            "b2c.nbd=",
            "b2c.login=",
            "b2c.proxy=",
            "b2c.cache_device=",
            "b2c.storage=",
            "ip=",
            "b2c.pipefail",
            "b2c.hostname=",
            "b2c.poweroff_delay=",
            "b2c.extra_args_url=",
            "\"",
            "'",
            "\\",
            ",",
            "=",
            "|",
            " ",
            "\n",
            "/",
            ":",
            "mirror=a/b",
            "pull_on=",
            "push_on=",
            "changes",
            "pipeline_end",
            "src=",
            "address=",
            "10.0.0.1/24",
            "http://h:1/",
            "8G",
            "/dev/nbd0",
            "host=",
            "dhcp",
            "fscrypt_key=",
            "encrypt_key=",
            "job",
            "é",
            "\u{0}",
            "-",
            "--",
            "-é",
            "-v",
            "img",
        ]);
        prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut c = parse(&bytes);
            merge_extra_args(&mut c, &bytes);
            let text = crate::check::Report::new(Some(&bytes), Some(&bytes)).json_string();
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
        }

        #[test]
        fn plausible_lines_never_panic_and_give_json(line in fragment(), extra in fragment()) {
            let report = crate::check::Report::new(Some(line.as_bytes()), Some(extra.as_bytes()));
            let text = report.json_string();
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(v.get("errors").is_some_and(|e| e.is_array()));
            let _ = report.text();
        }

        #[test]
        fn split_words_round_trips(words in prop::collection::vec(".*", 0..6)) {
            let line = words.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ");
            prop_assert_eq!(split_words(&line), Ok(words));
        }
    }
}
