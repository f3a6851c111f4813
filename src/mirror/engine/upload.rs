//! Uploads: in one request, or in parts (a multipart upload) for large
//! files, each part read with `pread` and hashed as it is sent.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use md5::{Digest, Md5};

use super::queue::{Job, Queue};
use super::verify::{check_etag, md5_of};
use super::{lock, Run};
use crate::mirror::etag::{self, EtagKind};
use crate::mirror::local::LocalFile;
use crate::mirror::{CancelToken, TransferOptions};
use crate::s3::{Body, S3Error};

/// A part sent: its ETag and the MD5 of what was sent.
type SentPart = (String, [u8; 16]);

/// A multipart upload in progress.
pub(super) struct Upload {
    pub(super) rel: String,
    file: File,
    size: u64,
    part_size: u64,
    parts: u16,
    upload_id: String,
    done: Mutex<Vec<Option<SentPart>>>,
    remaining: AtomicUsize,
    failed: Mutex<Option<String>>,
    stat: LocalFile,
}

/// A file slice read with `pread`, hashed as it goes, that stops when the
/// transfer is cancelled. Its own failures are kept so that the request's
/// error can say what really happened.
struct Slice<'f> {
    file: &'f File,
    path: &'f Path,
    pos: u64,
    end: u64,
    md5: Md5,
    cancel: &'f CancelToken,
    deadline: Option<Instant>,
    error: Option<S3Error>,
}

impl<'f> Slice<'f> {
    fn new(
        file: &'f File,
        path: &'f Path,
        offset: u64,
        len: u64,
        opts: &'f TransferOptions,
    ) -> Slice<'f> {
        Slice {
            file,
            path,
            pos: offset,
            end: offset + len,
            md5: Md5::new(),
            cancel: &opts.cancel,
            deadline: opts.deadline,
            error: None,
        }
    }

    fn fail(&mut self, e: S3Error) -> std::io::Error {
        let text = e.to_string();
        self.error = Some(e);
        std::io::Error::other(text)
    }

    /// The request's error, replaced by the reader's own when it had one.
    fn explain(&mut self, e: S3Error) -> S3Error {
        self.error.take().unwrap_or(e)
    }
}

impl Read for Slice<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(self.fail(S3Error::Cancelled));
        }
        let left = self.end - self.pos;
        if left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = match self.file.read_at(&mut buf[..want], self.pos) {
            Ok(n) => n,
            Err(e) => {
                let path = self.path.display().to_string();
                return Err(self.fail(S3Error::Local {
                    path,
                    reason: format!("cannot read: {e}"),
                }));
            }
        };
        if n == 0 {
            let path = self.path.display().to_string();
            return Err(self.fail(S3Error::Local {
                path,
                reason: "the file shrank while it was sent".to_string(),
            }));
        }
        self.md5.update(&buf[..n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Run<'_> {
    // ---- upload ------------------------------------------------------

    /// The metadata headers of an upload.
    fn upload_meta(
        &self,
        file: &File,
        stat: &LocalFile,
        path: &Path,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let mut meta = Vec::new();
        if self.opts.preserve {
            meta.push(("x-amz-meta-mc-attrs", stat.attrs.render()));
        }
        if self.encrypted {
            // The ETag of an encrypted object is no MD5: keep one.
            let md5 = md5_of(file, stat.size, &self.opts.cancel)
                .map_err(|e| format!("upload {}: cannot read: {e}", path.display()))?;
            meta.push(("x-amz-meta-md5chksum", etag::md5_base64(&md5)));
        }
        Ok(meta)
    }

    pub(super) fn upload(&self, queue: &Queue, rel: &str) {
        let path = self.path(rel);
        let file = match File::open(&path) {
            Ok(f) => f,
            // Deleted since the listing: nothing to send.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Err(e) => {
                return self.fail(rel, format!("upload {}: cannot open: {e}", path.display()))
            }
        };
        let stat = match file.metadata() {
            Ok(m) => LocalFile::from_metadata(&m),
            Err(e) => return self.fail(rel, format!("upload {}: {e}", path.display())),
        };
        let meta = match self.upload_meta(&file, &stat, &path) {
            Ok(m) => m,
            Err(reason) => return self.fail(rel, reason),
        };
        let key = self.key(rel);
        if stat.size > self.opts.multipart_threshold {
            return self.start_multipart(queue, rel, file, stat, &meta);
        }
        let encrypted = self.encrypted;
        let result = self.request("upload", rel, |_| {
            let mut slice = Slice::new(&file, &path, 0, stat.size, self.opts);
            let etag = self
                .bucket
                .put(
                    &key,
                    &meta,
                    Body::Reader {
                        reader: &mut slice,
                        len: stat.size,
                    },
                    self.opts.timeout_for(stat.size),
                )
                .map_err(|e| slice.explain(e))?;
            let sent: [u8; 16] = slice.md5.clone().finalize().into();
            check_etag(encrypted, &etag, &sent)
        });
        match result {
            Ok(()) => self.sent_one(rel, stat),
            Err(reason) => self.fail(rel, reason),
        }
    }

    fn sent_one(&self, rel: &str, stat: LocalFile) {
        self.files_sent.fetch_add(1, Ordering::Relaxed);
        self.bytes_sent.fetch_add(stat.size, Ordering::Relaxed);
        lock(&self.sent).push((rel.to_string(), stat));
    }

    fn start_multipart(
        &self,
        queue: &Queue,
        rel: &str,
        file: File,
        stat: LocalFile,
        meta: &[(&'static str, String)],
    ) {
        let key = self.key(rel);
        let part_size = self.opts.part_size_for(stat.size);
        let Ok(parts) = u16::try_from(stat.size.div_ceil(part_size)) else {
            return self.fail(rel, format!("{}: too many parts", self.path(rel).display()));
        };
        let upload_id = match self.request("start the upload of", rel, |_| {
            self.bucket.create_multipart(&key, meta)
        }) {
            Ok(id) => id,
            Err(reason) => return self.fail(rel, reason),
        };
        let up = Arc::new(Upload {
            rel: rel.to_string(),
            file,
            size: stat.size,
            part_size,
            parts,
            upload_id,
            done: Mutex::new(vec![None; usize::from(parts)]),
            remaining: AtomicUsize::new(usize::from(parts)),
            failed: Mutex::new(None),
            stat,
        });
        queue.push_front(
            (1..=parts)
                .map(|n| Job::UploadPart(up.clone(), n))
                .collect(),
        );
    }

    pub(super) fn upload_part(&self, up: &Upload, n: u16) -> Result<(String, [u8; 16]), String> {
        if let Some(reason) = lock(&up.failed).clone() {
            return Err(reason);
        }
        let offset = u64::from(n - 1) * up.part_size;
        let len = up.part_size.min(up.size - offset);
        let key = self.key(&up.rel);
        let path = self.path(&up.rel);
        let encrypted = self.encrypted;
        self.request(&format!("upload (part {n}/{})", up.parts), &up.rel, |_| {
            let mut slice = Slice::new(&up.file, &path, offset, len, self.opts);
            let etag = self
                .bucket
                .upload_part(
                    &key,
                    &up.upload_id,
                    n,
                    Body::Reader {
                        reader: &mut slice,
                        len,
                    },
                    self.opts.timeout_for(len),
                )
                .map_err(|e| slice.explain(e))?;
            let sent: [u8; 16] = slice.md5.clone().finalize().into();
            check_etag(encrypted, &etag, &sent)?;
            Ok((etag, sent))
        })
    }

    /// Records a part; the last one completes (or abandons) the upload.
    pub(super) fn part_uploaded(
        &self,
        up: &Upload,
        result: Result<(u16, (String, [u8; 16])), String>,
    ) {
        match result {
            Ok((n, part)) => {
                if let Some(slot) = lock(&up.done).get_mut(usize::from(n - 1)) {
                    *slot = Some(part);
                }
            }
            Err(reason) => {
                lock(&up.failed).get_or_insert(reason);
            }
        }
        if up.remaining.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let key = self.key(&up.rel);
        let failed = lock(&up.failed).clone();
        if let Some(reason) = failed {
            // Best effort: the parts would otherwise stay on the server.
            let _ = self.bucket.abort_multipart(&key, &up.upload_id);
            return self.fail(&up.rel, reason);
        }
        let parts: Vec<(String, [u8; 16])> = lock(&up.done).iter().flatten().cloned().collect();
        if parts.len() != usize::from(up.parts) {
            let _ = self.bucket.abort_multipart(&key, &up.upload_id);
            return self.fail(
                &up.rel,
                format!("{}: a part is missing", self.object(&up.rel)),
            );
        }
        let etags: Vec<String> = parts.iter().map(|p| p.0.clone()).collect();
        let md5s: Vec<[u8; 16]> = parts.iter().map(|p| p.1).collect();
        let expected = etag::multipart_etag(&md5s);
        let encrypted = self.encrypted;
        let result = self.request("complete the upload of", &up.rel, |attempt| {
            match self.bucket.complete_multipart(
                &key,
                &up.upload_id,
                &etags,
                self.opts.timeout_for(up.size / 16),
            ) {
                Ok(etag) => {
                    if !encrypted
                        && matches!(etag::classify(&etag), EtagKind::Multipart(..))
                        && etag != expected
                    {
                        return Err(S3Error::Protocol(format!(
                            "the server's ETag {etag} is not the one of the parts sent ({expected})"
                        )));
                    }
                    Ok(())
                }
                // An earlier try completed it but its answer was lost.
                Err(e) if attempt > 1 && e.code() == Some("NoSuchUpload") => {
                    match self.bucket.head(&key)? {
                        Some(m) if m.size == up.size => Ok(()),
                        _ => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        });
        match result {
            Ok(()) => self.sent_one(&up.rel, up.stat),
            Err(reason) => {
                let _ = self.bucket.abort_multipart(&key, &up.upload_id);
                self.fail(&up.rel, reason)
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn slices_hash_and_notice_shrinking() {
        let dir = std::env::temp_dir().join(format!("b2c-slice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = File::open(&path).unwrap();
        let opts = TransferOptions::default();
        let mut s = Slice::new(&file, &path, 2, 5, &opts);
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"23456");
        assert_eq!(
            <[u8; 16]>::from(s.md5.clone().finalize()),
            <[u8; 16]>::from(Md5::digest(b"23456"))
        );
        let mut s = Slice::new(&file, &path, 8, 5, &opts);
        let mut out = Vec::new();
        assert!(s.read_to_end(&mut out).is_err());
        assert!(matches!(
            s.explain(S3Error::Cancelled),
            S3Error::Local { .. }
        ));
        opts.cancel.cancel();
        let mut s = Slice::new(&file, &path, 0, 5, &opts);
        assert!(s.read_to_end(&mut out).is_err());
        assert_eq!(s.explain(S3Error::Protocol("x".into())), S3Error::Cancelled);
        assert_eq!(
            md5_of(&file, 10, &CancelToken::new()).unwrap(),
            <[u8; 16]>::from(Md5::digest(b"0123456789"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
