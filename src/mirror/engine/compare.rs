//! What is on the other side: the bucket's listing, and the comparison of
//! a file present on both sides with the same size.

use std::collections::BTreeMap;

use super::{lock, Run, State};
use crate::mirror::attrs::Attrs;
use crate::mirror::etag::{self, EtagKind};
use crate::mirror::local::LocalFile;
use crate::mirror::plan::{self, Outcome};
use crate::mirror::MirrorError;
use crate::s3::{Listed, ObjectMeta, S3Error};

impl Run<'_> {
    /// Every object under the prefix, by relative path. Folder markers
    /// (keys ending with `/`) are left out, and so are excluded paths.
    pub(super) fn list_remote(&self) -> Result<BTreeMap<String, Listed>, MirrorError> {
        let mut out = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let stop = || self.stop_reason().is_some();
            let page = self
                .opts
                .retry
                .run(&stop, |_| {
                    self.bucket.list_page(&self.key_prefix, token.as_deref())
                })
                .map_err(|(e, tries)| self.listing_error(e, tries))?;
            for obj in page.objects {
                let Some(rel) = obj.key.strip_prefix(&self.key_prefix) else {
                    continue;
                };
                if rel.is_empty() || rel.ends_with('/') {
                    continue;
                }
                if self.excludes.excludes(rel) {
                    continue;
                }
                out.insert(rel.to_string(), obj.clone());
            }
            match page.next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        Ok(out)
    }

    fn listing_error(&self, e: S3Error, tries: u32) -> MirrorError {
        if e.code() == Some("NoSuchBucket") || (e.status() == Some(404) && e.code().is_none()) {
            return MirrorError::NoSuchBucket {
                alias: self.alias.clone(),
                url: self.url.clone(),
                bucket: self.bucket.name().to_string(),
                location: self.location.clone(),
            };
        }
        if e.is_denied() {
            return MirrorError::Denied {
                alias: self.alias.clone(),
                url: self.url.clone(),
                location: self.location.clone(),
                source: Box::new(e),
            };
        }
        MirrorError::Listing {
            location: self.location.clone(),
            tries,
            source: Box::new(e),
        }
    }

    // ---- comparison --------------------------------------------------

    /// Compares a file present on both sides with the same size.
    /// `Ok(None)`: in probe mode, the object does not exist.
    pub(super) fn compare(&self, state: &State, rel: &str) -> Result<Option<Outcome>, String> {
        let Some(local) = state.local.get(rel) else {
            return Err(format!("{}: vanished", self.path(rel).display()));
        };
        let probe = *lock(&self.probe);
        let mut head: Option<ObjectMeta> = None;
        let listed = if probe {
            let key = self.key(rel);
            let Some(meta) = self.request("compare", rel, |_| self.bucket.head(&key))? else {
                return Ok(None);
            };
            let listed = Listed {
                key: key.clone(),
                size: meta.size,
                etag: meta.etag.clone(),
            };
            head = Some(meta);
            if listed.size != local.size {
                return Ok(Some(plan::after_compare(false, self.opts.overwrite)));
            }
            listed
        } else {
            match state.remote.get(rel) {
                Some(l) => l.clone(),
                None => return Err(format!("{}: not in the listing", self.object(rel))),
            }
        };
        let same = self.same_content(rel, local, &listed, head)?;
        Ok(Some(plan::after_compare(same, self.opts.overwrite)))
    }

    fn head_once(
        &self,
        rel: &str,
        head: &mut Option<ObjectMeta>,
    ) -> Result<Option<ObjectMeta>, String> {
        if head.is_none() {
            let key = self.key(rel);
            *head = self.request("compare", rel, |_| self.bucket.head(&key))?;
        }
        Ok(head.clone())
    }

    /// Same size on both sides: same times (with `preserve` and metadata),
    /// else same MD5 as far as it can be known.
    fn same_content(
        &self,
        rel: &str,
        local: &LocalFile,
        remote: &Listed,
        mut head: Option<ObjectMeta>,
    ) -> Result<bool, String> {
        if self.opts.preserve {
            let Some(meta) = self.head_once(rel, &mut head)? else {
                return Ok(false);
            };
            if let Some(mtime) = Attrs::from_user_meta(&meta.user).and_then(|a| a.mtime) {
                return Ok(mtime.same_as(local.mtime));
            }
        }
        let path = self.path(rel);
        let read_err = |e: std::io::Error| format!("compare {}: cannot read: {e}", path.display());
        // Some servers list no ETag: ask for it.
        let remote_etag = if remote.etag.is_empty() && !self.encrypted {
            self.head_once(rel, &mut head)?
                .map(|m| m.etag)
                .unwrap_or_default()
        } else {
            remote.etag.clone()
        };
        let kind = if self.encrypted {
            EtagKind::Opaque
        } else {
            etag::classify(&remote_etag)
        };
        match kind {
            EtagKind::Md5(h) => {
                let d = etag::digest_file(&path, &[], &self.opts.cancel).map_err(read_err)?;
                Ok(d.md5 == h)
            }
            EtagKind::Multipart(_, n) => {
                let sizes =
                    etag::candidate_part_sizes(local.size, n, self.opts.part_size_for(local.size));
                let d = etag::digest_file(&path, &sizes, &self.opts.cancel).map_err(read_err)?;
                if d.multipart.contains(&remote_etag) {
                    return Ok(true);
                }
                let meta = self.head_once(rel, &mut head)?;
                Ok(meta
                    .and_then(|m| etag::md5_from_meta(&m.user))
                    .is_some_and(|m| m == d.md5))
            }
            EtagKind::Opaque => {
                let Some(expected) = self
                    .head_once(rel, &mut head)?
                    .and_then(|m| etag::md5_from_meta(&m.user))
                else {
                    return Ok(false);
                };
                let d = etag::digest_file(&path, &[], &self.opts.cancel).map_err(read_err)?;
                Ok(d.md5 == expected)
            }
        }
    }
}
