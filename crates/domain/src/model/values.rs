//! Value types that are valid by construction: parse once at the edge, trust afterwards.

use std::fmt;

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;
use uuid::Uuid;

use crate::error::FieldError;

/// Identifier of a user (UUID v4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Uuid);

impl UserId {
    /// Wraps an existing UUID.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// Parses the textual UUID form; `None` when it is not a UUID.
    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s).ok().map(Self)
    }

    /// The underlying UUID.
    pub fn as_uuid(&self) -> &Uuid {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({})", self.0)
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// Characters that change how text reads without showing themselves: the format
/// characters (Unicode category Cf: bidirectional controls, zero-width spaces and joiners,
/// the byte-order mark, tags…), the line and paragraph separators, and the blank fillers
/// that render as nothing. Refused in every free-text field: they hide content or reorder
/// it (CVE-2021-42574, "Trojan Source").
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The refusal of a free-text field holding an invisible character.
fn invisible_in(field: &'static str) -> FieldError {
    FieldError::new(
        field,
        "TEXT_INVISIBLE_CHARACTERS",
        "text must not contain invisible, bidirectional or zero-width characters",
    )
}

/// NFKC, then full case folding, then NFKC again: the key under which two spellings are
/// one identifier ("ＡＤＭＩＮ", "Admin" and "admin"; "STRASSE" and "straße"). Logins,
/// e-mails and the search compare in this form.
pub fn fold(text: &str) -> String {
    // ASCII is its own NFKC, and its full case folding is its lower case: the common case
    // costs no table look-up (every stored user is decoded through here).
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let compatible: String = text.nfkc().collect();
    caseless::default_case_fold_str(&compatible)
        .nfkc()
        .collect()
}

/// `text` in NFKC (ASCII already is).
fn nfkc(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        text.nfkc().collect()
    }
}

/// `text` in NFC (ASCII already is).
fn nfc(text: &str) -> String {
    if text.is_ascii() {
        text.to_owned()
    } else {
        text.nfc().collect()
    }
}

/// Login name: 3–64 characters among letters, digits, `.`, `_`, `-`, `@`, `+`, in one
/// script; unique by its [`key`](Login::key) and by its confusable
/// [`skeleton`](Login::skeleton).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Login {
    value: String,
    key: String,
}

impl Login {
    /// Smallest accepted length, in characters.
    pub const MIN_LEN: usize = 3;
    /// Largest accepted length, in characters.
    pub const MAX_LEN: usize = 64;

    /// Validates a new login as typed by a person. Compatibility forms are folded first
    /// (full-width "ａｄｍｉｎ" is "admin"), so the login is stored as NFKC.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let login = Self::recognise(raw)?;
        // "аdmin" (Cyrillic а) beside "admin": one script per login (UTS 39 §5.1).
        if !login.value.as_str().is_single_script() {
            return Err(FieldError::new(
                "login",
                "LOGIN_MIXED_SCRIPTS",
                "login must be written in one script",
            ));
        }
        Ok(login)
    }

    /// A login that may already exist: as [`parse`](Self::parse) without the one-script
    /// rule, which new logins meet but accounts stored before it need not. For look-ups and
    /// for stores reading their records back.
    pub fn recognise(raw: &str) -> Result<Self, FieldError> {
        let value = nfkc(raw.trim());
        let len = value.chars().count();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(FieldError::new(
                "login",
                "LOGIN_LENGTH",
                "login must be 3 to 64 characters long",
            ));
        }
        let allowed = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | '+');
        if !value.chars().all(allowed) {
            return Err(FieldError::new(
                "login",
                "LOGIN_CHARACTERS",
                "login may contain only letters, digits and . _ - @ +",
            ));
        }
        let key = fold(&value);
        Ok(Self { value, key })
    }

    /// The login as chosen by its owner (NFKC).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The folded form (NFKC, full case folding) that look-ups and search use.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The UTS 39 skeleton of the key: two logins that look alike ("rnartin", "martin";
    /// "paypa1", "paypal") share it, and stores keep it unique. Computed when asked (the
    /// writes of a login), not by every read of a stored user.
    pub fn skeleton(&self) -> String {
        unicode_security::skeleton(&self.key).collect()
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({:?})", self.value)
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// E-mail address, syntactically validated; unique ignoring case.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email {
    value: String,
    key: String,
}

impl Email {
    /// Largest accepted length (RFC 5321 path limit).
    pub const MAX_LEN: usize = 254;

    /// Validates an address: one `@`, a non-empty local part of at most 64 characters,
    /// a dotted domain of letters, digits and hyphens, no spaces or control characters.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("email", "EMAIL_INVALID", "email is not a valid address");
        let value = nfc(raw.trim());
        let value = value.as_str();
        if value.chars().any(is_invisible) {
            return Err(invisible_in("email"));
        }
        if value.is_empty() || value.len() > Self::MAX_LEN || has_control(value) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.chars().count() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.chars().count() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !(local_ok && domain_ok) {
            return Err(invalid());
        }
        Ok(Self {
            key: fold(value),
            value: value.to_owned(),
        })
    }

    /// The address as given (NFC).
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The folded form (NFKC, full case folding) that uniqueness and look-ups use.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The part before `@`, case-folded (used by the password policy).
    pub fn local_part_key(&self) -> &str {
        self.key.split('@').next().unwrap_or_default()
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.value)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Defines a trimmed, bounded, control-character-free text type.
macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $field:literal, $code:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            /// Largest accepted length, in characters.
            pub const MAX_LEN: usize = $max;

            /// Validates new text: trimmed, 1 to `MAX_LEN` characters, no control or
            /// invisible characters.
            pub fn parse(raw: &str) -> Result<Self, FieldError> {
                if raw.chars().any(is_invisible) {
                    return Err(invisible_in($field));
                }
                Self::recognise(raw)
            }

            /// Text that may have been stored before invisible characters were refused:
            /// the rules of [`parse`](Self::parse) but that one, for stores reading
            /// their records back.
            pub fn recognise(raw: &str) -> Result<Self, FieldError> {
                let value = raw.trim();
                let len = value.chars().count();
                if len == 0 || len > Self::MAX_LEN || has_control(value) {
                    return Err(FieldError::new(
                        $field,
                        $code,
                        concat!($field, " must be 1 to ", stringify!($max), " printable characters"),
                    ));
                }
                Ok(Self(value.to_owned()))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), self.0)
            }
        }
    };
}

bounded_text!(
    /// Full name of a person, 1–200 characters.
    FullName,
    "full_name",
    "FULL_NAME_INVALID",
    200
);
bounded_text!(
    /// Administrative grade, 1–100 characters.
    Grade,
    "grade",
    "GRADE_INVALID",
    100
);
bounded_text!(
    /// Postal address, 1–500 characters.
    Address,
    "address",
    "ADDRESS_INVALID",
    500
);
bounded_text!(
    /// Why an account was blocked (the fr `motif`), 1–500 characters; kept in the audit trail.
    Reason,
    "reason",
    "MOTIF_INVALID",
    500
);

/// A client's idempotency key (`Idempotency-Key`): 1 to 255 visible ASCII characters. A
/// request repeated with the same key is applied once.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Largest accepted length.
    pub const MAX_LEN: usize = 255;

    /// Validates a key as sent.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok =
            (1..=Self::MAX_LEN).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "idempotency_key",
                "IDEMPOTENCY_KEY_INVALID",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({:?})", self.0)
    }
}

/// Telephone number in E.164 form: `+`, then 7 to 15 digits, the first not 0.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Validates an E.164 number; spaces are not accepted.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let value = raw.trim();
        let digits = value.strip_prefix('+').unwrap_or("");
        let ok = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(FieldError::new(
                "phone",
                "PHONE_INVALID",
                "phone must be in international form, e.g. +243820123456",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({:?})", self.0)
    }
}

/// Sex of a person as recorded by the administration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Male (`M`).
    Male,
    /// Female (`F`).
    Female,
}

impl Sex {
    /// Parses `M` or `F`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        match raw {
            "M" => Ok(Self::Male),
            "F" => Ok(Self::Female),
            _ => Err(FieldError::new("sex", "SEX_INVALID", "sex must be M or F")),
        }
    }

    /// The one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Male => "M",
            Self::Female => "F",
        }
    }
}

/// A password in clear text, as typed. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainPassword(String);

impl PlainPassword {
    /// Largest accepted input, in bytes: bounds hashing cost for hostile input.
    pub const MAX_BYTES: usize = 1024;

    /// Accepts any text up to `MAX_BYTES`; strength is the policy's business, not this type's.
    pub fn new(raw: impl Into<String>) -> Result<Self, FieldError> {
        let raw = raw.into();
        if raw.len() > Self::MAX_BYTES {
            return Err(FieldError::new(
                "password",
                "PASSWORD_TOO_LONG",
                "password is too long",
            ));
        }
        Ok(Self(raw))
    }

    /// The clear text; only hashers and the policy should need it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PlainPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainPassword(***)")
    }
}

/// A stored password hash in PHC or modular-crypt form (`$argon2id$…`, `$2b$…`). Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash string produced by a hasher or read from a store.
    pub fn new(hash: impl Into<String>) -> Self {
        Self(hash.into())
    }

    /// The encoded hash, for hashers and stores only.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_accepts_the_documented_alphabet_and_folds_case() {
        let login = Login::parse("Agent.One_2-x@y+z").unwrap();
        assert_eq!(login.as_str(), "Agent.One_2-x@y+z");
        assert_eq!(login.key(), "agent.one_2-x@y+z");
    }

    #[test]
    fn login_rejects_bad_length_and_characters() {
        assert_eq!(Login::parse("ab").unwrap_err().code, "LOGIN_LENGTH");
        assert_eq!(
            Login::parse(&"a".repeat(65)).unwrap_err().code,
            "LOGIN_LENGTH"
        );
        for bad in [
            "with space",
            "semi;colon",
            "dollar$",
            "nul\0byte",
            "a{\"$ne\":1}",
        ] {
            assert_eq!(
                Login::parse(bad).unwrap_err().code,
                "LOGIN_CHARACTERS",
                "{bad}"
            );
        }
    }

    #[test]
    fn identities_fold_under_nfkc_and_full_case_folding() {
        let full_width = Login::parse("ＡＤＭＩＮ").unwrap();
        assert_eq!(full_width.as_str(), "ADMIN", "stored as NFKC");
        assert_eq!(full_width.key(), Login::parse("admin").unwrap().key());
        assert_eq!(
            Login::parse("Straße").unwrap().key(),
            Login::parse("STRASSE").unwrap().key()
        );
        assert_eq!(
            Email::parse("ＡＤＡ@Example.ORG").unwrap().key(),
            "ada@example.org"
        );
        // Compatibility digraphs decompose; trimming is the parser's, not fold's.
        assert_eq!(fold(" Ǆ "), " dž ");
    }

    #[test]
    fn new_logins_are_in_one_script_and_look_alikes_share_a_skeleton() {
        let cyrillic_a = "\u{430}dmin";
        assert_eq!(
            Login::parse(cyrillic_a).unwrap_err().code,
            "LOGIN_MIXED_SCRIPTS"
        );
        // Stored before the rule: still read back, and found.
        assert!(Login::recognise(cyrillic_a).is_ok());
        // Digits and punctuation belong to every script; Japanese mixes three by design.
        for one_script in ["agent.42", "жан-поль", "やまだ太郎", "Ελένη_7"] {
            assert!(Login::parse(one_script).is_ok(), "{one_script}");
        }
        let skeleton = |s: &str| Login::parse(s).unwrap().skeleton();
        assert_eq!(skeleton("rnartin"), skeleton("martin"));
        assert_eq!(skeleton("paypa1"), skeleton("paypal"));
        assert_ne!(skeleton("martin"), skeleton("marten"));
    }

    #[test]
    fn invisible_characters_are_refused_naming_the_field() {
        for text in [
            "Ali\u{202E}ecnerolF",
            "zero\u{200B}width",
            "joiner\u{200D}",
            "bom\u{FEFF}",
            "isolate\u{2066}",
            "filler\u{3164}",
            "tag\u{E0041}",
        ] {
            let e = FullName::parse(text).unwrap_err();
            assert_eq!(
                (e.field, e.code),
                ("full_name", "TEXT_INVISIBLE_CHARACTERS"),
                "{text:?}"
            );
            assert_eq!(Reason::parse(text).unwrap_err().field, "reason");
            assert_eq!(
                Email::parse(&format!("a{text}@b.cd")).unwrap_err().field,
                "email"
            );
        }
        // Text stored before the rule still reads back.
        assert!(Grade::recognise("Chef\u{200B}").is_ok());
        assert!(FullName::parse("Élodie N'Diaye-Kabasele").is_ok());
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("0b6f4c8e-retry:1").is_ok());
        for bad in ["", "with space", "é", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad).unwrap_err().code,
                "IDEMPOTENCY_KEY_INVALID",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn email_validation() {
        let email = Email::parse("Ada.Lovelace@Example.COM").unwrap();
        assert_eq!(email.key(), "ada.lovelace@example.com");
        assert_eq!(email.local_part_key(), "ada.lovelace");
        for bad in [
            "",
            "no-at",
            "a@b",
            "@b.cd",
            "a@.cd",
            "a b@c.de",
            "a@b..cd",
            "a..b@c.de",
            "a@-b.cd",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@b.cd", "a".repeat(65))).is_err());
    }

    #[test]
    fn phone_must_be_e164() {
        assert!(Phone::parse("+243820123456").is_ok());
        for bad in [
            "243820123456",
            "+0123456789",
            "+12",
            "+1234567890123456",
            "+24382 0123",
        ] {
            assert!(Phone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn full_name_is_bounded_and_printable() {
        assert!(FullName::parse("KABILA Joseph").is_ok());
        assert!(FullName::parse("   ").is_err());
        assert!(FullName::parse(&"x".repeat(201)).is_err());
        assert!(FullName::parse("bell\u{7}").is_err());
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let pw = PlainPassword::new("hunter2-Secret!").unwrap();
        let hash = PasswordHash::new("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        assert!(!format!("{pw:?}").contains("hunter2"));
        assert!(!format!("{hash:?}").contains("argon2id"));
    }

    #[test]
    fn plain_password_is_bounded() {
        assert!(PlainPassword::new("x".repeat(PlainPassword::MAX_BYTES)).is_ok());
        assert!(PlainPassword::new("x".repeat(PlainPassword::MAX_BYTES + 1)).is_err());
    }

    #[test]
    fn user_id_parses_uuids_only() {
        assert!(UserId::parse("550e8400-e29b-41d4-a716-446655440000").is_some());
        assert!(UserId::parse("not-a-uuid").is_none());
    }
}
