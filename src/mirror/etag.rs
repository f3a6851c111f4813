//! ETags and MD5s: what an object's ETag says about its content, and how
//! to check a local file against it.
//!
//! - A single-part object without SSE-C: the ETag is the hex MD5 of the
//!   content.
//! - A multipart object: `hex(md5(md5(part 1) || ... || md5(part N)))-N`,
//!   which depends on the uploader's part size. It is recomputed locally for
//!   every part size in common use that gives N parts (ours, 5 MiB for
//!   rclone, 8 MiB for the AWS CLI, 16 MiB for mc, ...), in one read.
//! - With SSE-C, the ETag is not an MD5 at all: the MD5 kept in the
//!   `md5chksum` metadata (base64, as rclone writes it) is used instead.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use base64::Engine as _;
use md5::{Digest, Md5};

use super::CancelToken;

/// The user-metadata name (after `x-amz-meta-`) of the content's MD5.
pub const MD5_META: &str = "md5chksum";

/// What an ETag is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtagKind {
    /// The MD5 of the content.
    Md5([u8; 16]),
    /// A multipart ETag: the MD5 of the parts' MD5s, and the part count.
    Multipart([u8; 16], u32),
    /// Anything else (SSE-C, other servers).
    Opaque,
}

/// Reads an ETag (quotes already removed).
pub fn classify(etag: &str) -> EtagKind {
    match etag.split_once('-') {
        None => match parse_hex16(etag) {
            Some(h) => EtagKind::Md5(h),
            None => EtagKind::Opaque,
        },
        Some((hex, n)) => match (parse_hex16(hex), n.parse::<u32>()) {
            (Some(h), Ok(n)) if n > 0 => EtagKind::Multipart(h, n),
            _ => EtagKind::Opaque,
        },
    }
}

fn parse_hex16(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The base64 form used by `md5chksum`.
pub fn md5_base64(md5: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5)
}

/// The MD5 in `md5chksum` metadata, when present and well-formed.
pub fn md5_from_meta(user: &std::collections::BTreeMap<String, String>) -> Option<[u8; 16]> {
    let v = user.get(MD5_META)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v.trim())
        .ok()?;
    bytes.try_into().ok()
}

/// The multipart ETag from the parts' MD5s.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut h = Md5::new();
    for p in part_md5s {
        h.update(p);
    }
    format!("{}-{}", hex(&h.finalize()), part_md5s.len())
}

/// Part sizes tried when recomputing a multipart ETag, besides the caller's.
const COMMON_PART_SIZES: &[u64] = &[
    5 << 20,
    8 << 20,
    10 << 20,
    15 << 20,
    16 << 20,
    32 << 20,
    64 << 20,
    100 << 20,
    128 << 20,
    256 << 20,
    512 << 20,
];

/// The part sizes that cut `size` bytes into exactly `parts` parts: `ours`
/// first, then the usual ones, then `size / parts` rounded up to a MiB.
pub fn candidate_part_sizes(size: u64, parts: u32, ours: u64) -> Vec<u64> {
    let parts = u64::from(parts);
    let mut out: Vec<u64> = Vec::new();
    let mut consider = |p: u64| {
        if p > 0 && size.div_ceil(p) == parts && !out.contains(&p) {
            out.push(p);
        }
    };
    consider(ours);
    for p in COMMON_PART_SIZES {
        consider(*p);
    }
    if parts > 0 {
        let even = size.div_ceil(parts);
        consider(even.div_ceil(1 << 20) * (1 << 20));
    }
    out
}

/// What reading a local file tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigests {
    /// The MD5 of the whole file.
    pub md5: [u8; 16],
    /// The multipart ETag for each part size asked, in order.
    pub multipart: Vec<String>,
}

/// Reads `path` once, computing its MD5 and the multipart ETags it would
/// have with each of `part_sizes`. Stops early (an error) when cancelled.
pub fn digest_file(
    path: &Path,
    part_sizes: &[u64],
    cancel: &CancelToken,
) -> std::io::Result<FileDigests> {
    let mut f = File::open(path)?;
    let mut whole = Md5::new();
    struct Cut {
        size: u64,
        filled: u64,
        current: Md5,
        done: Vec<[u8; 16]>,
    }
    let mut cuts: Vec<Cut> = part_sizes
        .iter()
        .map(|&size| Cut {
            size,
            filled: 0,
            current: Md5::new(),
            done: Vec::new(),
        })
        .collect();
    let mut buf = vec![0u8; 256 << 10];
    loop {
        if cancel.is_cancelled() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "cancelled",
            ));
        }
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        whole.update(chunk);
        for cut in &mut cuts {
            let mut rest = chunk;
            while !rest.is_empty() {
                let room = usize::try_from(cut.size - cut.filled).unwrap_or(usize::MAX);
                let take = room.min(rest.len());
                cut.current.update(&rest[..take]);
                cut.filled += take as u64;
                rest = &rest[take..];
                if cut.filled == cut.size {
                    let digest: [u8; 16] = std::mem::take(&mut cut.current).finalize().into();
                    cut.done.push(digest);
                    cut.filled = 0;
                }
            }
        }
    }
    let multipart = cuts
        .into_iter()
        .map(|mut cut| {
            if cut.filled > 0 {
                let digest: [u8; 16] = std::mem::take(&mut cut.current).finalize().into();
                cut.done.push(digest);
            }
            multipart_etag(&cut.done)
        })
        .collect();
    Ok(FileDigests {
        md5: whole.finalize().into(),
        multipart,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            classify("d41d8cd98f00b204e9800998ecf8427e"),
            EtagKind::Md5(parse_hex16("d41d8cd98f00b204e9800998ecf8427e").unwrap())
        );
        assert!(matches!(
            classify("d41d8cd98f00b204e9800998ecf8427e-12"),
            EtagKind::Multipart(_, 12)
        ));
        assert_eq!(
            classify("d41d8cd98f00b204e9800998ecf8427e-0"),
            EtagKind::Opaque
        );
        assert_eq!(classify("xyz"), EtagKind::Opaque);
        assert_eq!(
            classify("d41d8cd98f00b204e9800998ecf8427"),
            EtagKind::Opaque
        );
        assert_eq!(
            classify("zz1d8cd98f00b204e9800998ecf8427e"),
            EtagKind::Opaque
        );
    }

    #[test]
    fn multipart_etag_of_known_parts() {
        // Two parts "a" and "b": md5(md5("a") || md5("b")).
        let a: [u8; 16] = Md5::digest(b"a").into();
        let b: [u8; 16] = Md5::digest(b"b").into();
        let mut cat = Vec::new();
        cat.extend_from_slice(&a);
        cat.extend_from_slice(&b);
        let expected = format!("{}-2", hex(&Md5::digest(&cat)));
        assert_eq!(multipart_etag(&[a, b]), expected);
    }

    #[test]
    fn digests_of_a_file() {
        let dir = std::env::temp_dir().join(format!("b2c-etag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let data: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let d = digest_file(&path, &[300_000, 1 << 20], &CancelToken::new()).unwrap();
        assert_eq!(d.md5, <[u8; 16]>::from(Md5::digest(&data)));
        let parts: Vec<[u8; 16]> = data
            .chunks(300_000)
            .map(|c| Md5::digest(c).into())
            .collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(d.multipart[0], multipart_etag(&parts));
        assert_eq!(d.multipart[1], multipart_etag(&[Md5::digest(&data).into()]));
        let cancelled = CancelToken::new();
        cancelled.cancel();
        assert!(digest_file(&path, &[], &cancelled).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn candidates() {
        let size = 200_000_000u64;
        // 13 parts of 16 MiB (ours, also mc's).
        assert_eq!(candidate_part_sizes(size, 12, 16 << 20), vec![16 << 20]);
        // 39 parts: rclone's 5 MiB.
        assert_eq!(candidate_part_sizes(size, 39, 16 << 20), vec![5 << 20]);
        // An unusual count: only the even split.
        let c = candidate_part_sizes(size, 7, 16 << 20);
        assert_eq!(c, vec![28 << 20]);
        assert!(candidate_part_sizes(size, 0, 16 << 20).is_empty());
    }

    #[test]
    fn md5_metadata() {
        let mut user = std::collections::BTreeMap::new();
        let md5: [u8; 16] = Md5::digest(b"x").into();
        user.insert(MD5_META.to_string(), md5_base64(&md5));
        assert_eq!(md5_from_meta(&user), Some(md5));
        user.insert(MD5_META.to_string(), "bm9wZQ==".to_string());
        assert_eq!(md5_from_meta(&user), None);
    }
}
