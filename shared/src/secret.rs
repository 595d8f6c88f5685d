//! Secrets that never show in `Debug` output or logs, and constant-time
//! checks against a list of them (first = newest, all accepted: rotation).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A secret value. `Debug` prints `Secret(<redacted>)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for signing or comparing. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One or more active secrets. Never empty (see [`SecretList::parse`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretList(Vec<Secret>);

/// A secret list setting that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretListError {
    #[error("is empty")]
    Empty,
    #[error("contains an empty entry")]
    EmptyEntry,
}

impl SecretList {
    /// Parse a comma-separated list (first = newest). Empty entries are
    /// refused: an empty secret would make every signature "valid" for
    /// anyone who knows it is empty.
    pub fn parse(s: &str) -> Result<Self, SecretListError> {
        if s.trim().is_empty() {
            return Err(SecretListError::Empty);
        }
        let mut out = Vec::new();
        for part in s.split(',') {
            let p = part.trim();
            if p.is_empty() {
                return Err(SecretListError::EmptyEntry);
            }
            out.push(Secret::new(p));
        }
        Ok(SecretList(out))
    }

    pub fn from_secrets(v: Vec<Secret>) -> Result<Self, SecretListError> {
        if v.is_empty() {
            return Err(SecretListError::Empty);
        }
        if v.iter().any(|s| s.0.is_empty()) {
            return Err(SecretListError::EmptyEntry);
        }
        Ok(SecretList(v))
    }

    /// The newest secret (used to sign in `payhook send`).
    pub fn newest(&self) -> &Secret {
        // Non-empty by construction.
        &self.0[0]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Secret> {
        self.0.iter()
    }

    /// True when `candidate` equals one of the secrets. Every secret is
    /// compared, in constant time, whatever the outcome of earlier ones.
    pub fn contains_ct(&self, candidate: &[u8]) -> bool {
        let mut hit = subtle::Choice::from(0);
        for s in &self.0 {
            hit |= ct_eq(s.0.as_bytes(), candidate);
        }
        hit.into()
    }

    /// True when `sig_hex` is the lowercase-hex HMAC-SHA256 of `parts`
    /// (concatenated) under one of the secrets. Uses `hmac`'s constant-time
    /// `verify_slice`. Upper-case hex is refused: the providers send
    /// lowercase, and accepting several spellings of one signature only
    /// widens what an attacker may try.
    pub fn verify_hmac_sha256_hex(&self, parts: &[&[u8]], sig_hex: &str) -> bool {
        if sig_hex.len() != 64 || sig_hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return false;
        }
        // Into a fixed buffer: `hex::decode` grows a `Vec` from an iterator
        // with no size hint (four reallocations for 32 bytes).
        let mut sig = [0u8; 32];
        if hex::decode_to_slice(sig_hex, &mut sig).is_err() {
            return false;
        }
        let mut ok = false;
        for s in &self.0 {
            let mut mac = hmac_sha256(s);
            for p in parts {
                mac.update(p);
            }
            ok |= mac.verify_slice(&sig).is_ok();
        }
        ok
    }
}

/// Constant-time equality that does not leak where the inputs differ. Length
/// differences are hidden by comparing SHA-256 digests of both sides.
pub fn ct_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use sha2::Digest;
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    da.as_slice().ct_eq(db.as_slice())
}

fn hmac_sha256(secret: &Secret) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    match Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    }
}

/// Lowercase-hex HMAC-SHA256 of `parts` under `secret` (for signing: tests,
/// `payhook send`).
pub fn sign_hmac_sha256_hex(secret: &Secret, parts: &[&[u8]]) -> String {
    let mut mac = hmac_sha256(secret);
    for p in parts {
        mac.update(p);
    }
    hex::encode(mac.finalize().into_bytes())
}

/// Fill `buf` from the operating system's random source.
pub fn fill_random(buf: &mut [u8]) {
    use rand::RngCore;
    // ThreadRng is a CSPRNG seeded from the OS.
    rand::rng().fill_bytes(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let l = SecretList::parse("s3cr3t-one,s3cr3t-two").unwrap_or_else(|_| unreachable!());
        let d = format!("{l:?}");
        assert!(!d.contains("s3cr3t"), "{d}");
    }

    #[test]
    fn empty_lists_and_entries_are_refused() {
        assert_eq!(SecretList::parse(""), Err(SecretListError::Empty));
        assert_eq!(SecretList::parse("a,,b"), Err(SecretListError::EmptyEntry));
        assert_eq!(SecretList::parse(" , "), Err(SecretListError::EmptyEntry));
    }

    #[test]
    fn hmac_known_answer_and_rotation() {
        // RFC 4231 test case 2.
        let l = SecretList::parse("other,Jefe").unwrap_or_else(|_| unreachable!());
        let sig = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        assert!(l.verify_hmac_sha256_hex(&[b"what do ya want ", b"for nothing?"], sig));
        assert!(!l.verify_hmac_sha256_hex(&[b"what do ya want for nothing!"], sig));
        assert!(!l.verify_hmac_sha256_hex(&[b"what do ya want for nothing?"], &sig.to_uppercase()));
        assert!(!l.verify_hmac_sha256_hex(&[b"what do ya want for nothing?"], &sig[..63]));
        assert_eq!(
            sign_hmac_sha256_hex(&Secret::new("Jefe"), &[b"what do ya want for nothing?"]),
            sig
        );
    }

    #[test]
    fn contains_ct_matches_any_entry_only() {
        let l = SecretList::parse("tok-a,tok-b").unwrap_or_else(|_| unreachable!());
        assert!(l.contains_ct(b"tok-b"));
        assert!(l.contains_ct(b"tok-a"));
        assert!(!l.contains_ct(b"tok-"));
        assert!(!l.contains_ct(b""));
    }
}
