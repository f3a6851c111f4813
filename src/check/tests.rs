//! Tests of the checker: its argument parsing, its reports (text and JSON)
//! and, through it, of the parser on whole command lines.

use super::*;
use crate::cmdline::{merge_extra_args, parse};

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

#[test]
fn argument_parsing() {
    let parsed = |a: &[&str]| parse_args(&os(a));
    assert!(matches!(parsed(&["b2c", "--help"]), Ok(Command::Help)));
    assert!(matches!(parsed(&["b2c", "check", "-h"]), Ok(Command::Help)));
    assert!(matches!(
        parsed(&["b2c", "--version"]),
        Ok(Command::Version)
    ));
    match parsed(&["b2c", "check", "--cmdline", "a=b", "--json", "--file=x"]) {
        Ok(Command::Check(c)) => {
            assert_eq!(c.cmdline.as_deref(), Some(&b"a=b"[..]));
            assert_eq!(c.file.as_deref(), Some(OsStr::new("x")));
            assert!(c.json);
        }
        _ => panic!("not parsed"),
    }
    match parsed(&["b2c", "check", "--cmdline=b2c.run=\"x y\""]) {
        Ok(Command::Check(c)) => {
            assert_eq!(c.cmdline.as_deref(), Some(&b"b2c.run=\"x y\""[..]))
        }
        _ => panic!("not parsed"),
    }
    assert!(parsed(&["b2c"]).is_err());
    assert!(parsed(&["b2c", "frobnicate"]).is_err());
    assert!(parsed(&["b2c", "check"]).is_err());
    assert!(parsed(&["b2c", "check", "--cmdline"]).is_err());
    assert!(parsed(&["b2c", "check", "--cmdline", "a", "--cmdline", "b"]).is_err());
    assert!(parsed(&["b2c", "check", "--cmdline", "a", "--bogus"]).is_err());
    assert!(parsed(&["b2c", "check", "--json=1", "--cmdline", "a"]).is_err());
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(main(os(&["b2c"])), EXIT_USAGE);
    assert_eq!(main(os(&["b2c", "check"])), EXIT_USAGE);
    assert_eq!(
        main(os(&["b2c", "check", "--file", "/nonexistent/x"])),
        EXIT_USAGE
    );
}

#[test]
fn json_has_every_key() {
    let r = Report::new(
        Some(b"b2c.run=\"-ti docker://reg/img:1 sh\" b2c.hostname=plop"),
        None,
    );
    let v = r.json();
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
        "notes",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(
        v["run"][0]["args"],
        json!([
            "run",
            "--privileged",
            "--network=host",
            "--pull=newer",
            "-ti",
            "reg/img:1",
            "sh"
        ])
    );
    assert_eq!(v["run"][0]["image"], json!("reg/img:1"));
    assert_eq!(r.exit_code(), EXIT_OK);
}

#[test]
fn text_report() {
    let r = Report::new(
        Some(b"b2c.run=\"img sh -c 'echo hi'\" b2c.iface=eth0,gateway=x b2c.hostname=bad_name b2c.foo=1"),
        None,
    );
    let t = r.text();
    assert!(t.contains(
        "  run 1: podman run --privileged --network=host --pull=newer img sh -c 'echo hi'\n"
    ));
    assert!(t.contains("ERROR: b2c.iface=eth0: gateway \"x\" is not a valid IP address\n"));
    assert!(t.contains("WARNING: b2c.hostname: \"bad_name\" is not a valid host name (letters, digits and '-', in labels of 1 to 63 characters separated by '.', no '-' at either end of a label); the host name is boot2container\n"));
    assert!(t.contains("WARNING: b2c.foo: unknown option ignored"));
    assert!(t.contains("1 error(s), 2 warning(s)"));
    assert_eq!(r.exit_code(), EXIT_ERRORS);
}

#[test]
fn strict_makes_warnings_errors() {
    let line: &[u8] = b"b2c.run=img b2c.poweroff_delay=abc b2c.hostnme=x";
    let r = Report::new(Some(line), None);
    assert_eq!(r.exit_code(), EXIT_OK);
    let r = r.strict();
    assert_eq!(r.exit_code(), EXIT_ERRORS);
    assert!(r.config.warnings.is_empty());
    let t = r.text();
    assert!(t.contains("ERROR: b2c.poweroff_delay: \"abc\" is not a number of seconds (like 15, 1.5 or 2m); powering off without delay (an error with --strict)\n"), "{t}");
    assert!(t.contains("2 error(s), 0 warning(s)"), "{t}");
    let v = r.json();
    assert_eq!(v["problems"][1]["severity"], "error");
    assert_eq!(v["problems"][1]["option"], "b2c.hostnme");
    assert_eq!(v["problems"][1]["suggestion"], "b2c.hostname");
    // b2c.strict on the line already did it: --strict changes nothing then.
    let with = [line, b" b2c.strict"].concat();
    let r = Report::new(Some(&with), None);
    assert_eq!(r.clone().strict(), r);
    assert!(r.config.errors[0]
        .message
        .ends_with("(an error with b2c.strict)"));
    match parse_args(&os(&["b2c", "check", "--strict", "--cmdline", "x"])) {
        Ok(Command::Check(c)) => assert!(c.strict && !c.json),
        _ => panic!("not parsed"),
    }
    assert!(parse_args(&os(&["b2c", "check", "--strict=1", "--cmdline", "x"])).is_err());
    assert!(parse_args(&os(&["b2c", "check", "--list-options", "--strict"])).is_err());
}

#[test]
fn problems_in_the_json() {
    let r = Report::new(
        Some(b"b2c.iface=eth0,address=10.0.0.300/24 b2c.hostnme=x b2c.volume=v,fscrypt_key=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZg=="),
        None,
    );
    let v = r.json();
    assert_eq!(
        v["problems"],
        json!([
            {
                "option": "b2c.iface",
                "instance": "eth0",
                "field": "address",
                "message": "b2c.iface=eth0: address \"10.0.0.300/24\" is not a valid CIDR (expected ADDRESS/PREFIX, like 192.168.42.1/24)",
                "suggestion": null,
                "severity": "error",
            },
            {
                "option": "b2c.volume",
                "instance": "v",
                "field": "fscrypt_key",
                "message": "b2c.volume=v: fscrypt_key: /var/lib/containers/storage/volumes/v/_data is on RAM (there is no cache disk mounted on /storage), which cannot encrypt: encrypted volumes need the ext4 cache (b2c.cache_device)",
                "suggestion": null,
                "severity": "error",
            },
            {
                "option": "b2c.hostnme",
                "instance": null,
                "field": null,
                "message": "b2c.hostnme: unknown option ignored (did you mean b2c.hostname?)",
                "suggestion": "b2c.hostname",
                "severity": "warning",
            },
        ])
    );
    // The lists of messages are still there, as they were.
    assert_eq!(v["errors"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        v["warnings"],
        json!(["b2c.hostnme: unknown option ignored (did you mean b2c.hostname?)"])
    );
    assert_eq!(Report::new(Some(b""), None).json()["problems"], json!([]));
}

#[test]
fn notes() {
    let r = Report::new(Some(b"b2c.extra_args_url=http://x/y"), None);
    assert_eq!(r.notes.len(), 2);
    assert!(r.notes[0].contains("no --file was given"));
    let r = Report::new(Some(b"b2c.extra_args_url=http://x/y"), Some(b"b2c.run=img"));
    assert!(r.notes.is_empty());
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
    let report = Report::new(Some("b2c.run=\"-e A=é img echo -éé\"".as_bytes()), None);
    assert_eq!(report.json()["run"][0]["image"], "img");
}

/// The option table and the JSON report name the same settings: every
/// option's `setting` is a key of the report, and every key of the report is
/// an option's setting (or one of the checker's own lists).
#[test]
fn every_setting_is_in_the_json_and_nothing_else() {
    let v = Report::new(Some(b""), None).json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    for o in OPTIONS {
        assert!(
            v.get(o.setting).is_some(),
            "{}: no {} in the JSON",
            o.key,
            o.setting
        );
    }
    for key in keys {
        let own = ["warnings", "errors", "problems", "notes"].contains(&key.as_str());
        assert!(
            own || OPTIONS.iter().any(|o| o.setting == key),
            "the JSON key {key} is no option's setting"
        );
    }
}

#[test]
fn list_options_prints_the_table() {
    let text = list_options(false);
    for o in OPTIONS {
        assert!(
            text.contains(&format!("{}\n    {}\n", o.syntax, o.summary)),
            "{}",
            o.key
        );
    }
    assert!(text.contains("    aliases: b2c.container\n"));
    assert!(text.contains("    a bad value: a warning: no swap\n"));
    assert!(text.contains("    a bad value: an error: the pipeline does not run\n"));
    let v: Value = serde_json::from_str(&list_options(true)).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), OPTIONS.len());
    assert_eq!(list[0]["key"], "b2c.run");
    assert_eq!(list[0]["aliases"], json!(["b2c.container"]));
    assert_eq!(list[0]["repeat"], "append");
    assert_eq!(list[0]["stage"], "late");
    assert!(matches!(
        parse_args(&os(&["b2c", "check", "--list-options", "--json"])),
        Ok(Command::Check(CheckArgs {
            list_options: true,
            json: true,
            ..
        }))
    ));
    assert!(parse_args(&os(&["b2c", "check", "--list-options", "--cmdline", "x"])).is_err());
    assert_eq!(main(os(&["b2c", "check", "--list-options"])), EXIT_OK);
}

#[test]
fn settings_of_the_text_report() {
    let r = Report::new(
        Some(b"b2c.modules=nbd,vfat b2c.shutdown_cmd=\"/sbin/poweroff -f\" b2c.iface=eth0,dhcp b2c.iface=eth1,dhcp"),
        None,
    );
    let t = r.text();
    assert!(t.contains("  hostname: boot2container (default)\n"), "{t}");
    assert!(t.contains("  modules: nbd vfat\n"), "{t}");
    assert!(t.contains("  shutdown_cmd: /sbin/poweroff -f\n"), "{t}");
    assert!(t.contains("  iface: {\"dhcp\":true,\"name\":\"eth0\"}\n  iface: {\"dhcp\":true,\"name\":\"eth1\"}\n"), "{t}");
    assert!(!t.contains("pipefail"), "{t}");
}

mod properties {
    use super::*;
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
            let text = Report::new(Some(&bytes), Some(&bytes)).json_string();
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
        }

        #[test]
        fn plausible_lines_never_panic_and_give_json(line in fragment(), extra in fragment()) {
            let report = Report::new(Some(line.as_bytes()), Some(extra.as_bytes()));
            let text = report.json_string();
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(v.get("errors").is_some_and(|e| e.is_array()));
            let _ = report.text();
        }
    }
}
