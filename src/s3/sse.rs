//! SSE-C: server-side encryption with a customer-provided key
//! (`encrypt_key=` of `b2c.volume`). The key travels in three headers on
//! every object request (put, get, head, multipart create, upload-part and
//! complete); it is never printed.

use base64::Engine as _;
use md5::{Digest, Md5};

use crate::cmdline::{decode_base64, Secret, MASK, SSEC_KEY_LEN};

/// The header naming the algorithm.
pub const SSE_ALGORITHM: &str = "x-amz-server-side-encryption-customer-algorithm";
/// The header holding the key (base64).
pub const SSE_KEY: &str = "x-amz-server-side-encryption-customer-key";
/// The header holding the MD5 of the key (base64).
pub const SSE_KEY_MD5: &str = "x-amz-server-side-encryption-customer-key-md5";

/// A key that is not 32 bytes (nor base64 of 32 bytes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("encrypt_key must be {SSEC_KEY_LEN} bytes, or base64 of {SSEC_KEY_LEN} bytes (its value is not shown)")]
pub struct SseKeyError;

/// An SSE-C key, ready to be sent.
#[derive(Clone, PartialEq, Eq)]
pub struct SseKey {
    key_b64: Secret,
    md5_b64: String,
}

impl std::fmt::Debug for SseKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SseKey({MASK})")
    }
}

impl SseKey {
    /// The key of `encrypt_key=`: 32 characters taken as they are, or base64
    /// of 32 bytes (the rules of the command-line checker).
    pub fn from_secret(secret: &Secret) -> Result<SseKey, SseKeyError> {
        let text = secret.expose();
        let raw = if text.len() == SSEC_KEY_LEN {
            text.as_bytes().to_vec()
        } else {
            match decode_base64(text) {
                Some(k) if k.len() == SSEC_KEY_LEN => k,
                _ => return Err(SseKeyError),
            }
        };
        Ok(Self::from_bytes(&raw))
    }

    fn from_bytes(raw: &[u8]) -> SseKey {
        let b64 = base64::engine::general_purpose::STANDARD;
        SseKey {
            key_b64: Secret::new(b64.encode(raw)),
            md5_b64: b64.encode(Md5::digest(raw)),
        }
    }

    /// The three headers, names in lower case.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            (SSE_ALGORITHM, "AES256".to_string()),
            (SSE_KEY, self.key_b64.expose().to_string()),
            (SSE_KEY_MD5, self.md5_b64.clone()),
        ]
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_base64_keys() {
        let raw = SseKey::from_secret(&Secret::new("0123456789abcdef0123456789abcdef")).unwrap();
        let b64 = SseKey::from_secret(&Secret::new("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="))
            .unwrap();
        assert_eq!(raw, b64);
        let h = raw.headers();
        assert_eq!(h[0], (SSE_ALGORITHM, "AES256".to_string()));
        assert_eq!(h[1].1, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=");
        // md5("0123456789abcdef0123456789abcdef"), base64.
        assert_eq!(h[2].1, "hRasmdxgYDKV3nvbahU1MA==");
        assert_eq!(format!("{raw:?}"), "SseKey(***)");
        assert!(SseKey::from_secret(&Secret::new("short")).is_err());
        assert!(SseKey::from_secret(&Secret::new("AAAA")).is_err());
        assert!(!SseKeyError.to_string().contains("short"));
    }
}
