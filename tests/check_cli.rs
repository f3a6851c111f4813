//! The checker, end to end: fixture command lines with their full expected
//! JSON, and the built `b2c` binary's exit codes and output.
//!
//! Fixtures live in `tests/fixtures/cmdline/`: `NAME.cmdline` (the kernel
//! command line), optionally `NAME.extra` (an extra-args file merged after
//! it), and `NAME.json`, the expected `b2c check --json` output. To
//! regenerate the JSON after a deliberate change, run the tests with
//! `B2C_BLESS=1` and review the diff.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use boot2container::check::Report;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cmdline")
}

#[test]
fn fixtures_parse_as_expected() {
    let dir = fixtures_dir();
    let bless = std::env::var_os("B2C_BLESS").is_some();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cmdline"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "fixtures missing in {}", dir.display());
    let mut failures = Vec::new();
    for cmdline_path in names {
        let cmdline = std::fs::read(&cmdline_path).unwrap();
        let extra = std::fs::read(cmdline_path.with_extension("extra")).ok();
        let report = Report::new(Some(&cmdline), extra.as_deref());
        let actual = report.json();
        let json_path = cmdline_path.with_extension("json");
        if bless {
            std::fs::write(&json_path, report.json_string() + "\n").unwrap();
            continue;
        }
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(&json_path)
                .unwrap_or_else(|_| panic!("missing {}", json_path.display())),
        )
        .unwrap();
        if actual != expected {
            failures.push(format!(
                "{}:\n{}",
                cmdline_path.display(),
                report.json_string()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "unexpected parses:\n{}",
        failures.join("\n")
    );
}

fn b2c(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_b2c"))
        .args(args)
        .output()
        .expect("run b2c")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).expect("stdout is one JSON object")
}

#[test]
fn help_and_version() {
    let o = b2c(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("b2c check --cmdline"));
    let o = b2c(&["check", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    let o = b2c(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), format!("b2c {}\n", env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["check"],
        &["check", "--cmdline"],
        &["check", "--cmdline", "x", "--what"],
        &["check", "--file", "/nonexistent/extra_args"],
    ] {
        let o = b2c(args);
        assert_eq!(o.status.code(), Some(2), "args {args:?}");
        assert!(!o.stderr.is_empty(), "no message for {args:?}");
    }
}

#[test]
fn valid_line_exits_0_and_prints_the_pipeline() {
    let o = b2c(&[
        "check",
        "--cmdline",
        "b2c.run=\"-ti docker://reg.fake/img:1 sh -c 'echo hi'\" b2c.run_post=reg.fake/post:1 console=ttyS0",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains(
        "  run 1: podman run --privileged --network=host --pull=newer -ti reg.fake/img:1 sh -c 'echo hi'\n"
    ));
    assert!(out.contains(
        "  run_post 1: podman run --privileged --network=host --pull=newer reg.fake/post:1\n"
    ));
    assert!(out.contains("0 error(s), 0 warning(s)"));
}

#[test]
fn invalid_line_exits_1_naming_the_option() {
    let o = b2c(&["check", "--cmdline", "b2c.iface=eth0,address=10.0.0.300/24"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("ERROR: b2c.iface=eth0: address \"10.0.0.300/24\" is not a valid CIDR")
    );

    let o = b2c(&[
        "check",
        "--json",
        "--cmdline",
        "b2c.nbd=/dev/nbd0,host=h,port=0 b2c.hostnme=x",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_of(&o);
    assert_eq!(
        v["errors"],
        serde_json::json!(["b2c.nbd=/dev/nbd0: port \"0\" is not a number from 1 to 65535"])
    );
    assert_eq!(
        v["warnings"],
        serde_json::json!(["b2c.hostnme: unknown option ignored (did you mean b2c.hostname?)"])
    );
}

/// A value the original ran with a fallback: a warning (exit 0), an error
/// with `--strict` (exit 1), and in both cases the same problem objects.
#[test]
fn strict_turns_warnings_into_errors() {
    let line = "b2c.run=img b2c.cache_device=bogus b2c.poweroff_delay=1.5";
    let o = b2c(&["check", "--cmdline", line]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let warning = "b2c.cache_device: \"bogus\" is not none, auto, reset, a /dev/ path or the name of a b2c.filesystem of the command line (none is defined); defaulting to none (images and volumes live in RAM)";
    assert!(stdout(&o).contains(&format!("WARNING: {warning}\n")));
    assert!(stdout(&o).contains("0 error(s), 1 warning(s)"));

    let o = b2c(&["check", "--strict", "--cmdline", line]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains(&format!("ERROR: {warning} (an error with --strict)\n")));
    assert!(stdout(&o).contains("1 error(s), 0 warning(s)"));

    let o = b2c(&["check", "--strict", "--json", "--cmdline", line]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_of(&o);
    assert_eq!(v["poweroff_delay"], 1.5);
    assert_eq!(v["cache_device"]["mode"], "none");
    assert_eq!(v["warnings"], serde_json::json!([]));
    assert_eq!(
        v["problems"],
        serde_json::json!([{
            "option": "b2c.cache_device",
            "instance": null,
            "field": null,
            "message": format!("{warning} (an error with --strict)"),
            "suggestion": null,
            "severity": "error",
        }])
    );
    // A clean line passes --strict.
    let o = b2c(&["check", "--strict", "--cmdline", "b2c.run=img"]);
    assert_eq!(o.status.code(), Some(0));
    // --strict with --list-options is a usage error.
    let o = b2c(&["check", "--strict", "--list-options"]);
    assert_eq!(o.status.code(), Some(2));
}

/// `problems`: one object per warning and error, with the option, the
/// instance and the field the parser was on, and its suggestion.
#[test]
fn problems_are_objects() {
    let o = b2c(&[
        "check",
        "--json",
        "--cmdline",
        "b2c.iface=eth0,addres=10.0.0.1/24,gateway=10.0.0 b2c.container=\"-ti\" b2c.login=reg,username=u,password=s3cr3t,pw2 b2c.volume=v,fscrypt_key=AAAA",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v = json_of(&o);
    let problems = v["problems"].as_array().unwrap();
    for p in problems {
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "field",
                "instance",
                "message",
                "option",
                "severity",
                "suggestion"
            ]
        );
    }
    assert_eq!(
        serde_json::Value::Array(problems.clone()),
        serde_json::json!([
            {
                "option": "b2c.iface", "instance": "eth0", "field": "gateway",
                "message": "b2c.iface=eth0: gateway \"10.0.0\" is not a valid IP address",
                "suggestion": null, "severity": "error",
            },
            {
                "option": "b2c.run", "instance": null, "field": null,
                "message": "b2c.container: no image in \"-ti\" (expected [PODMAN OPTIONS] IMAGE [COMMAND [ARG...]])",
                "suggestion": null, "severity": "error",
            },
            {
                "option": "b2c.volume", "instance": "v", "field": "fscrypt_key",
                "message": "b2c.volume=v: fscrypt_key must decode to 64 bytes, it decodes to 3 (make one with: head -c 64 /dev/urandom | base64 -w0)",
                "suggestion": "make one with: head -c 64 /dev/urandom | base64 -w0", "severity": "error",
            },
            {
                "option": "b2c.iface", "instance": "eth0", "field": "addres",
                "message": "b2c.iface=eth0: unknown field \"addres\" ignored (did you mean \"address\"?); accepted fields: dhcp, auto, address, gateway, nameserver, route, forward",
                "suggestion": "address", "severity": "warning",
            },
            {
                "option": "b2c.login", "instance": "reg", "field": null,
                "message": "b2c.login=reg: unknown field number 4 ignored (not shown: it may be part of a secret that contains a comma); accepted fields: username, password",
                "suggestion": null, "severity": "warning",
            },
        ])
    );
    // The lists of messages farms already read are unchanged.
    assert_eq!(v["errors"].as_array().unwrap().len(), 3);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2);
    assert!(!stdout(&o).contains("s3cr3t") && !stdout(&o).contains("pw2"));
}

#[test]
fn warnings_alone_exit_0() {
    let o = b2c(&["check", "--cmdline", "b2c.run=img b2c.colour=blue"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("WARNING: b2c.colour: unknown option ignored"));
}

#[test]
fn fscrypt_without_a_cache_is_the_init_s_error() {
    let key =
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg==";
    let o = b2c(&[
        "check",
        "--cmdline",
        &format!("b2c.volume=enc,fscrypt_key={key} b2c.run=img"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("ERROR: b2c.volume=enc: fscrypt_key: /var/lib/containers/storage/volumes/enc/_data is on RAM (there is no cache disk mounted on /storage), which cannot encrypt: encrypted volumes need the ext4 cache (b2c.cache_device)"),
        "{out}"
    );
    assert!(!out.contains(key), "{out}");
    let o = b2c(&[
        "check",
        "--cmdline",
        &format!("b2c.cache_device=auto b2c.volume=enc,fscrypt_key={key} b2c.run=img"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn json_structure() {
    let o = b2c(&[
        "check",
        "--json",
        "--cmdline",
        "b2c.minio=\"job,http://10.42.0.1:9000,KEY,SECRET\" b2c.volume=\"job-vol,mirror=job/bucket/prefix,pull_on=pipeline_start,push_on=pipeline_end\" b2c.run=\"-v job-vol:/data docker.io/alpine:3.20\" b2c.service=redis:7 b2c.iface=eth0,dhcp b2c.filesystem=fs,src=h:/x",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o);
    assert_eq!(v["errors"], serde_json::json!([]));
    for key in [
        "run",
        "run_post",
        "run_service",
        "pipefail",
        "volumes",
        "filesystems",
        "ifaces",
        "minio",
        "cache_device",
        "swap",
        "hostname",
        "ntp_peer",
        "extra_args_url",
        "poweroff_delay",
        "warnings",
        "errors",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(
        v["run"][0]["args"],
        serde_json::json!([
            "run",
            "--privileged",
            "--network=host",
            "--pull=newer",
            "-v",
            "job-vol:/data",
            "docker.io/alpine:3.20"
        ])
    );
    assert_eq!(v["run_service"][0]["args"][4], "redis:7");
    assert_eq!(v["volumes"][0]["name"], "job-vol");
    assert_eq!(v["volumes"][0]["mirror"], "job/bucket/prefix");
    assert_eq!(
        v["volumes"][0]["pull_on"],
        serde_json::json!(["pipeline_start"])
    );
    assert_eq!(v["minio"][0]["alias"], "job");
    assert_eq!(v["minio"][0]["secret_key"], "***");
    assert_eq!(v["minio"][0]["access_key"], "***");
    assert_eq!(v["ifaces"][0]["name"], "eth0");
    assert_eq!(v["filesystems"][0]["src"], "h:/x");
    assert!(!stdout(&o).contains("SECRET"));
}

#[test]
fn file_is_merged_after_the_cmdline() {
    let dir = std::env::temp_dir().join(format!("b2c-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("extra_args");
    std::fs::write(
        &file,
        "b2c.run=second:1\nb2c.hostname=from-file\nb2c.cache_device=auto\n",
    )
    .unwrap();
    let o = b2c(&[
        "check",
        "--json",
        "--cmdline",
        "b2c.run=first:1 b2c.hostname=from-cmdline b2c.extra_args_url=http://10.0.0.1/x",
        "--file",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o);
    assert_eq!(v["run"].as_array().unwrap().len(), 2);
    assert_eq!(v["run"][1]["args"][4], "second:1");
    assert_eq!(v["hostname"], "from-file");
    assert_eq!(v["cache_device"]["mode"], "none");
    assert!(v["warnings"][0]
        .as_str()
        .unwrap()
        .starts_with("b2c.cache_device: no effect in the extra arguments"));
}

#[test]
fn file_from_stdin_without_cmdline() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_b2c"))
        .args(["check", "--json", "--file", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"b2c.run=\"img:1 true\"\nb2c.modules=nbd\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v = json_of(&o);
    assert_eq!(
        v["run"][0]["user_args"],
        serde_json::json!(["img:1", "true"])
    );
    assert_eq!(v["modules"], serde_json::json!([]));
}

#[test]
fn non_utf8_argument() {
    use std::os::unix::ffi::OsStrExt;
    let o = Command::new(env!("CARGO_BIN_EXE_b2c"))
        .arg("check")
        .arg("--json")
        .arg("--cmdline")
        .arg(std::ffi::OsStr::from_bytes(
            b"b2c.volume=a\xffb b2c.hostname=a\xffb b2c.run=img",
        ))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v = json_of(&o);
    assert_eq!(
        v["errors"],
        serde_json::json!(["b2c.volume: the value is not valid UTF-8 text; option ignored"])
    );
    assert_eq!(
        v["warnings"],
        serde_json::json!([
            "b2c.hostname: the value is not valid UTF-8 text; the host name is boot2container"
        ])
    );
}

/// `b2c check` run as PID 1 (the entry point of a container image) is the
/// checker, not the init: the binary decides on its argument, not only on
/// its process id. The PID 1 runs in new user, PID, mount and network
/// namespaces (`unshare`), so that, were it the init, it could touch
/// nothing of the host.
#[test]
fn check_as_pid_1_is_the_checker() {
    let probe = Command::new("unshare")
        .args(["--user", "--map-root-user", "--pid", "--fork", "true"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("B2C_REQUIRE_ROOT_TESTS").is_none(),
            "unshare --user --pid does not work here"
        );
        eprintln!("SKIPPED check_as_pid_1_is_the_checker: unshare --user --pid does not work here");
        return;
    }
    let run = |args: &[&str]| {
        let mut cmd = Command::new("timeout");
        cmd.args([
            "--kill-after=5",
            "60",
            "unshare",
            "--user",
            "--map-root-user",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--net",
            env!("CARGO_BIN_EXE_b2c"),
        ])
        .args(args);
        cmd.output().expect("run unshare")
    };
    let o = run(&["check", "--cmdline", "b2c.run=\"reg.fake/img:1 echo hi\""]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout(&o).contains(
            "  run 1: podman run --privileged --network=host --pull=newer reg.fake/img:1 echo hi\n"
        ),
        "{}",
        stdout(&o)
    );
    let o = run(&["check", "--cmdline", "b2c.iface=eth0,address=10.0.0.300/24"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let o = run(&["--version"]);
    assert_eq!(stdout(&o), format!("b2c {}\n", env!("CARGO_PKG_VERSION")));
}
