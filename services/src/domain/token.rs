//! The API-token secret: `roster_<32 hex id>_<48 hex secret><8 hex CRC-32>`.
//!
//! The prefix lets secret scanners find leaked tokens; the embedded id makes lookup a primary-key
//! read; the CRC rejects typos and random guesses before any database work; 192 bits come from the
//! OS CSPRNG. Only the SHA-256 of the whole secret is stored, and comparison is constant time.

use roster::TOKEN_PREFIX;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

const SECRET_BYTES: usize = 24;
const BODY_LEN: usize = 32 + 1 + SECRET_BYTES * 2;
/// Total length of a secret.
pub const SECRET_LEN: usize = TOKEN_PREFIX.len() + BODY_LEN + 8;

/// A freshly minted secret and what the store keeps of it.
pub struct MintedSecret {
    /// The bearer secret, shown once.
    pub secret: String,
    /// Hex SHA-256 of `secret`.
    pub hash: String,
    /// The leading characters, kept to recognise the secret.
    pub prefix: String,
}

/// Mints a secret for token `id` from the OS CSPRNG.
pub fn mint(id: Uuid) -> Result<MintedSecret, getrandom::Error> {
    let mut random = [0u8; SECRET_BYTES];
    getrandom::fill(&mut random)?;
    let body = format!("{}_{}", id.simple(), hex::encode(random));
    let checksum = crc32fast::hash(body.as_bytes());
    let secret = format!("{TOKEN_PREFIX}{body}{checksum:08x}");
    Ok(MintedSecret {
        hash: hash(&secret),
        prefix: secret[..TOKEN_PREFIX.len() + 8].to_owned(),
        secret,
    })
}

/// Hex SHA-256 of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The token id inside a well-formed secret with a valid checksum; `None` otherwise, before any
/// database work.
pub fn parse(secret: &str) -> Option<Uuid> {
    if secret.len() != SECRET_LEN || !secret.is_ascii() {
        return None;
    }
    let body = secret.strip_prefix(TOKEN_PREFIX)?;
    let (body, checksum) = body.split_at(BODY_LEN);
    let expected = u32::from_str_radix(checksum, 16).ok()?;
    if crc32fast::hash(body.as_bytes()) != expected {
        return None;
    }
    let (id, rest) = body.split_at(32);
    if !rest.starts_with('_') || !rest[1..].bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    Uuid::try_parse(id).ok()
}

/// Whether `secret` hashes to `stored_hash`, in time independent of where they differ.
pub fn verify(secret: &str, stored_hash: &str) -> bool {
    let computed = hash(secret);
    computed.len() == stored_hash.len()
        && bool::from(computed.as_bytes().ct_eq(stored_hash.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_secrets_parse_back_to_their_id_and_verify() {
        let id = Uuid::new_v4();
        let minted = mint(id).unwrap();
        assert_eq!(minted.secret.len(), SECRET_LEN);
        assert!(minted.secret.starts_with("roster_"));
        assert_eq!(parse(&minted.secret), Some(id));
        assert!(verify(&minted.secret, &minted.hash));
        assert!(!minted.hash.contains(&minted.secret[20..40]));
    }

    #[test]
    fn a_changed_character_fails_the_checksum() {
        let minted = mint(Uuid::new_v4()).unwrap();
        let mut bytes = minted.secret.into_bytes();
        bytes[50] = if bytes[50] == b'a' { b'b' } else { b'a' };
        assert_eq!(parse(&String::from_utf8(bytes).unwrap()), None);
        assert_eq!(parse("roster_short"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn secrets_differ_and_use_the_whole_alphabet() {
        // A coarse uniformity check: 200 secrets give 9,600 hex digits; each of the 16 digits
        // should appear close to 600 times (chi-square with 15 degrees of freedom under 37.7,
        // the 0.1% critical value).
        let mut counts = [0usize; 16];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let minted = mint(Uuid::new_v4()).unwrap();
            let random = &minted.secret[TOKEN_PREFIX.len() + 33..TOKEN_PREFIX.len() + BODY_LEN];
            assert!(seen.insert(random.to_owned()));
            for digit in random.chars() {
                counts[digit.to_digit(16).unwrap() as usize] += 1;
            }
        }
        let expected = 9600.0 / 16.0;
        let chi: f64 = counts
            .iter()
            .map(|&count| (count as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi < 37.7, "chi-square {chi} for {counts:?}");
    }
}
