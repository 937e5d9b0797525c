//! Checkpoints: the canonical form a checkpoint's signature covers, the keys that sign it
//! ([`CheckpointKey`], the domain's `CheckpointSigner`) and the keys that verify it
//! ([`Keyring`]).
//!
//! A key is HMAC-SHA256 over a shared secret or Ed25519, identified as the token keys are
//! (`hs256-…` from a hash of the secret, the RFC 7638 thumbprint of an Ed25519 public key),
//! so an operator sees one id per key whatever it signs. A checkpoint is looked up by that
//! id and checked with the key's own algorithm; a checkpoint naming an id the keyring lacks
//! is neither trusted nor refused: it proves nothing (see [`Signature::UnknownKey`]).
//!
//! Signing the token key's messages and checkpoints with one key is safe because the two
//! kinds of message can never be equal: a token's signed input is base64url text and a
//! dot, which never holds the `=` and newlines every checkpoint form starts with.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use domain::model::{AuditCheckpoint, AuditRecord};
use domain::ports::CheckpointSigner;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{Signer as _, Verifier as _};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::{field, stored, to_hex};

/// Names the format inside every signed form, so that a future format never collides.
const FORMAT: &str = "users-service/audit-checkpoint/v1";

/// The exact bytes signed for a checkpoint of event `seq` with hash `hash`, made at `at`
/// (to the millisecond) by key `key_id`; the same `name=length:value` lines as an event's
/// canonical form.
pub fn canonical(seq: u64, hash: &str, at: OffsetDateTime, key_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    field(&mut out, "format", Some(FORMAT));
    field(&mut out, "seq", Some(&seq.to_string()));
    field(&mut out, "hash", Some(hash));
    field(&mut out, "at_ms", Some(&stored::millis(at).to_string()));
    field(&mut out, "key_id", Some(key_id));
    out
}

fn signed_form(checkpoint: &AuditCheckpoint) -> Vec<u8> {
    canonical(
        checkpoint.seq,
        &checkpoint.hash,
        checkpoint.at,
        &checkpoint.key_id,
    )
}

/// A key that cannot be used: not PEM, not Ed25519, or damaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyError(String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

type HmacSha256 = Hmac<Sha256>;

/// The id of an HMAC secret: the token service's id of the same secret. A hash of the
/// secret, which tells nothing an HMAC signature does not already let one check offline.
fn hmac_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"users-service hs256 key id\0")
        .chain_update(secret)
        .finalize();
    format!("hs256-{}", URL_SAFE_NO_PAD.encode(&digest[..12]))
}

/// The id of an Ed25519 key: its RFC 7638 thumbprint, the `kid` of its tokens and JWK.
fn ed25519_id(public: &ed25519_dalek::VerifyingKey) -> String {
    let x = URL_SAFE_NO_PAD.encode(public.as_bytes());
    let thumbprint = Sha256::digest(format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#));
    URL_SAFE_NO_PAD.encode(thumbprint)
}

fn hmac(secret: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length (longer ones are hashed first), so this never fails.
    <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"))
}

enum Private {
    Hmac(Vec<u8>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// A key that signs checkpoints: the domain's `CheckpointSigner`.
pub struct CheckpointKey {
    id: String,
    key: Private,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the material: this may end up in logs.
        f.debug_struct("CheckpointKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// HMAC-SHA256 with `secret`.
    pub fn hmac(secret: &[u8]) -> Self {
        Self {
            id: hmac_id(secret),
            key: Private::Hmac(secret.to_vec()),
        }
    }

    /// Ed25519 with the private key in `pem` (PKCS#8).
    ///
    /// # Errors
    /// `pem` is not an Ed25519 private key.
    pub fn ed25519_pem(pem: &str) -> Result<Self, KeyError> {
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| KeyError(format!("not an Ed25519 private key (PKCS#8 PEM): {e}")))?;
        Ok(Self {
            id: ed25519_id(&key.verifying_key()),
            key: Private::Ed25519(Box::new(key)),
        })
    }

    /// The key's id, written into every checkpoint it signs.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The key that verifies what this one signs.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey {
            id: self.id.clone(),
            key: match &self.key {
                Private::Hmac(secret) => Public::Hmac(secret.clone()),
                Private::Ed25519(key) => Public::Ed25519(key.verifying_key()),
            },
        }
    }
}

impl CheckpointSigner for CheckpointKey {
    fn key_id(&self) -> String {
        self.id.clone()
    }

    fn sign(&self, seq: u64, hash: &str, at: OffsetDateTime) -> AuditCheckpoint {
        // Every store keeps milliseconds: what is signed must read back unchanged.
        let at = AuditRecord::truncate_to_millis(at);
        let message = canonical(seq, hash, at, &self.id);
        let signature = match &self.key {
            Private::Hmac(secret) => {
                let mut mac = hmac(secret);
                mac.update(&message);
                to_hex(&mac.finalize().into_bytes())
            }
            Private::Ed25519(key) => to_hex(&key.sign(&message).to_bytes()),
        };
        AuditCheckpoint {
            seq,
            hash: hash.to_owned(),
            at,
            key_id: self.id.clone(),
            signature,
        }
    }
}

enum Public {
    Hmac(Vec<u8>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A key that verifies checkpoints: an HMAC secret, or an Ed25519 public key.
pub struct VerifyingKey {
    id: String,
    key: Public,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// The HMAC-SHA256 secret `secret`.
    pub fn hmac(secret: &[u8]) -> Self {
        CheckpointKey::hmac(secret).verifying_key()
    }

    /// The Ed25519 key in `pem`: a public key (SPKI) or a private one (PKCS#8), whose public
    /// half is kept.
    ///
    /// # Errors
    /// `pem` is neither.
    pub fn ed25519_pem(pem: &str) -> Result<Self, KeyError> {
        if pem.contains("-----BEGIN PRIVATE KEY-----") {
            return Ok(CheckpointKey::ed25519_pem(pem)?.verifying_key());
        }
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map_err(|e| KeyError(format!("not an Ed25519 key (PEM): {e}")))?;
        Ok(Self {
            id: ed25519_id(&key),
            key: Public::Ed25519(key),
        })
    }

    /// The key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn verifies(&self, checkpoint: &AuditCheckpoint) -> bool {
        let Some(signature) = from_hex(&checkpoint.signature) else {
            return false;
        };
        let message = signed_form(checkpoint);
        match &self.key {
            Public::Hmac(secret) => {
                let mut mac = hmac(secret);
                mac.update(&message);
                // Constant time: the comparison tells nothing about the expected value.
                mac.verify_slice(&signature).is_ok()
            }
            Public::Ed25519(key) => {
                let Ok(bytes) = <[u8; 64]>::try_from(signature.as_slice()) else {
                    return false;
                };
                key.verify(&message, &ed25519_dalek::Signature::from_bytes(&bytes))
                    .is_ok()
            }
        }
    }
}

/// What a keyring says of a checkpoint's signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signature {
    /// Made by the key the checkpoint names, over exactly its fields.
    Valid,
    /// The checkpoint names a key of the keyring, which did not make this signature over
    /// these fields: forged or altered.
    Invalid,
    /// The checkpoint names a key the keyring lacks (a retired key, or a made-up id): it
    /// proves nothing. Not a refusal: whoever can write the store can delete a checkpoint
    /// anyway, so one of unknown origin is simply not evidence.
    UnknownKey,
}

/// The keys that verify checkpoints, found by id.
#[derive(Debug, Default)]
pub struct Keyring {
    keys: Vec<VerifyingKey>,
}

impl Keyring {
    /// An empty keyring: every checkpoint is [`Signature::UnknownKey`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` (a key with the id of one already held is the same key, and skipped).
    pub fn add(&mut self, key: VerifyingKey) {
        if !self.keys.iter().any(|k| k.id == key.id) {
            self.keys.push(key);
        }
    }

    /// Ids of the keys held, in the order added.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Checks `checkpoint`'s signature with the key it names.
    pub fn check(&self, checkpoint: &AuditCheckpoint) -> Signature {
        match self.keys.iter().find(|k| k.id == checkpoint.key_id) {
            None => Signature::UnknownKey,
            Some(key) if key.verifies(checkpoint) => Signature::Valid,
            Some(_) => Signature::Invalid,
        }
    }
}

/// Bytes of lowercase hex (what [`to_hex`] writes); anything else is `None`.
fn from_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some((digit(pair[0])? << 4) | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET: &[u8] = b"test-secret-0123456789abcdef-0123456789abcdef";
    const KEY_A: &str = include_str!("../tests/keys/ed25519-a.pem");
    const KEY_A_PUB: &str = include_str!("../tests/keys/ed25519-a.pub.pem");
    const KEY_B: &str = include_str!("../tests/keys/ed25519-b.pem");
    const HASH: &str = "5f0c0e4a8d0b7f3c2a1e9d8c7b6a5f4e3d2c1b0a99887766554433221100ffee";

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
            + time::Duration::milliseconds(250)
    }

    fn keyring(keys: impl IntoIterator<Item = VerifyingKey>) -> Keyring {
        let mut ring = Keyring::new();
        for key in keys {
            ring.add(key);
        }
        ring
    }

    #[test]
    fn the_signed_form_is_pinned() {
        // Pinned: a change would make every stored checkpoint fail verification.
        assert_eq!(
            String::from_utf8(canonical(120, HASH, at(), "hs256-abc")).unwrap(),
            format!(
                "format=33:users-service/audit-checkpoint/v1\nseq=3:120\nhash=64:{HASH}\n\
                 at_ms=13:1800000000250\nkey_id=9:hs256-abc\n"
            )
        );
    }

    #[test]
    fn hmac_signatures_and_key_ids_are_pinned() {
        // Both computed independently (Python's hmac and hashlib): a change here would make
        // every stored checkpoint fail, or change the id tokens carry for this secret.
        let key = CheckpointKey::hmac(SECRET);
        assert_eq!(key.id(), "hs256-6vU9zU1BRrU31bsY");
        let checkpoint = key.sign(120, HASH, at() + time::Duration::microseconds(999));
        assert_eq!(
            checkpoint.signature,
            "8a4d4b6f0fba0b1bd8cb223656d2232e54bac6841d22ec07c72fafead69035a0"
        );
        assert_eq!(checkpoint.at, at(), "signed and kept to the millisecond");
    }

    #[test]
    fn a_signature_verifies_with_its_key() {
        for key in [
            CheckpointKey::hmac(SECRET),
            CheckpointKey::ed25519_pem(KEY_A).unwrap(),
        ] {
            let checkpoint = key.sign(7, HASH, at());
            let ring = keyring([key.verifying_key()]);
            assert_eq!(ring.check(&checkpoint), Signature::Valid, "{key:?}");
        }
        // The public half alone verifies Ed25519 checkpoints.
        let checkpoint = CheckpointKey::ed25519_pem(KEY_A)
            .unwrap()
            .sign(7, HASH, at());
        let public = keyring([VerifyingKey::ed25519_pem(KEY_A_PUB).unwrap()]);
        assert_eq!(public.check(&checkpoint), Signature::Valid);
    }

    #[test]
    fn an_altered_field_is_refused() {
        for key in [
            CheckpointKey::hmac(SECRET),
            CheckpointKey::ed25519_pem(KEY_A).unwrap(),
        ] {
            let ring = keyring([key.verifying_key()]);
            let good = key.sign(120, HASH, at());
            let mut alterations = Vec::new();
            let mut c = good.clone();
            c.seq = 95;
            alterations.push(c);
            let mut c = good.clone();
            c.hash = HASH.replace('5', "6");
            alterations.push(c);
            let mut c = good.clone();
            c.at += time::Duration::milliseconds(1);
            alterations.push(c);
            let mut c = good.clone();
            c.signature.replace_range(0..2, "00");
            alterations.push(c);
            let mut c = good.clone();
            c.signature = c.signature.to_uppercase();
            alterations.push(c);
            let mut c = good.clone();
            c.signature.pop();
            alterations.push(c);
            for altered in alterations {
                assert_ne!(altered, good);
                assert_eq!(ring.check(&altered), Signature::Invalid, "{altered:?}");
            }
        }
    }

    #[test]
    fn another_key_is_refused_or_unknown() {
        let a = CheckpointKey::hmac(SECRET);
        let b = CheckpointKey::hmac(b"another-secret-of-thirty-two-bytes!!");
        let ed_a = CheckpointKey::ed25519_pem(KEY_A).unwrap();
        let ed_b = CheckpointKey::ed25519_pem(KEY_B).unwrap();
        let ring = keyring([a.verifying_key(), ed_a.verifying_key()]);
        // A key the ring lacks proves nothing.
        assert_eq!(ring.check(&b.sign(1, HASH, at())), Signature::UnknownKey);
        assert_eq!(ring.check(&ed_b.sign(1, HASH, at())), Signature::UnknownKey);
        // Signed by another key but claiming a known id: forged.
        let mut forged = b.sign(1, HASH, at());
        forged.key_id = a.id().to_owned();
        assert_eq!(ring.check(&forged), Signature::Invalid);
        let mut forged = ed_b.sign(1, HASH, at());
        forged.key_id = ed_a.id().to_owned();
        assert_eq!(ring.check(&forged), Signature::Invalid);
        // An HMAC over the Ed25519 key's id is checked with Ed25519: refused.
        let mut confused = a.sign(1, HASH, at());
        confused.key_id = ed_a.id().to_owned();
        assert_eq!(ring.check(&confused), Signature::Invalid);
    }

    #[test]
    fn keys_are_read_from_pem_and_refused_otherwise() {
        let private = VerifyingKey::ed25519_pem(KEY_A).unwrap();
        let public = VerifyingKey::ed25519_pem(KEY_A_PUB).unwrap();
        assert_eq!(private.id(), public.id());
        assert_eq!(CheckpointKey::ed25519_pem(KEY_A).unwrap().id(), public.id());
        assert!(CheckpointKey::ed25519_pem(KEY_A_PUB).is_err());
        assert!(VerifyingKey::ed25519_pem("not a key").is_err());
        let ring = keyring([private, public]);
        assert_eq!(ring.ids().count(), 1, "one key, one entry");
        assert!(!format!("{:?}", CheckpointKey::hmac(SECRET)).contains("test-secret"));
    }
}
