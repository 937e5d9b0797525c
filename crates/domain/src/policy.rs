//! Configurable policies: password strength (rule 3) and brute-force lockout (rule 9).

use std::time::Duration;

use zxcvbn::matching::patterns::MatchPattern;

use time::OffsetDateTime;

use crate::error::PolicyViolation;
use crate::model::{Email, Login, PlainPassword};
use crate::ports::Attempt;

/// The password policy of rule 3; every check can be tuned or turned off by configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters.
    pub min_length: usize,
    /// Most characters.
    pub max_length: usize,
    /// Needs a lowercase letter.
    pub require_lowercase: bool,
    /// Needs an uppercase letter.
    pub require_uppercase: bool,
    /// Needs a digit.
    pub require_digit: bool,
    /// Needs a character that is neither a letter nor a digit.
    pub require_symbol: bool,
    /// Refuses passwords equal to or containing the login or the e-mail's local part.
    pub forbid_personal_data: bool,
    /// Refuses passwords of the common-password dictionary shipped with zxcvbn.
    pub forbid_common: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
            require_lowercase: true,
            require_uppercase: true,
            require_digit: true,
            require_symbol: true,
            forbid_personal_data: true,
            forbid_common: true,
        }
    }
}

/// Personal data a password must not contain.
#[derive(Clone, Copy, Debug, Default)]
pub struct PasswordContext<'a> {
    /// The owner's login.
    pub login: Option<&'a Login>,
    /// The owner's e-mail.
    pub email: Option<&'a Email>,
}

/// Shortest personal token worth refusing inside a password: `a@x.io` should not forbid every "a".
const MIN_PERSONAL_TOKEN: usize = 3;

impl PasswordPolicy {
    /// Every violation of the policy at once, in a stable order (empty when acceptable).
    /// "Differs from the current password" needs the hasher, so the use cases add it.
    pub fn check(
        &self,
        password: &PlainPassword,
        ctx: PasswordContext<'_>,
    ) -> Vec<PolicyViolation> {
        let pw = password.expose();
        let len = pw.chars().count();
        let mut out = Vec::new();
        if len < self.min_length {
            out.push(PolicyViolation::TooShort);
        }
        if len > self.max_length {
            out.push(PolicyViolation::TooLong);
        }
        if self.require_lowercase && !pw.chars().any(char::is_lowercase) {
            out.push(PolicyViolation::NoLowercase);
        }
        if self.require_uppercase && !pw.chars().any(char::is_uppercase) {
            out.push(PolicyViolation::NoUppercase);
        }
        if self.require_digit && !pw.chars().any(|c| c.is_ascii_digit()) {
            out.push(PolicyViolation::NoDigit);
        }
        if self.require_symbol && !pw.chars().any(|c| !c.is_alphanumeric()) {
            out.push(PolicyViolation::NoSymbol);
        }
        if self.forbid_personal_data {
            let folded = pw.to_lowercase();
            let contains =
                |token: &str| token.chars().count() >= MIN_PERSONAL_TOKEN && folded.contains(token);
            if ctx.login.is_some_and(|l| contains(l.key())) {
                out.push(PolicyViolation::ContainsLogin);
            }
            if ctx.email.is_some_and(|e| contains(e.local_part_key())) {
                out.push(PolicyViolation::ContainsEmail);
            }
        }
        // Bounded so that hostile input cannot make the matcher slow.
        if self.forbid_common && len <= self.max_length.max(128) && is_common(pw) {
            out.push(PolicyViolation::TooCommon);
        }
        out
    }
}

/// Whether zxcvbn explains the whole password as one entry of its common-password list,
/// including case changes, l33t substitutions and reversal ("P@ssw0rd", "drowssap").
fn is_common(password: &str) -> bool {
    if password.is_empty() {
        return false;
    }
    let entropy = zxcvbn::zxcvbn(password, &[]);
    match entropy.sequence() {
        [only] => matches!(
            &only.pattern,
            // zxcvbn keeps `DictionaryType` private; its `Default` is the `Passwords` list.
            MatchPattern::Dictionary(d) if d.dictionary_name == Default::default()
        ),
        _ => false,
    }
}

/// Brute-force protection of rule 9.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that trigger a lock.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub lock_duration: Duration,
}

/// What the lockout policy makes of a reserved login attempt (see
/// `UserRepository::reserve_login_attempt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptVerdict {
    /// Verify the password; the attempt is number `number` since the last success or lock.
    Verify {
        /// Its place in the run of attempts.
        number: u32,
    },
    /// Refuse without verifying: the account is locked for that long still.
    Refuse {
        /// Time until the lock ends.
        retry_after: Duration,
    },
    /// Refuse without verifying, and lock the account now: as many attempts as the policy
    /// allows are already counted and none locked it (they are in flight, or their process
    /// died and would otherwise hold the count forever).
    LockNow,
}

impl LockoutPolicy {
    /// How many attempts may be verified between two successes or locks: the store
    /// admits no more, so parallel guesses cannot outnumber the policy.
    pub fn attempt_limit(&self) -> u32 {
        self.max_failures.max(1)
    }

    /// The verdict on the store's answer to a reservation made at `now`.
    pub fn judge(&self, attempt: Attempt, now: OffsetDateTime) -> AttemptVerdict {
        match attempt {
            Attempt::Admitted { number } => AttemptVerdict::Verify { number },
            Attempt::Locked { until } => AttemptVerdict::Refuse {
                retry_after: Self::remaining(until, now),
            },
            Attempt::Saturated => AttemptVerdict::LockNow,
        }
    }

    /// After a wrong password on attempt `number`: until when the account locks, if it does.
    pub fn after_failure(&self, number: u32, now: OffsetDateTime) -> Option<OffsetDateTime> {
        (number >= self.attempt_limit()).then(|| self.lock_until(now))
    }

    /// The end of a lock that starts at `now`.
    pub fn lock_until(&self, now: OffsetDateTime) -> OffsetDateTime {
        now + self.lock_duration
    }

    /// How long a lock ending at `until` still lasts at `now` (at least a second, so that
    /// a `Retry-After` is never zero).
    pub fn remaining(until: OffsetDateTime, now: OffsetDateTime) -> Duration {
        Duration::try_from(until - now)
            .unwrap_or(Duration::ZERO)
            .max(Duration::from_secs(1))
    }
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_duration: Duration::from_secs(15 * 60),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> PlainPassword {
        PlainPassword::new(s).unwrap()
    }

    fn check(s: &str) -> Vec<PolicyViolation> {
        PasswordPolicy::default().check(&pw(s), PasswordContext::default())
    }

    #[test]
    fn rule3_a_strong_password_passes() {
        assert!(check("Tr0ub4dour&3x").is_empty());
    }

    #[test]
    fn rule3_reports_every_violation_at_once() {
        use PolicyViolation::*;
        assert_eq!(check("abc"), vec![TooShort, NoUppercase, NoDigit, NoSymbol]);
    }

    #[test]
    fn rule3_length_bounds() {
        assert!(check("Aa1!aaa").contains(&PolicyViolation::TooShort));
        assert!(!check("Aa1!aaaa").contains(&PolicyViolation::TooShort));
        let long = format!("Aa1!{}", "x".repeat(125));
        assert!(check(&long).contains(&PolicyViolation::TooLong));
        assert!(!check(&long[..128]).contains(&PolicyViolation::TooLong));
    }

    #[test]
    fn rule3_each_character_class_is_required() {
        assert!(check("AAAA1111!!").contains(&PolicyViolation::NoLowercase));
        assert!(check("aaaa1111!!").contains(&PolicyViolation::NoUppercase));
        assert!(check("aaaaAAAA!!").contains(&PolicyViolation::NoDigit));
        assert!(check("aaaaAAAA11").contains(&PolicyViolation::NoSymbol));
    }

    #[test]
    fn rule3_refuses_the_login_and_email_local_part() {
        let login = Login::parse("kabila").unwrap();
        let email = Email::parse("joseph.k@dgi.cd").unwrap();
        let ctx = PasswordContext {
            login: Some(&login),
            email: Some(&email),
        };
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.check(&pw("xKABILA-2024!"), ctx),
            vec![PolicyViolation::ContainsLogin]
        );
        assert_eq!(
            policy.check(&pw("Joseph.K-2024!"), ctx),
            vec![PolicyViolation::ContainsEmail]
        );
    }

    #[test]
    fn rule3_short_email_local_parts_do_not_forbid_letters() {
        let email = Email::parse("a@b.cd").unwrap();
        let ctx = PasswordContext {
            login: None,
            email: Some(&email),
        };
        assert!(
            PasswordPolicy::default()
                .check(&pw("Banana-Split9"), ctx)
                .is_empty()
        );
    }

    #[test]
    fn rule3_refuses_common_passwords_with_their_variants() {
        assert!(is_common("password"));
        assert!(is_common("P@ssw0rd"));
        assert!(is_common("qwerty123"));
        assert!(!is_common("Tr0ub4dour&3x-horse"));
        let relaxed = PasswordPolicy {
            require_symbol: false,
            ..PasswordPolicy::default()
        };
        let got = relaxed.check(&pw("Password1"), PasswordContext::default());
        assert_eq!(got, vec![PolicyViolation::TooCommon]);
    }

    #[test]
    fn rule9_the_lockout_decides_from_the_reservation() {
        let policy = LockoutPolicy::default();
        let now = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(policy.attempt_limit(), 5);
        assert_eq!(
            policy.judge(Attempt::Admitted { number: 3 }, now),
            AttemptVerdict::Verify { number: 3 }
        );
        assert_eq!(
            policy.judge(
                Attempt::Locked {
                    until: now + Duration::from_secs(90)
                },
                now
            ),
            AttemptVerdict::Refuse {
                retry_after: Duration::from_secs(90)
            }
        );
        // As many attempts in flight as allowed: the next one locks at once.
        assert_eq!(
            policy.judge(Attempt::Saturated, now),
            AttemptVerdict::LockNow
        );
        // Only the attempt at the limit locks, for the configured time.
        assert_eq!(policy.after_failure(4, now), None);
        assert_eq!(
            policy.after_failure(5, now),
            Some(now + Duration::from_secs(15 * 60))
        );
        // A lock ending now still asks for a second: Retry-After is never 0.
        assert_eq!(LockoutPolicy::remaining(now, now), Duration::from_secs(1));
        let never = LockoutPolicy {
            max_failures: 0,
            ..policy
        };
        assert_eq!(never.attempt_limit(), 1, "0 would admit nothing, ever");
    }

    #[test]
    fn rule3_policy_is_configurable() {
        let lax = PasswordPolicy {
            min_length: 4,
            require_lowercase: false,
            require_uppercase: false,
            require_digit: false,
            require_symbol: false,
            forbid_common: false,
            ..PasswordPolicy::default()
        };
        assert!(
            lax.check(&pw("abcd"), PasswordContext::default())
                .is_empty()
        );
    }
}
