//! Races a client can start: concurrent registrations and creations of one identity
//! (rule 1 holds: exactly one wins), concurrent failed logins (rule 9: none is lost), and
//! concurrent updates of one user (optimistic concurrency: 200 or 409, never a 5xx).

use std::thread;

use serde_json::json;

use crate::helpers::{OTHER_PASSWORD, PASSWORD, Response, TestApp, spawn_app};

/// Runs `request(i)` for `i in 0..n` at the same time and returns the answers in order.
fn at_once(n: usize, request: impl Fn(usize) -> Response + Sync) -> Vec<Response> {
    let request = &request;
    thread::scope(|s| {
        let handles: Vec<_> = (0..n).map(|i| s.spawn(move || request(i))).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("the request thread panicked"))
            .collect()
    })
}

fn statuses(responses: &[Response]) -> Vec<u16> {
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    statuses
}

#[test]
fn concurrent_registrations_of_one_email_create_one_account() {
    let app = spawn_app();
    let variants = [
        "race@example.org",
        "RACE@example.org",
        "Race@Example.org",
        "race@EXAMPLE.ORG",
    ];

    let responses = at_once(variants.len() * 2, |i| {
        app.post_register(&json!({
            "email": variants[i % variants.len()], "username": format!("Racer {i}"), "password": PASSWORD
        }))
    });

    let mut expected = vec![409; variants.len() * 2 - 1];
    expected.insert(0, 201);
    assert_eq!(statuses(&responses), expected, "exactly one wins");
    let found = app.get_admin_users(app.admin_token(), "q=race%40example.org");
    assert_eq!(found.header("x-total-count"), Some("1"), "{}", found.body);
}

#[test]
fn concurrent_creations_of_one_login_create_one_account() {
    let app = spawn_app();
    let login = TestApp::unique_login("twin");

    let responses = at_once(6, |i| {
        let (_, mut body) = TestApp::new_user_body("TAXATEUR");
        body["login"] = json!(if i % 2 == 0 {
            login.clone()
        } else {
            login.to_uppercase()
        });
        app.post_utilisateur(app.admin_token(), &body)
    });

    assert_eq!(statuses(&responses), [201, 409, 409, 409, 409, 409]);
    for loser in responses.iter().filter(|r| r.status == 409) {
        loser.assert_fr_error(409, "LOGIN_DEJA_UTILISE");
    }
    let found = app
        .get_utilisateurs(app.admin_token(), &format!("q={login}"))
        .data();
    assert_eq!(found["total"], 1, "{found}");
}

#[test]
fn concurrent_failed_logins_are_all_counted() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    // Exactly the threshold at once: one lost increment and nothing would lock.
    let responses = at_once(5, |_| app.post_login(&user.login, OTHER_PASSWORD));

    let statuses = statuses(&responses);
    assert!(
        statuses.iter().all(|s| [401, 423].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&423),
        "the fifth failure locks: {statuses:?}"
    );
    app.post_login(&user.login, PASSWORD)
        .assert_fr_error(423, "COMPTE_VERROUILLE");
}

#[test]
fn concurrent_updates_of_one_user_answer_200_or_409_and_keep_one_value() {
    let app = spawn_app();
    let user = app.create_user("TAXATEUR");
    let grades: Vec<String> = (0..8).map(|i| format!("Grade {i}")).collect();

    let responses = at_once(grades.len(), |i| {
        if i % 2 == 0 {
            app.put_utilisateur(app.admin_token(), &user.id, &json!({"grade": grades[i]}))
        } else {
            app.put_admin_user(app.admin_token(), &user.id, &json!({"username": grades[i]}))
        }
    });

    for response in &responses {
        assert!(
            [200, 409].contains(&response.status),
            "{}: {} {}",
            response.what,
            response.status,
            response.body
        );
    }
    let stored = app.utilisateur(&user.id);
    let landed = |parity: usize| -> Vec<&str> {
        (0..grades.len())
            .filter(|i| i % 2 == parity && responses[*i].status == 200)
            .map(|i| grades[i].as_str())
            .collect()
    };
    let (grades_landed, names_landed) = (landed(0), landed(1));
    assert!(
        !grades_landed.is_empty() || !names_landed.is_empty(),
        "at least one update lands"
    );
    if !grades_landed.is_empty() {
        assert!(
            grades_landed.iter().any(|g| stored["grade"] == *g),
            "the stored grade is one that was answered 200: {stored}"
        );
    }
    if !names_landed.is_empty() {
        assert!(
            names_landed.iter().any(|n| stored["nomComplet"] == *n),
            "the stored name is one that was answered 200: {stored}"
        );
    }
}

#[test]
fn twenty_parallel_wrong_passwords_lock_the_account_in_both_dialects() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    let responses = at_once(20, |i| {
        if i % 2 == 0 {
            app.post_login(&user.login, OTHER_PASSWORD)
        } else {
            app.post_login_v1(&user.email, OTHER_PASSWORD)
        }
    });

    let statuses = statuses(&responses);
    assert!(
        statuses.iter().all(|s| [401, 423].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&423), "the account locks: {statuses:?}");
    app.post_login(&user.login, PASSWORD)
        .assert_fr_error(423, "COMPTE_VERROUILLE");
    app.post_login_v1(&user.email, PASSWORD)
        .assert_v1_error(423, "ACCOUNT_LOCKED");
}
