//! Volumes on real boots (docs/options.md, `b2c.volume` and `b2c.minio`): S3
//! transfers against an s3s-fs server the test starts on 127.0.0.1 (the
//! guest reaches it as 10.0.2.2), expiration and fscrypt on a cache disk.
//! Every boot has `quiet` (the kernel prints its command line otherwise) and
//! its console is checked for the S3 secret key, the SSE-C key and the
//! fscrypt keys.
//!
//! Six boots in three tests (two VMs may run at once):
//! - `a_job_pulls_its_input_and_pushes_its_results` (1 boot, no cache):
//!   `pipeline_start` pull, `pipeline_end` push with SSE-C of a container
//!   that exits 3 (status 3), `push_on=changes` (a file is in the bucket
//!   while its container still runs), `container_start`/`container_end`;
//! - `an_s3_server_down_at_pipeline_start` (1 boot): status 1, no container
//!   runs, bounded in time, clean power-off;
//! - `expiration_and_fscrypt_on_a_cache_disk` (4 boots on one disk): expired
//!   volumes of both labels deleted on the next boot; names encrypted on the
//!   disk; no key, the right key, `fscrypt_reset_key`, a wrong key.
//!
//! Needs the registry (`scripts/registry start && scripts/demo-image`),
//! s3s-fs (`scripts/setup --tests`) and debugfs and sgdisk on the host.

// An integration test crate: its helpers fail the test by panicking.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;
mod s3_server;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{
    demo_image, host, partition_offset, require_registry, run_option, test_dir, Vm, VmConfig,
};
use s3_server::{free_port, Server, ACCESS_KEY, SECRET_KEY, SSE_KEY};

/// Two fscrypt keys (64 bytes each, base64).
fn fscrypt_keys() -> (String, String) {
    let b64 = |byte: u8| base64::engine::general_purpose::STANDARD.encode([byte; 64]);
    (b64(0x5a), b64(0xa5))
}

/// `b2c.minio=s3,...` for an S3 server on the host's `port`.
fn minio(port: u16) -> String {
    format!("b2c.minio=s3,http://10.0.2.2:{port},{ACCESS_KEY},{SECRET_KEY}")
}

/// `b2c.run="--tls-verify=false ARGS"`.
/// Boots `options` with `quiet` (and a cache disk when given).
fn boot(name: &str, options: &[String], disk: Option<&Path>) -> Vm {
    let launcher_args = disk
        .map(|d| vec!["--cache-disk".to_string(), d.display().to_string()])
        .unwrap_or_default();
    Vm::boot(
        name,
        VmConfig {
            cmdline: format!("quiet {}", options.join(" ")),
            launcher_args,
            ..Default::default()
        },
    )
}

/// Fails the test when a secret appeared on the console.
fn assert_no_secret(vm: &Vm) {
    let (k1, k2) = fscrypt_keys();
    for secret in [SECRET_KEY, SSE_KEY, &k1, &k2] {
        vm.assert_absent(secret);
    }
}

/// Waits until `path` exists (the server's view of an object), at most `limit`.
fn wait_object(path: &Path, limit: Duration) -> Option<Instant> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if path.is_file() {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_job_pulls_its_input_and_pushes_its_results() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let Some(server) = Server::start() else {
        return;
    };
    let bucket = server.bucket("job");
    std::fs::create_dir_all(bucket.join("in/sub")).unwrap();
    std::fs::write(bucket.join("in/input.txt"), "input-from-the-bucket\n").unwrap();
    std::fs::write(bucket.join("in/sub/nested.txt"), "nested-input\n").unwrap();

    let image = demo_image();
    // The container reads its input, writes its results, writes a file for
    // the watcher and waits for the test to see it in the bucket, then
    // writes one more and fails.
    let script = "cat /in/input.txt /in/sub/nested.txt; \
                  echo result > /out/result.txt; echo each > /each/c1.txt; \
                  echo streamed > /live/streamed.txt; w=watcher; echo waiting-for-the-$w; \
                  sleep 30; echo late > /live/late.txt; exit 3";
    let options = [
        minio(server.port),
        "b2c.volume=in,pull_from=s3/job/in,pull_on=pipeline_start".to_string(),
        format!("b2c.volume=out,push_to=s3/job/out,push_on=pipeline_end,encrypt_key={SSE_KEY}"),
        "b2c.volume=live,push_to=s3/job/live,push_on=changes".to_string(),
        "b2c.volume=each,mirror=s3/job/each,pull_on=container_start,push_on=container_end"
            .to_string(),
        run_option(&format!(
            "-v in:/in -v out:/out -v live:/live -v each:/each {image} sh -c '{script}'"
        )),
    ];
    let mut vm = boot("s3-job", &options, None);
    vm.wait_for("Volume in: created, pull from s3/job/in at pipeline_start");
    vm.wait_for(
        "Volume live: created, push to s3/job/live on changes (and once more at pipeline_end)",
    );
    vm.wait_for("Execute the pipeline_start hooks");
    let pulled = vm.wait_for(
        "Volume in: pull s3/job/in -> /var/lib/containers/storage/volumes/in/_data: 2 files sent (",
    );
    assert!(
        pulled.text.contains(", 0 skipped, 0 removed, 0 failed, "),
        "{}",
        pulled.text
    );
    vm.wait_for("Volume live: watching /var/lib/containers/storage/volumes/live/_data for changes, pushed to s3/job/live as they happen");
    vm.wait_for("Execute the container_start hooks");
    vm.wait_for("Volume each: pull s3/job/each -> /var/lib/containers/storage/volumes/each/_data: 0 files sent (0 B)");
    vm.wait_for("input-from-the-bucket");
    vm.wait_for("nested-input");
    vm.wait_for("waiting-for-the-watcher");
    // The watcher pushes while the container sleeps.
    let streamed = wait_object(&bucket.join("live/streamed.txt"), Duration::from_secs(25));
    let exited = vm.wait_for("gathering container results");
    let streamed = streamed.unwrap_or_else(|| {
        panic!(
            "live/streamed.txt was not in the bucket 25 s after the container wrote it\n{}",
            vm.console()
        )
    });
    assert!(
        streamed < exited.at,
        "the streamed file arrived after its container ended"
    );
    vm.wait_for("Execute the container_end hooks");
    vm.wait_for("Volume each: push /var/lib/containers/storage/volumes/each/_data -> s3/job/each: 1 file sent (5 B)");
    vm.wait_for("The container exited with error code 3, continuing...");
    vm.wait_for("Execute the pipeline_end hooks");
    vm.wait_for("Volume out: push /var/lib/containers/storage/volumes/out/_data -> s3/job/out: 1 file sent (7 B)");
    vm.wait_for("Volume live: stopping the changes watcher (");
    let last = vm.wait_for(
        "Volume live: push /var/lib/containers/storage/volumes/live/_data -> s3/job/live: ",
    );
    assert!(last.text.contains(" 0 failed, "), "{}", last.text);
    vm.wait_for("Execution is over, pipeline status: 3");
    vm.expect_clean_poweroff();
    vm.assert_absent("ERROR");
    assert_no_secret(&vm);
    // The results are in the bucket although the container failed.
    assert_eq!(read(&bucket.join("out/result.txt")), "result\n");
    assert_eq!(read(&bucket.join("each/c1.txt")), "each\n");
    assert_eq!(read(&bucket.join("live/streamed.txt")), "streamed\n");
    assert_eq!(read(&bucket.join("live/late.txt")), "late\n");
    eprintln!(
        "s3-job: the streamed file was in the bucket {:.1} s before its container ended; boot {:.0} s",
        exited.at.duration_since(streamed).as_secs_f64(),
        vm.started.elapsed().as_secs_f64()
    );
}

#[test]
fn an_s3_server_down_at_pipeline_start() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    // Nothing listens on this port.
    let port = free_port();
    let options = [
        minio(port),
        "b2c.volume=job,mirror=s3/job/in,pull_on=pipeline_start,push_on=pipeline_end".to_string(),
        run_option(&format!(
            "-v job:/job {} sh -c 'w=ran; echo container-$w'",
            demo_image()
        )),
        format!(
            "b2c.run_post=\"--tls-verify=false {} sh -c 'w=ran; echo post-$w'\"",
            demo_image()
        ),
    ];
    let mut vm = boot("s3-down", &options, None);
    let start = vm.wait_for("Execute the pipeline_start hooks");
    vm.wait_for(&format!("ERROR: b2c.volume=job: the pull from s3/job/in (http://10.0.2.2:{port}) at pipeline_start failed: s3/job/in: cannot list the objects: connection refused (5 tries)"));
    vm.wait_for("ERROR: The pipeline_start transfers of b2c.volume=job failed: no container runs");
    vm.wait_for("Execute the pipeline_end hooks");
    vm.wait_for(&format!(
        "ERROR: b2c.volume=job: the push to s3/job/in (http://10.0.2.2:{port}) at pipeline_end failed: "
    ));
    vm.wait_for("ERROR: The pipeline_end transfers of b2c.volume=job failed: the pipeline fails");
    let over = vm.wait_for("Execution is over, pipeline status: 1");
    vm.expect_clean_poweroff();
    vm.assert_no_line("container-ran");
    vm.assert_no_line("post-ran");
    vm.assert_absent("About to start executing a container");
    assert_no_secret(&vm);
    let took = over.at.duration_since(start.at);
    assert!(
        took < Duration::from_secs(60),
        "the failed transfers took {} s",
        took.as_secs()
    );
    eprintln!(
        "s3-down: pipeline_start to the status in {:.1} s",
        took.as_secs_f64()
    );
}

/// The names in a directory of the cache (debugfs `ls -p`, whose entries
/// are `/INODE/MODE/UID/GID/NAME/SIZE/`). An encrypted name is raw
/// ciphertext: it may hold `/` (even as its first byte) or a line feed, so
/// an entry is everything from one `/INODE/MODE/UID/GID/` line start to the
/// next, and the name is what lies between that header and the trailing
/// `/SIZE/`.
fn names(part: &str, dir: &str) -> Vec<String> {
    parse_ls_p(&host("debugfs", &["-R", &format!("ls -p {dir}"), part]))
}

fn parse_ls_p(out: &str) -> Vec<String> {
    // The length of the `/INODE/MODE/UID/GID/` header a line starts with.
    fn header(line: &str) -> Option<usize> {
        let mut fields = line.split('/');
        if fields.next() != Some("") {
            return None;
        }
        let mut len = 1;
        for _ in 0..4 {
            let field = fields.next()?;
            if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            len += field.len() + 1;
        }
        fields.next().map(|_| len)
    }
    let mut entries: Vec<String> = Vec::new();
    for line in out.lines() {
        match (header(line), entries.last_mut()) {
            (None, Some(last)) => {
                last.push('\n');
                last.push_str(line);
            }
            (Some(len), _) => entries.push(line[len..].to_string()),
            (None, None) => {}
        }
    }
    entries
        .into_iter()
        .filter_map(|rest| {
            // NAME/SIZE/ (and the blank line debugfs ends with): drop the
            // trailing "/SIZE/".
            let rest = rest.trim_end_matches('\n').strip_suffix('/')?;
            let (name, size) = rest.rsplit_once('/')?;
            size.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| name.to_string())
        })
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect()
}

#[test]
fn ls_p_names_with_slashes_and_line_feeds() {
    let out = "/65299/040755/0/0/./\n/65304/040700/0/0/../\n\
               /65635/100644/0/0//\u{95}x/y/4/\n\
               /65636/100644/0/0/a\nb/12/\n\
               /65637/100644/0/0/plain/0/\n\n";
    assert_eq!(parse_ls_p(out), ["/\u{95}x/y", "a\nb", "plain"]);
}

const VOLUMES: &str = "/containers/storage/volumes";

#[test]
fn expiration_and_fscrypt_on_a_cache_disk() {
    if !common::vm_ready() {
        return;
    }
    require_registry();
    let image = demo_image();
    let (k1, k2) = fscrypt_keys();
    let disk = test_dir("volumes").join("cache.img");
    let _ = std::fs::remove_file(&disk);
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();

    // Boot A: a blank cache. The container writes into each volume (the
    // names and contents are made by the shell, so that they appear nowhere
    // else on the disk), and leaves volumes labelled as an earlier boot
    // would: with our older label, with the original's, and one to keep.
    let podman = "chroot /host podman volume create --label";
    let script = format!(
        "echo t > /tmp-vol/t; c=clear; echo $c-payload > /keep/$c-name-file; \
         s=secret; echo $s-payload > /enc/$s-name-file; echo old > /enc2/old-file; \
         {podman} b2c.expiration=pipeline_end old-b2c && \
         {podman} expiration=pipeline_end old-orig && \
         {podman} expiration=never old-keep && w=a && echo boot-$w-done"
    );
    let options = [
        "b2c.cache_device=auto".to_string(),
        "b2c.volume=tmp,expiration=pipeline_end".to_string(),
        "b2c.volume=keep".to_string(),
        format!("b2c.volume=enc,fscrypt_key={k1}"),
        format!("b2c.volume=enc2,fscrypt_key={k1}"),
        run_option(&format!(
            "-v tmp:/tmp-vol -v keep:/keep -v enc:/enc -v enc2:/enc2 -v /:/host {image} sh -c '{script}'"
        )),
    ];
    let mut vm = boot("fscrypt-a", &options, Some(&disk));
    vm.wait_for("Volume enc: created, fscrypt: encrypted with the key given (it was empty)");
    vm.wait_for("boot-a-done");
    vm.wait_for("The container run successfully");
    vm.wait_for("Volume enc: locked (fscrypt key removed)");
    vm.wait_for("Deleted the expired volume(s): tmp");
    vm.expect_clean_poweroff();
    assert_no_secret(&vm);
    drop(vm);
    let part = partition_offset(&disk);
    let volumes = names(&part, VOLUMES);
    for v in ["keep", "enc", "enc2", "old-b2c", "old-orig", "old-keep"] {
        assert!(volumes.iter().any(|n| n == v), "{v} missing: {volumes:?}");
    }
    assert!(!volumes.iter().any(|n| n == "tmp"), "{volumes:?}");
    assert_eq!(
        names(&part, &format!("{VOLUMES}/keep/_data")),
        ["clear-name-file"]
    );
    let encrypted = names(&part, &format!("{VOLUMES}/enc/_data"));
    assert_eq!(encrypted.len(), 1, "{encrypted:?}");
    assert!(!encrypted[0].contains("secret"), "{encrypted:?}");
    // The raw disk: the clear volume's name and content are there, the
    // encrypted volume's are not.
    let raw = std::fs::read(&disk).unwrap();
    let has = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    assert!(has(b"clear-name-file") && has(b"clear-payload"));
    assert!(
        !has(b"secret-name-file"),
        "an encrypted name is on the disk in clear"
    );
    assert!(
        !has(b"secret-payload"),
        "encrypted contents are on the disk in clear"
    );
    drop(raw);

    // Boot B: no key for the encrypted volume: a clear set-up failure. The
    // expired volumes of both labels are deleted first.
    let options = [
        "b2c.cache_device=auto".to_string(),
        "b2c.volume=keep".to_string(),
        "b2c.volume=enc".to_string(),
        run_option(&format!("{image} sh -c 'w=b; echo boot-$w-ran'")),
    ];
    let mut vm = boot("fscrypt-b-no-key", &options, Some(&disk));
    let deleted = vm.wait_for("expired volume(s) left by an earlier boot: ");
    assert!(
        deleted.text.contains("Deleted 2 expired volume(s)")
            && deleted.text.contains("old-b2c")
            && deleted.text.contains("old-orig")
            && !deleted.text.contains("old-keep"),
        "{}",
        deleted.text
    );
    vm.wait_for("ERROR: b2c.volume=enc: volume enc is encrypted (/var/lib/containers/storage/volumes/enc/_data): give fscrypt_key");
    vm.wait_for("The volume set-up failed: no container runs");
    vm.wait_for("Execution is over, pipeline status: 1");
    vm.expect_clean_poweroff();
    vm.assert_no_line("boot-b-ran");
    assert_no_secret(&vm);
    drop(vm);
    let volumes = names(&part, VOLUMES);
    assert!(
        !volumes
            .iter()
            .any(|n| n.starts_with("old-") && n != "old-keep"),
        "{volumes:?}"
    );
    assert!(volumes.iter().any(|n| n == "old-keep"), "{volumes:?}");

    // Boot C: the right key reads the volume; fscrypt_reset_key empties the
    // other one and encrypts it with a new key.
    let options = [
        "b2c.cache_device=auto".to_string(),
        format!("b2c.volume=enc,fscrypt_key={k1}"),
        format!("b2c.volume=enc2,fscrypt_key={k2},fscrypt_reset_key"),
        run_option(&format!(
            "-v enc:/enc -v enc2:/enc2 {image} sh -c 'cat /enc/secret-name-file; ls -a /enc2; echo new > /enc2/new-file; w=c; echo boot-$w-done'"
        )),
    ];
    let mut vm = boot("fscrypt-c-keys", &options, Some(&disk));
    vm.wait_for("Volume enc: kept from an earlier boot, fscrypt: unlocked with the key given");
    vm.wait_for("Volume enc2: kept from an earlier boot, fscrypt: emptied and encrypted with the new key (fscrypt_reset_key)");
    vm.wait_for("secret-payload");
    vm.wait_for("boot-c-done");
    vm.wait_for("Execution is over, pipeline status: 0");
    vm.expect_clean_poweroff();
    vm.assert_absent("old-file");
    assert_no_secret(&vm);
    drop(vm);

    // Boot D: enc2 is now encrypted with the second key: the first one is
    // the wrong key.
    let options = [
        "b2c.cache_device=auto".to_string(),
        format!("b2c.volume=enc2,fscrypt_key={k1}"),
        run_option(&format!("{image} sh -c 'w=d; echo boot-$w-ran'")),
    ];
    let mut vm = boot("fscrypt-d-wrong-key", &options, Some(&disk));
    vm.wait_for("ERROR: b2c.volume=enc2: /var/lib/containers/storage/volumes/enc2/_data is encrypted with another key than the fscrypt_key given: give the right key, or add fscrypt_reset_key to empty the volume and encrypt it with this key");
    vm.wait_for("Execution is over, pipeline status: 1");
    vm.expect_clean_poweroff();
    vm.assert_no_line("boot-d-ran");
    assert_no_secret(&vm);
    let reset = names(&part, &format!("{VOLUMES}/enc2/_data"));
    assert_eq!(reset.len(), 1, "{reset:?}");
    assert!(!reset[0].contains("new-file"), "{reset:?}");
}
