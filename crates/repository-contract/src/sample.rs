//! Valid test users with distinct ids and increasing creation times.

use std::sync::atomic::{AtomicU64, Ordering};

use domain::model::{
    Address, Email, FullName, Grade, Login, PasswordHash, Phone, Role, Sex, User, UserId,
};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// Process-wide, so that users built by cases running in parallel never share an id:
/// a store shared between cases (a MongoDB database reused by mistake) then shows up as
/// extra users, not as confusing conflicts.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// 2025-03-04T05:06:07.890Z: any fixed instant with a sub-second part will do.
const BASE_MS: i64 = 1_741_064_767_890;

/// A fixed instant with millisecond precision, `ms` milliseconds after the base instant
/// of the samples. Every time the suite stores comes from here (see the crate docs).
pub(crate) fn at_ms(ms: i64) -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH + Duration::milliseconds(BASE_MS + ms)
}

/// A valid user with that login and e-mail, every other optional field set, and the
/// login bookkeeping cleared.
///
/// Each call takes the next value of a process-wide counter, from which come the id and
/// `created_at`: a call made after another (as within one test) gets a greater id and a
/// later creation time, so lists of sample users have a known order. Times have millisecond precision and a sub-second
/// part. The role is TAXATEUR, linked to an agent.
///
/// # Panics
/// When `login` or `email` is not valid for the domain (a mistake in the test).
pub fn sample_user(login: &str, email: Option<&str>) -> User {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let created_at = at_ms(i64::try_from(n).expect("counter fits in i64") * 1_001);
    User {
        id: counter_id(n, 0x11),
        login: Login::parse(login).expect("sample login"),
        email: email.map(|e| Email::parse(e).expect("sample e-mail")),
        full_name: FullName::parse("Sample Person").expect("sample name"),
        phone: Some(Phone::parse("+243820123456").expect("sample phone")),
        role: Role::Taxateur,
        grade: Some(Grade::parse("Inspecteur principal").expect("sample grade")),
        sex: Some(Sex::Female),
        address: Some(Address::parse("12 avenue Lumumba, Lubumbashi").expect("sample address")),
        agent_id: Some(*counter_id(n, 0x22).as_uuid()),
        taxpayer_id: None,
        password_hash: PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FtcGxlc2FsdA$c2FtcGxlLWhhc2gtb2YtYS1wYXNzd29yZA",
        ),
        active: true,
        blocked: false,
        must_change_password: false,
        failed_logins: 0,
        locked_until: None,
        token_version: 0,
        last_login_at: None,
        last_block_request: None,
        created_at,
        updated_at: created_at + Duration::milliseconds(123),
        version: 1,
    }
}

/// A UUID v4 whose leading bytes are the counter, so ids sort like the counter, and whose
/// `tag` byte keeps ids of different purposes apart.
fn counter_id(n: u64, tag: u8) -> UserId {
    let mut bytes = [tag; 16];
    // The top 48 bits of `n << 16` land in bytes 0..6, ahead of the version nibble.
    bytes[..8].copy_from_slice(&(n << 16).to_be_bytes());
    UserId::from_uuid(uuid::Builder::from_random_bytes(bytes).into_uuid())
}

/// The user id whose UUID is `n`, for cases that need ids in a chosen order.
pub(crate) fn id_from_u128(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_increasing_ids_and_millisecond_times() {
        let a = sample_user("first", Some("first@example.org"));
        let b = sample_user("second", None);
        assert!(a.id < b.id);
        assert!(a.created_at < b.created_at);
        for t in [a.created_at, a.updated_at, b.created_at] {
            assert_eq!(t.nanosecond() % 1_000_000, 0, "{t}");
        }
        assert_ne!(
            at_ms(0).nanosecond(),
            0,
            "the base instant has a sub-second part"
        );
        assert_eq!(a.id.as_uuid().get_version_num(), 4);
        assert_ne!(Some(*a.id.as_uuid()), a.agent_id);
    }
}
