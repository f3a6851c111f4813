//! The checks of the data sent and received: MD5s hashed on the way,
//! compared with the ETag or the MD5 metadata.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use md5::{Digest, Md5};

use crate::mirror::etag::{self, EtagKind};
use crate::mirror::{CancelToken, TransferOptions};
use crate::s3::{ObjectMeta, S3Error};

/// Copies a response body into `out`, hashing, stopping when cancelled.
/// Network errors are transport errors (worth a retry); write errors are
/// local ones.
pub(super) fn copy_hashing(
    reader: &mut dyn Read,
    out: &mut dyn Write,
    path: &Path,
    opts: &TransferOptions,
) -> Result<(u64, [u8; 16]), S3Error> {
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut total = 0u64;
    loop {
        if opts.cancel.is_cancelled() || opts.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(S3Error::Cancelled);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(S3Error::Transport {
                    reason: format!("the download broke off: {e}"),
                    kind: if e.kind() == std::io::ErrorKind::TimedOut {
                        crate::s3::TransportKind::Timeout
                    } else {
                        crate::s3::TransportKind::Other
                    },
                })
            }
        };
        md5.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| S3Error::Local {
            path: path.display().to_string(),
            reason: format!("cannot write: {e}"),
        })?;
        total += n as u64;
    }
    Ok((total, md5.finalize().into()))
}

/// After an upload: the ETag of an unencrypted single-part object is the
/// MD5 of what was sent (a mismatch means the data was damaged on the way).
pub(super) fn check_etag(encrypted: bool, etag: &str, sent: &[u8; 16]) -> Result<(), S3Error> {
    if encrypted {
        return Ok(());
    }
    match etag::classify(etag) {
        EtagKind::Md5(h) if h != *sent => Err(S3Error::Protocol(format!(
            "the server's ETag {etag} is not the MD5 of the data sent ({})",
            etag::hex(sent)
        ))),
        _ => Ok(()),
    }
}

/// After a download: compare with the ETag (single part, unencrypted) or
/// the MD5 metadata.
pub(super) fn verify_download(
    encrypted: bool,
    meta: &ObjectMeta,
    md5: &[u8; 16],
) -> Result<(), S3Error> {
    let expected = match (encrypted, etag::classify(&meta.etag)) {
        (false, EtagKind::Md5(h)) => Some(h),
        _ => etag::md5_from_meta(&meta.user),
    };
    match expected {
        Some(h) if h != *md5 => Err(S3Error::Protocol(
            "the data received does not match the object's checksum".to_string(),
        )),
        _ => Ok(()),
    }
}

/// The MD5 of the first `len` bytes of `file`.
pub(super) fn md5_of(file: &File, len: u64, cancel: &CancelToken) -> std::io::Result<[u8; 16]> {
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 256 << 10];
    let mut pos = 0u64;
    while pos < len {
        if cancel.is_cancelled() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "cancelled",
            ));
        }
        let want = usize::try_from(len - pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = file.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        md5.update(&buf[..n]);
        pos += n as u64;
    }
    Ok(md5.finalize().into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn etag_checks() {
        let sent: [u8; 16] = Md5::digest(b"hello").into();
        let good = etag::hex(&sent);
        assert!(check_etag(false, &good, &sent).is_ok());
        assert!(check_etag(false, "00000000000000000000000000000000", &sent).is_err());
        assert!(check_etag(true, "00000000000000000000000000000000", &sent).is_ok());
        assert!(check_etag(false, "opaque", &sent).is_ok());
        let meta = ObjectMeta {
            size: 5,
            etag: good.clone(),
            user: BTreeMap::new(),
        };
        assert!(verify_download(false, &meta, &sent).is_ok());
        assert!(verify_download(false, &meta, &[0; 16]).is_err());
        // Encrypted: the ETag says nothing, the metadata does.
        let mut meta = ObjectMeta {
            size: 5,
            etag: "00000000000000000000000000000000".into(),
            user: BTreeMap::new(),
        };
        assert!(verify_download(true, &meta, &sent).is_ok());
        meta.user
            .insert(etag::MD5_META.into(), etag::md5_base64(&[0; 16]));
        assert!(verify_download(true, &meta, &sent).is_err());
    }
}
