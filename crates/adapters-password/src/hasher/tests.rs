#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use domain::model::{PasswordHash, PlainPassword};
use domain::ports::PasswordHasher;
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::*;
use crate::config::{Algorithm, Argon2Params, HasherConfig};
use argon2::password_hash::PasswordHasher as _;

/// Small argon2 parameters so that most tests take milliseconds.
const FAST: Argon2Params = Argon2Params {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// Upper bound for anything that should finish; only reached when a test is broken.
const PATIENCE: Duration = Duration::from_secs(30);

fn pw(s: &str) -> PlainPassword {
    PlainPassword::new(s).unwrap()
}

fn config(algorithm: Algorithm, max_concurrent: usize) -> HasherConfig {
    HasherConfig {
        algorithm,
        argon2: FAST,
        max_concurrent,
    }
}

fn fast() -> Hasher {
    Hasher::new(config(Algorithm::Argon2id, 2)).unwrap()
}

fn fast_bcrypt() -> Hasher {
    Hasher::new(config(Algorithm::Bcrypt { cost: 4 }, 2)).unwrap()
}

/// An argon2 PHC string made directly with the argon2 crate, for formats and parameters
/// the hasher itself would not produce.
fn argon2_hash(
    algorithm: argon2::Algorithm,
    version: argon2::Version,
    (m, t, p): (u32, u32, u32),
    password: &str,
) -> PasswordHash {
    let params = argon2::Params::new(m, t, p, None).unwrap();
    let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
    let phc = argon2::Argon2::new(algorithm, version, params)
        .hash_password(password.as_bytes(), &salt)
        .unwrap();
    PasswordHash::new(phc.to_string())
}

/// A password of `len` ASCII bytes (`Ab1!` repeated) ending with `last`.
fn long(len: usize, last: char) -> String {
    let mut s = "Ab1!".repeat(len / 4 + 1);
    s.truncate(len - 1);
    s.push(last);
    s
}

#[tokio::test]
async fn argon2id_round_trip_makes_a_salted_phc_string() {
    let hasher = fast();
    let password = pw("correct horse battery staple");
    let first = hasher.hash(&password).await.unwrap();
    let second = hasher.hash(&password).await.unwrap();
    assert!(
        first.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{}",
        first.as_str()
    );
    assert_ne!(first, second, "each hash has its own random salt");
    assert!(hasher.verify(&password, &first).await.unwrap());
    assert!(hasher.verify(&password, &second).await.unwrap());
}

#[tokio::test]
async fn a_wrong_password_does_not_verify() {
    for hasher in [fast(), fast_bcrypt()] {
        let hash = hasher.hash(&pw("Tr0ub4dour&3")).await.unwrap();
        assert!(!hasher.verify(&pw("Tr0ub4dour&4"), &hash).await.unwrap());
        assert!(!hasher.verify(&pw("tr0ub4dour&3"), &hash).await.unwrap());
        assert!(!hasher.verify(&pw(""), &hash).await.unwrap());
    }
}

#[tokio::test]
async fn rule11_default_is_argon2id_with_owasp_parameters() {
    let config = HasherConfig::default();
    assert_eq!(config.algorithm, Algorithm::Argon2id);
    assert_eq!(
        config.argon2,
        Argon2Params {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1
        }
    );
    let cpus = std::thread::available_parallelism().unwrap().get();
    assert_eq!(config.max_concurrent, cpus);

    let hasher = Hasher::new(config).unwrap();
    let password = pw("Tr0ub4dour&3");
    let hash = hasher.hash(&password).await.unwrap();
    let owasp = "$argon2id$v=19$m=19456,t=2,p=1$";
    assert!(hash.as_str().starts_with(owasp), "{}", hash.as_str());
    assert!(hasher.dummy_hash().as_str().starts_with(owasp));
    assert!(hasher.verify(&password, &hash).await.unwrap());
    assert!(!hasher.verify(&pw("Tr0ub4dour&4"), &hash).await.unwrap());
    assert!(!hasher.needs_rehash(&hash));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule11_bcrypt_from_another_implementation_verifies_as_2b_2a_and_2y() {
    // Made by Python's passlib (`bcrypt.hash("password", rounds=12, ident="2b")`), published
    // as a test value of zitadel/passwap, internal/testvalues/bcrypt.go (EncodedBcrypt2b).
    // The three prefixes name the same computation for ASCII passwords, so the same
    // hash under `$2a$` and `$2y$` must verify too.
    const PASSLIB_2B: &str = "$2b$12$bIRGj4QPPoSUMWsJE.4Pk.T1qTpDWz7HhMnuiQhGzGinKPsx/HQdq";
    let hasher = fast();
    let as_2a = PasswordHash::new(PASSLIB_2B.replacen("$2b$", "$2a$", 1));
    let as_2y = PasswordHash::new(PASSLIB_2B.replacen("$2b$", "$2y$", 1));
    let as_2b = PasswordHash::new(PASSLIB_2B);
    let (right, wrong) = (pw("password"), pw("Password"));
    // Two at a time (max_concurrent = 2): each cost-12 check takes about 250 ms.
    let (b, a, y, bad) = tokio::join!(
        hasher.verify(&right, &as_2b),
        hasher.verify(&right, &as_2a),
        hasher.verify(&right, &as_2y),
        hasher.verify(&wrong, &as_2b),
    );
    assert!(b.unwrap(), "$2b$");
    assert!(a.unwrap(), "$2a$");
    assert!(y.unwrap(), "$2y$");
    assert!(!bad.unwrap());
}

#[tokio::test]
async fn rule11_published_bcrypt_vectors_verify() {
    // jBCrypt's vectors (Damien Miller, mindrot.org), as extended with `$2b$` and `$2y$`
    // ones in Spring Security's BCryptTests.java; reused by bcrypt-ruby's engine spec.
    let vectors = [
        (
            "",
            "$2a$06$DCq7YPn5Rq63x1Lad4cll.TV4S6ytwfsfvkgY8jIucDrjc8deX1s.",
        ),
        (
            "",
            "$2y$06$mFDtkz6UN7B3GZ2qi2hhaO3OFWzNEdcY84ELw6iHCPruuQfSAXBLK",
        ),
        (
            "a",
            "$2b$06$ehKGYiS4wt2HAr7KQXS5z.OaRjB4jHO7rBHJKlGXbqEH3QVJfO7iO",
        ),
        (
            "abc",
            "$2a$06$If6bvum7DFjUnE9p2uDeDu0YHzrHM6tf.iqN8.yx.jNN1ILEf7h0i",
        ),
        (
            "abc",
            "$2b$06$5FyQoicpbox1xSHFfhhdXuR2oxLpO1rYsQh5RTkI/9.RIjtoF0/ta",
        ),
        (
            "abc",
            "$2y$06$ACfku9dT6.H8VjdKb8nhluaoBmhJyK7GfoNScEfOfrJffUxoUeCjK",
        ),
        (
            "~!@#$%^&*()      ~!@#$%^&*()PNBFRD",
            "$2b$06$FGWA8OlY6RtQhXBXuCJ8WusVipRI15cWOgJK8MYpBHEkktMfbHRIG",
        ),
    ];
    let hasher = fast();
    for (password, hash) in vectors {
        let hash = PasswordHash::new(hash);
        assert!(
            hasher.verify(&pw(password), &hash).await.unwrap(),
            "{password:?}"
        );
        let other = pw(&format!("{password}x"));
        assert!(!hasher.verify(&other, &hash).await.unwrap(), "{password:?}");
    }
}

#[tokio::test]
async fn rule11_reference_argon2_vectors_verify() {
    // From the reference implementation's tests (P-H-C/phc-winner-argon2, src/test.c),
    // all of "password" with the salt "somesalt" or longer.
    let vectors = [
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
        "$argon2i$v=19$m=65536,t=1,p=1$c29tZXNhbHQAAAAAAAAAAA$+r0d29hqEB0yasKr55ZgICsQGSkl0v0kgwhd+U3wyRo",
        "$argon2d$v=16$m=32,t=2,p=3,data=Dw8PDw8P$AAAAAAAAAAA$KnH4gniiaFnDvlA1xev3yovC4cnrrI6tnHOYtmja90o",
    ];
    let hasher = fast();
    for hash in vectors {
        let hash = PasswordHash::new(hash);
        assert!(
            hasher.verify(&pw("password"), &hash).await.unwrap(),
            "{hash:?}"
        );
        assert!(!hasher.verify(&pw("sassword"), &hash).await.unwrap());
        assert!(hasher.needs_rehash(&hash), "not the configured parameters");
    }
}

#[tokio::test]
async fn bcrypt_when_configured_hashes_with_its_cost() {
    let hasher = fast_bcrypt();
    let password = pw("Tr0ub4dour&3");
    let hash = hasher.hash(&password).await.unwrap();
    assert!(hash.as_str().starts_with("$2b$04$"), "{}", hash.as_str());
    assert_eq!(hash.as_str().len(), 60);
    assert!(hasher.verify(&password, &hash).await.unwrap());
    assert!(!hasher.needs_rehash(&hash));
    assert_eq!(Algorithm::BCRYPT, Algorithm::Bcrypt { cost: 12 });
}

#[tokio::test]
async fn argon2_does_not_truncate_long_passwords() {
    let hasher = fast();
    let password = long(100, 'a');
    // Same first 99 bytes, so same first 72: only the tail differs.
    let tail_differs = long(100, 'b');
    let prefix = &password[..72];
    assert_eq!(&tail_differs[..72], prefix);

    let hash = hasher.hash(&pw(&password)).await.unwrap();
    assert!(hasher.verify(&pw(&password), &hash).await.unwrap());
    assert!(!hasher.verify(&pw(&tail_differs), &hash).await.unwrap());
    assert!(!hasher.verify(&pw(prefix), &hash).await.unwrap());
}

#[tokio::test]
async fn bcrypt_refuses_to_hash_what_it_would_truncate() {
    let hasher = fast_bcrypt();
    for len in [72, 73, 100] {
        let err = hasher.hash(&pw(&long(len, 'a'))).await.unwrap_err();
        assert!(err.0.contains("72 bytes"), "{len}: {err}");
    }
    // 71 bytes still fit with bcrypt's NUL terminator, so nothing is lost.
    let longest = long(71, 'a');
    let hash = hasher.hash(&pw(&longest)).await.unwrap();
    assert!(hasher.verify(&pw(&longest), &hash).await.unwrap());
    assert!(!hasher.verify(&pw(&long(71, 'b')), &hash).await.unwrap());
    assert!(
        !hasher
            .verify(&pw(&format!("{longest}x")), &hash)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn bcrypt_never_verifies_on_the_first_72_bytes_alone() {
    let hasher = fast();
    let password = long(100, 'a');
    let tail_differs = long(100, 'b');
    // What the old service would have stored for a 100-byte password: the bcrypt crate's
    // truncating `hash`, like most implementations, hashes only the first 72 bytes.
    let legacy = PasswordHash::new(bcrypt::hash(&password, 4).unwrap());
    assert!(bcrypt::verify(&tail_differs, legacy.as_str()).unwrap());
    for attempt in [&password, &tail_differs, &password[..72].to_owned()] {
        assert!(!hasher.verify(&pw(attempt), &legacy).await.unwrap());
    }

    // The same with a hash published by OpenWall's crypt_blowfish (wrapper.c), whose
    // password says it all; a truncating verifier accepts it, ours does not.
    let openwall =
        PasswordHash::new("$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui");
    let openwall_password = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored";
    assert!(bcrypt::verify(openwall_password, openwall.as_str()).unwrap());
    assert!(
        !hasher
            .verify(&pw(openwall_password), &openwall)
            .await
            .unwrap()
    );
    assert!(
        !hasher
            .verify(&pw(&openwall_password[..72]), &openwall)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn malformed_or_unknown_hashes_are_false_never_errors() {
    let valid_bcrypt = "$2b$04$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui";
    let malformed = [
        String::new(),
        "plaintext".to_owned(),
        "Tr0ub4dour&3".to_owned(),
        "$argon2id$garbage".to_owned(),
        "$argon2id$".to_owned(),
        "$argon2id$v=19$m=1024,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA".to_owned(),
        "$argon2id$v=19$m=1,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        "$argon2id$v=99$m=1024,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        "$argon2id$v=19$m=1024,t=1,p=1,x=3$c2l4dGVlbiBieXRlIHNsdA$aGFzaGhhc2hoYXNoaGFzaA"
            .to_owned(),
        "$argon2id$v=19$m=1024,t=1,p=1$é$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        "$argon2x$v=19$m=1024,t=1,p=1$c2l4dGVlbiBieXRlIHNsdA$aGFzaGhhc2hoYXNoaGFzaA".to_owned(),
        "$2b$99$x".to_owned(),
        "$2b$".to_owned(),
        valid_bcrypt.replacen("$04$", "$99$", 1),
        valid_bcrypt.replacen("$04$", "$03$", 1),
        valid_bcrypt.replacen("$04$", "$xx$", 1),
        valid_bcrypt.replacen("$2b$", "$2x$", 1),
        valid_bcrypt.replacen("$2b$", "$2$", 1),
        valid_bcrypt[..59].to_owned(),
        format!("{valid_bcrypt}A"),
        format!("$2b$04${}a", "é".repeat(26)),
        format!("$2b$04$ab{}", "€".repeat(17)),
        "$pbkdf2-sha256$29000$N2bMOQd$ypCcBAkOtF1Sy8LQu5C1TuNGnUPyhwLn.1HDcYfmWIw".to_owned(),
    ];
    for hasher in [fast(), fast_bcrypt()] {
        for hash in &malformed {
            let hash = PasswordHash::new(hash.as_str());
            assert_eq!(
                hasher.verify(&pw("Tr0ub4dour&3"), &hash).await,
                Ok(false),
                "{}",
                hash.as_str()
            );
            assert!(hasher.needs_rehash(&hash), "{}", hash.as_str());
        }
    }
}

#[tokio::test]
async fn absurd_stored_costs_are_refused_without_being_computed() {
    // Would allocate 4 TiB, or run 2^31 bcrypt rounds, if `verify` trusted the store.
    let hasher = fast();
    let small = hasher.hash(&pw("Tr0ub4dour&3")).await.unwrap();
    let bcrypt = PasswordHash::new(bcrypt::hash("Tr0ub4dour&3", 4).unwrap());
    let absurd = [
        small.as_str().replacen("m=1024", "m=4294967295", 1),
        small.as_str().replacen("t=1", "t=4294967295", 1),
        bcrypt.as_str().replacen("$04$", "$31$", 1),
    ];
    let started = Instant::now();
    for hash in absurd {
        let hash = PasswordHash::new(hash);
        assert_eq!(hasher.verify(&pw("Tr0ub4dour&3"), &hash).await, Ok(false));
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rule11_needs_rehash_when_argon2id_is_configured() {
    use argon2::Algorithm::{Argon2d, Argon2i, Argon2id};
    use argon2::Version::{V0x10, V0x13};

    let configured = (4096, 2, 1);
    let hasher = Hasher::new(HasherConfig {
        argon2: Argon2Params {
            memory_kib: configured.0,
            iterations: configured.1,
            parallelism: configured.2,
        },
        ..config(Algorithm::Argon2id, 2)
    })
    .unwrap();
    let password = "Tr0ub4dour&3";
    let fresh = hasher.hash(&pw(password)).await.unwrap();
    assert!(!hasher.needs_rehash(&fresh));
    assert!(!hasher.needs_rehash(&hasher.dummy_hash()));

    let same = argon2_hash(Argon2id, V0x13, configured, password);
    assert!(!hasher.needs_rehash(&same), "made elsewhere, same settings");
    let outdated = [
        (
            "weaker memory",
            argon2_hash(Argon2id, V0x13, (2048, 2, 1), password),
        ),
        (
            "weaker time",
            argon2_hash(Argon2id, V0x13, (4096, 1, 1), password),
        ),
        (
            "stronger memory",
            argon2_hash(Argon2id, V0x13, (8192, 2, 1), password),
        ),
        (
            "other parallelism",
            argon2_hash(Argon2id, V0x13, (4096, 2, 2), password),
        ),
        ("argon2i", argon2_hash(Argon2i, V0x13, configured, password)),
        ("argon2d", argon2_hash(Argon2d, V0x13, configured, password)),
        (
            "version 16",
            argon2_hash(Argon2id, V0x10, configured, password),
        ),
        (
            "bcrypt",
            PasswordHash::new(bcrypt::hash(password, 4).unwrap()),
        ),
    ];
    for (what, hash) in &outdated {
        assert!(hasher.needs_rehash(hash), "{what}");
        // Outdated is not invalid: login verifies first, then re-hashes.
        assert!(hasher.verify(&pw(password), hash).await.unwrap(), "{what}");
    }
    assert!(hasher.needs_rehash(&PasswordHash::new("$argon2id$garbage")));
}

#[tokio::test]
async fn needs_rehash_when_bcrypt_is_configured() {
    let hasher = fast_bcrypt();
    let password = "Tr0ub4dour&3";
    let fresh = hasher.hash(&pw(password)).await.unwrap();
    assert!(!hasher.needs_rehash(&fresh));
    let as_2y = PasswordHash::new(fresh.as_str().replacen("$2b$", "$2y$", 1));
    assert!(!hasher.needs_rehash(&as_2y), "same algorithm and cost");

    let other_cost = PasswordHash::new(bcrypt::hash(password, 5).unwrap());
    assert!(hasher.needs_rehash(&other_cost));
    let argon2 = fast().hash(&pw(password)).await.unwrap();
    assert!(hasher.needs_rehash(&argon2));
    assert!(hasher.verify(&pw(password), &argon2).await.unwrap());
    assert!(hasher.needs_rehash(&PasswordHash::new("$2b$99$x")));
}

#[tokio::test]
async fn rule10_dummy_hash_is_a_real_hash_of_an_unknown_secret() {
    let hasher = fast();
    let dummy = hasher.dummy_hash();
    assert!(
        dummy.as_str().starts_with("$argon2id$v=19$m=1024,t=1,p=1$"),
        "{}",
        dummy.as_str()
    );
    assert_eq!(
        Format::of(dummy.as_str()),
        Some(Format::Argon2),
        "verify takes the full path"
    );
    assert!(!hasher.needs_rehash(&dummy));
    assert_eq!(hasher.dummy_hash(), dummy, "computed once");
    assert_ne!(fast().dummy_hash(), dummy, "random per hasher");
    for guess in ["", "password", "Tr0ub4dour&3"] {
        assert!(!hasher.verify(&pw(guess), &dummy).await.unwrap());
    }

    let bcrypt = fast_bcrypt();
    let dummy = bcrypt.dummy_hash();
    assert!(dummy.as_str().starts_with("$2b$04$"), "{}", dummy.as_str());
    assert!(!bcrypt.needs_rehash(&dummy));
    assert!(!bcrypt.verify(&pw("password"), &dummy).await.unwrap());
}

#[test]
fn new_refuses_invalid_settings() {
    let invalid = [
        HasherConfig {
            argon2: Argon2Params {
                memory_kib: 7,
                ..FAST
            },
            ..config(Algorithm::Argon2id, 1)
        },
        HasherConfig {
            argon2: Argon2Params {
                iterations: 0,
                ..FAST
            },
            ..config(Algorithm::Argon2id, 1)
        },
        HasherConfig {
            argon2: Argon2Params {
                parallelism: 0,
                ..FAST
            },
            ..config(Algorithm::Argon2id, 1)
        },
        // Checked even while bcrypt is the algorithm.
        HasherConfig {
            argon2: Argon2Params {
                parallelism: 0,
                ..FAST
            },
            ..config(Algorithm::Bcrypt { cost: 4 }, 1)
        },
        config(Algorithm::Bcrypt { cost: 3 }, 1),
        config(Algorithm::Bcrypt { cost: 32 }, 1),
        config(Algorithm::Argon2id, 0),
        config(Algorithm::Argon2id, usize::MAX),
    ];
    for setting in invalid {
        assert!(Hasher::new(setting).is_err(), "{setting:?}");
    }
    assert!(Hasher::new(config(Algorithm::Bcrypt { cost: 4 }, 1)).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_slot_serves_every_request_without_deadlock() {
    let hasher = Hasher::new(config(Algorithm::Argon2id, 1)).unwrap();
    let hash = hasher.hash(&pw("Tr0ub4dour&3")).await.unwrap();
    let mut tasks = JoinSet::new();
    for i in 0..24 {
        let (hasher, hash) = (hasher.clone(), hash.clone());
        tasks.spawn(async move {
            if i % 4 == 0 {
                let own = hasher.hash(&pw("another one")).await.unwrap();
                hasher.verify(&pw("another one"), &own).await.unwrap()
            } else {
                let right = i % 2 == 1;
                let guess = if right { "Tr0ub4dour&3" } else { "wrong" };
                hasher.verify(&pw(guess), &hash).await.unwrap() == right
            }
        });
    }
    let results = timeout(PATIENCE, tasks.join_all()).await.expect("deadlock");
    assert_eq!(results, vec![true; 24]);
    assert_eq!(hasher.permits.available_permits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_than_max_concurrent_jobs_run_at_once() {
    let hasher = Hasher::new(config(Algorithm::Argon2id, 2)).unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..10 {
        let (hasher, running, peak) = (hasher.clone(), running.clone(), peak.clone());
        tasks.spawn(async move {
            hasher
                .run_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
        });
    }
    for result in timeout(PATIENCE, tasks.join_all()).await.unwrap() {
        result.unwrap();
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn rule11_hashing_runs_off_the_executor_thread() {
    // This runtime has a single thread, the test's: any job run elsewhere is on the
    // blocking pool.
    let executor = std::thread::current().id();
    let hasher = fast();
    let job_thread = hasher
        .run_blocking(|| std::thread::current().id())
        .await
        .unwrap();
    assert_ne!(job_thread, executor);
}

#[tokio::test]
async fn a_panicking_job_is_a_hash_error_and_frees_its_slot() {
    let hasher = Hasher::new(config(Algorithm::Argon2id, 1)).unwrap();
    let failed: Result<(), HashError> = hasher.run_blocking(|| panic!("boom")).await;
    assert!(failed.unwrap_err().0.contains("hashing task failed"));
    let hash = timeout(PATIENCE, hasher.hash(&pw("Tr0ub4dour&3")))
        .await
        .expect("the slot was not given back")
        .unwrap();
    assert!(hasher.verify(&pw("Tr0ub4dour&3"), &hash).await.unwrap());
}

#[tokio::test]
async fn a_cancelled_request_holds_its_slot_until_its_job_ends() {
    let hasher = Hasher::new(config(Algorithm::Argon2id, 1)).unwrap();
    let slow = hasher.run_blocking(|| std::thread::sleep(Duration::from_millis(300)));
    assert!(timeout(Duration::from_millis(50), slow).await.is_err());
    // The caller gave up, but the job still runs: its slot is still taken.
    assert_eq!(hasher.permits.available_permits(), 0);
    timeout(PATIENCE, hasher.run_blocking(|| ()))
        .await
        .expect("the slot was not given back")
        .unwrap();
    assert_eq!(hasher.permits.available_permits(), 1);
}

#[test]
fn outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let hasher = fast();
    // Polled by hand, as a future of another executor would be.
    let result = poll_once_without_runtime(hasher.hash(&pw("Tr0ub4dour&3")));
    assert!(matches!(result, Some(Err(HashError(_)))), "{result:?}");
}

/// Polls `future` once on the current thread, outside any runtime.
fn poll_once_without_runtime<F: std::future::Future>(future: F) -> Option<F::Output> {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argon2_memory_is_reused_then_freed_when_idle() {
    let hasher = Hasher::new(config(Algorithm::Argon2id, 1)).unwrap();
    let hash = hasher.hash(&pw("burst-password")).await.unwrap();
    let mut burst = JoinSet::new();
    for i in 0..6 {
        let (hasher, hash) = (hasher.clone(), hash.clone());
        let password = if i % 2 == 0 {
            "burst-password"
        } else {
            "wrong"
        };
        burst.spawn(async move { hasher.verify(&pw(password), &hash).await.unwrap() });
    }
    let mut matches = 0;
    while let Some(verified) = burst.join_next().await {
        matches += usize::from(verified.unwrap());
    }
    assert_eq!(matches, 3, "a reused buffer must not change any result");
    // Idle again: nothing pending, and the spare buffer goes after LINGER.
    assert_eq!(hasher.memory.pending.load(Ordering::Acquire), 0);
    let spares = || hasher.memory.spare.lock().unwrap().buffers.len();
    let deadline = Instant::now() + PATIENCE;
    while spares() > 0 && Instant::now() < deadline {
        tokio::time::sleep(LINGER / 4).await;
    }
    assert_eq!(spares(), 0, "freed once idle");
}
