//! Downloads: in one request, or in ranges written in place for large
//! files, to a temporary name renamed once the data is checked.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::queue::{Job, Queue};
use super::verify::{copy_hashing, verify_download};
use super::{lock, Run};
use crate::mirror::attrs::Attrs;
use crate::mirror::etag::{self, EtagKind};
use crate::mirror::local::PARTIAL_SUFFIX;
use crate::s3::{Listed, ObjectMeta, S3Error};

/// A download in parts in progress.
pub(super) struct Download {
    pub(super) rel: String,
    tmp: PathBuf,
    file: File,
    size: u64,
    part_size: u64,
    parts: u32,
    etag: String,
    md5s: Mutex<Vec<Option<[u8; 16]>>>,
    meta: Mutex<Option<ObjectMeta>>,
    remaining: AtomicUsize,
    failed: Mutex<Option<String>>,
}

impl Run<'_> {
    // ---- download ----------------------------------------------------

    fn temporary(&self, rel: &str) -> Result<(PathBuf, PathBuf), String> {
        let path = self.path(rel);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(format!("{}: not a file path", path.display()));
        };
        std::fs::create_dir_all(parent).map_err(|e| {
            format!(
                "download {} to {}: cannot create the folder {}: {e}",
                self.object(rel),
                path.display(),
                parent.display()
            )
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(PARTIAL_SUFFIX);
        Ok((path.clone(), parent.join(tmp_name)))
    }

    pub(super) fn download(&self, queue: &Queue, rel: &str, obj: &Listed) {
        let (path, tmp) = match self.temporary(rel) {
            Ok(p) => p,
            Err(reason) => return self.fail(rel, reason),
        };
        if obj.size > self.opts.multipart_threshold {
            return self.start_ranged(queue, rel, obj, tmp);
        }
        let key = self.key(rel);
        let encrypted = self.encrypted;
        let result = self.request("download", rel, |_| {
            let mut resp = self
                .bucket
                .get(&key, None, self.opts.timeout_for(obj.size))?;
            let mut out = File::create(&tmp).map_err(|e| S3Error::Local {
                path: tmp.display().to_string(),
                reason: format!("cannot create: {e}"),
            })?;
            let mut reader = resp.body.as_reader();
            let (n, md5) = copy_hashing(&mut reader, &mut out, &tmp, self.opts)?;
            if n != resp.meta.size {
                return Err(S3Error::Protocol(format!(
                    "got {n} bytes of {}",
                    resp.meta.size
                )));
            }
            verify_download(encrypted, &resp.meta, &md5)?;
            Ok(resp.meta)
        });
        match result {
            Ok(meta) => self.install(rel, &tmp, &path, &meta, obj.size),
            Err(reason) => {
                let _ = std::fs::remove_file(&tmp);
                self.fail(rel, reason)
            }
        }
    }

    /// Moves a complete download into place, with its attributes.
    fn install(&self, rel: &str, tmp: &Path, path: &Path, meta: &ObjectMeta, size: u64) {
        let result = (|| -> std::io::Result<()> {
            if self.opts.preserve {
                if let Some(a) = Attrs::from_user_meta(&meta.user) {
                    a.apply(&File::open(tmp)?)?;
                }
            }
            std::fs::rename(tmp, path)
        })();
        match result {
            Ok(()) => {
                self.files_sent.fetch_add(1, Ordering::Relaxed);
                self.bytes_sent.fetch_add(size, Ordering::Relaxed);
            }
            Err(e) => {
                let _ = std::fs::remove_file(tmp);
                self.fail(
                    rel,
                    format!(
                        "download {} to {}: cannot put the file in place: {e}",
                        self.object(rel),
                        path.display()
                    ),
                );
            }
        }
    }

    fn start_ranged(&self, queue: &Queue, rel: &str, obj: &Listed, tmp: PathBuf) {
        let file = match File::create(&tmp).and_then(|f| f.set_len(obj.size).map(|()| f)) {
            Ok(f) => f,
            Err(e) => {
                return self.fail(
                    rel,
                    format!(
                        "download {}: cannot create {}: {e}",
                        self.object(rel),
                        tmp.display()
                    ),
                )
            }
        };
        let part_size = self.opts.part_size_for(obj.size);
        let Ok(parts) = u32::try_from(obj.size.div_ceil(part_size)) else {
            return self.fail(rel, format!("{}: too many parts", self.object(rel)));
        };
        let down = Arc::new(Download {
            rel: rel.to_string(),
            tmp,
            file,
            size: obj.size,
            part_size,
            parts,
            etag: obj.etag.clone(),
            md5s: Mutex::new(vec![None; parts as usize]),
            meta: Mutex::new(None),
            remaining: AtomicUsize::new(parts as usize),
            failed: Mutex::new(None),
        });
        queue.push_front(
            (1..=parts)
                .map(|n| Job::DownloadPart(down.clone(), n))
                .collect(),
        );
    }

    pub(super) fn download_part(
        &self,
        down: &Download,
        n: u32,
    ) -> Result<([u8; 16], ObjectMeta), String> {
        if let Some(reason) = lock(&down.failed).clone() {
            return Err(reason);
        }
        let offset = u64::from(n - 1) * down.part_size;
        let len = down.part_size.min(down.size - offset);
        let key = self.key(&down.rel);
        self.request(
            &format!("download (part {n}/{})", down.parts),
            &down.rel,
            |_| {
                let mut resp = self.bucket.get(
                    &key,
                    Some((offset, offset + len - 1)),
                    self.opts.timeout_for(len),
                )?;
                if !down.etag.is_empty() && resp.meta.etag != down.etag {
                    return Err(S3Error::Protocol(
                        "the object changed while it was downloaded".to_string(),
                    ));
                }
                let mut reader = resp.body.as_reader();
                let mut out = AtOffset {
                    file: &down.file,
                    pos: offset,
                };
                let (got, md5) = copy_hashing(&mut reader, &mut out, &down.tmp, self.opts)?;
                if got != len {
                    return Err(S3Error::Protocol(format!("got {got} bytes of {len}")));
                }
                Ok((md5, resp.meta))
            },
        )
    }

    pub(super) fn part_downloaded(
        &self,
        down: &Download,
        result: Result<(u32, ([u8; 16], ObjectMeta)), String>,
    ) {
        match result {
            Ok((n, (md5, meta))) => {
                if let Some(slot) = lock(&down.md5s).get_mut(n as usize - 1) {
                    *slot = Some(md5);
                }
                lock(&down.meta).get_or_insert(meta);
            }
            Err(reason) => {
                lock(&down.failed).get_or_insert(reason);
            }
        }
        if down.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let failed = lock(&down.failed).clone();
        if let Some(reason) = failed {
            let _ = std::fs::remove_file(&down.tmp);
            return self.fail(&down.rel, reason);
        }
        let meta = lock(&down.meta).clone().unwrap_or_default();
        let md5s: Vec<[u8; 16]> = lock(&down.md5s).iter().flatten().copied().collect();
        if let Err(e) = self.verify_ranged(down, &meta, &md5s) {
            let _ = std::fs::remove_file(&down.tmp);
            return self.fail(
                &down.rel,
                format!("download {}: {e}", self.object(&down.rel)),
            );
        }
        let path = self.path(&down.rel);
        self.install(&down.rel, &down.tmp, &path, &meta, down.size);
    }

    /// Checks a download made of ranges: for free when the object was
    /// uploaded with our part size (its ETag is the parts' MD5s), else with
    /// one more read when an MD5 is known.
    fn verify_ranged(
        &self,
        down: &Download,
        meta: &ObjectMeta,
        md5s: &[[u8; 16]],
    ) -> Result<(), S3Error> {
        if md5s.len() != down.parts as usize {
            return Err(S3Error::Protocol("a part is missing".to_string()));
        }
        let object_etag = if down.etag.is_empty() {
            meta.etag.as_str()
        } else {
            down.etag.as_str()
        };
        let mismatch = || {
            S3Error::Protocol("the data received does not match the object's checksum".to_string())
        };
        if !self.encrypted {
            match etag::classify(object_etag) {
                // Uploaded with our part size: the parts' MD5s tell. (With
                // another part size, the MD5 metadata below does.)
                EtagKind::Multipart(_, n)
                    if n == down.parts && etag::multipart_etag(md5s) == object_etag =>
                {
                    return Ok(());
                }
                EtagKind::Md5(h) => {
                    let d = etag::digest_file(&down.tmp, &[], &self.opts.cancel).map_err(|e| {
                        S3Error::Local {
                            path: down.tmp.display().to_string(),
                            reason: e.to_string(),
                        }
                    })?;
                    return if d.md5 == h { Ok(()) } else { Err(mismatch()) };
                }
                _ => {}
            }
        }
        if let Some(expected) = etag::md5_from_meta(&meta.user) {
            let d = etag::digest_file(&down.tmp, &[], &self.opts.cancel).map_err(|e| {
                S3Error::Local {
                    path: down.tmp.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            if d.md5 != expected {
                return Err(mismatch());
            }
        }
        Ok(())
    }
}

/// A writer at a moving offset of a shared file (`pwrite`).
struct AtOffset<'f> {
    file: &'f File,
    pos: u64,
}

impl Write for AtOffset<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
