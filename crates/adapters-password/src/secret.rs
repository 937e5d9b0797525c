//! Temporary passwords (rule 13): random, easy to read and type, accepted by the default
//! password policy.

use domain::model::PlainPassword;
use domain::ports::SecretGenerator;
use rand::Rng;
use rand::rngs::OsRng;

/// Characters of a temporary password.
const LENGTH: usize = 24;

/// The alphabet: 24 lowercase + 24 uppercase + 8 digits + 10 symbols = 66 characters.
/// Left out because they are easily confused when read or typed: `l`, `o`, `I`, `O`, `0`,
/// `1`; quotes, backquote, backslash, `|`, `.`, `,`, `;`, `:`, space (hard to tell apart
/// or to copy), and `$`, `&`, `<`, `>` (mangled by shells and HTML when an administrator
/// pastes the password somewhere).
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!#%*+-=?@_";

// The `expect` in `temporary_password` relies on this.
const _: () = assert!(LENGTH <= PlainPassword::MAX_BYTES);

/// Generates temporary passwords from the operating system's random generator.
///
/// Each password is drawn uniformly among the 24-character strings over the 66-character
/// alphabet that contain a lowercase letter, an uppercase letter, a digit and a symbol:
/// candidates are drawn character by character from the whole alphabet with `gen_range`
/// (unbiased: it rejects out-of-range samples rather than taking a modulo), so no class
/// has a fixed position, and drawn again while a class is missing. Rejection keeps the draw
/// uniform over the accepted strings, so the entropy is log2 of their number:
///
/// - all strings: 66^24, that is 24 × log2(66) ≈ 145.07 bits;
/// - share missing a class, at most (58/66)^24 [no digit] + (56/66)^24 [no symbol]
///   + 2 × (42/66)^24 [no lowercase, no uppercase] ≈ 0.045 + 0.019 + 0.00004 ≈ 0.064;
/// - so the entropy is at least 145.07 + log2(1 − 0.064) ≈ 144.97 bits, above the
///   128 bits rule 13 asks for.
///
/// About 1.07 candidates are drawn on average; needing more than 10 has a probability
/// below 10^-11.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsSecretGenerator;

impl SecretGenerator for OsSecretGenerator {
    #[expect(
        clippy::expect_used,
        reason = "LENGTH ASCII characters fit PlainPassword::MAX_BYTES (asserted at compile time)"
    )]
    fn temporary_password(&self) -> PlainPassword {
        // The trait is infallible, so an OS generator failure (no entropy source at all)
        // panics inside `OsRng`; nothing a request or the store sends can cause it.
        let mut rng = OsRng;
        loop {
            let candidate: String = (0..LENGTH)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect();
            if has_every_class(&candidate) {
                return PlainPassword::new(candidate).expect("a temporary password is short");
            }
        }
    }
}

/// Whether `s` has a lowercase letter, an uppercase letter, a digit and a symbol, as the
/// default `PasswordPolicy` requires.
fn has_every_class(s: &str) -> bool {
    s.bytes().any(|b| b.is_ascii_lowercase())
        && s.bytes().any(|b| b.is_ascii_uppercase())
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| !b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::HashSet;

    use domain::policy::{PasswordContext, PasswordPolicy};

    use super::*;

    #[test]
    fn alphabet_has_66_distinct_unambiguous_characters() {
        assert_eq!(ALPHABET.len(), 66);
        let distinct: HashSet<u8> = ALPHABET.iter().copied().collect();
        assert_eq!(distinct.len(), ALPHABET.len());
        for ambiguous in b"lIoO01'\"`\\|.,;: $&<>" {
            assert!(
                !ALPHABET.contains(ambiguous),
                "{} is ambiguous",
                char::from(*ambiguous)
            );
        }
        let count = |f: fn(&u8) -> bool| ALPHABET.iter().filter(|b| f(b)).count();
        assert_eq!(count(u8::is_ascii_lowercase), 24);
        assert_eq!(count(u8::is_ascii_uppercase), 24);
        assert_eq!(count(u8::is_ascii_digit), 8);
        assert_eq!(count(|b| !b.is_ascii_alphanumeric()), 10);
    }

    #[test]
    fn rule13_entropy_is_at_least_128_bits() {
        // The computation of the type's documentation, redone from the alphabet.
        let n = ALPHABET.len() as f64;
        let len = LENGTH as i32;
        let lower = ALPHABET.iter().filter(|b| b.is_ascii_lowercase()).count() as f64;
        let upper = ALPHABET.iter().filter(|b| b.is_ascii_uppercase()).count() as f64;
        let digits = ALPHABET.iter().filter(|b| b.is_ascii_digit()).count() as f64;
        let symbols = n - lower - upper - digits;
        let missing = [lower, upper, digits, symbols]
            .iter()
            .map(|class| ((n - class) / n).powi(len))
            .sum::<f64>();
        let bits = f64::from(len) * n.log2() + (1.0 - missing).log2();
        assert!(bits >= 144.9, "{bits} bits");
    }

    #[test]
    fn rule13_temporary_passwords_pass_the_default_policy() {
        let policy = PasswordPolicy::default();
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let password = OsSecretGenerator.temporary_password();
            let text = password.expose();
            assert_eq!(text.len(), LENGTH);
            assert!(text.bytes().all(|b| ALPHABET.contains(&b)), "{text}");
            assert!(has_every_class(text), "{text}");
            assert_eq!(
                policy.check(&password, PasswordContext::default()),
                vec![],
                "{text}"
            );
            assert!(seen.insert(text.to_owned()), "repeated {text}");
        }
    }

    #[test]
    fn guaranteed_classes_have_no_fixed_position() {
        // Every position holds, across draws, characters of all four classes: a generator
        // that pinned a class to a position would fail this. A position misses the rarest
        // class (digits, 8/66) in 300 draws with probability (58/66)^300 < 10^-16.
        let draws: Vec<String> = (0..300)
            .map(|_| OsSecretGenerator.temporary_password().expose().to_owned())
            .collect();
        for position in 0..LENGTH {
            let classes: HashSet<u8> = draws
                .iter()
                .map(|d| match d.as_bytes()[position] {
                    b if b.is_ascii_lowercase() => 0,
                    b if b.is_ascii_uppercase() => 1,
                    b if b.is_ascii_digit() => 2,
                    _ => 3,
                })
                .collect();
            assert_eq!(classes.len(), 4, "position {position}: {classes:?}");
        }
    }
}
