//! Bounded failure when the store is down, and refusal of bad settings. Needs no server:
//! the "down" store is a local port nobody listens on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use adapters_mongo::{MigrationError, MongoUserRepository};
use domain::model::UserId;
use domain::ports::{RepoError, UserRepository};
use repository_contract::sample_user;

/// A URI whose port was free a moment ago: connections are refused.
fn closed_port_uri() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("mongodb://127.0.0.1:{port}/")
}

/// Runs `call`, checks it failed as unavailable, and returns how long it took.
async fn unavailable_within<T: std::fmt::Debug>(
    call: impl Future<Output = Result<T, RepoError>>,
) -> Duration {
    let started = Instant::now();
    let outcome = call.await;
    let took = started.elapsed();
    assert!(
        matches!(outcome, Err(RepoError::Unavailable(_))),
        "{outcome:?}"
    );
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_is_down_fails_calls_in_about_two_seconds() {
    // Connecting does no I/O: it succeeds while the server is down.
    let repo = MongoUserRepository::connect(&closed_port_uri(), "users")
        .await
        .unwrap();

    let id = UserId::parse("4b0f5d1e-7a43-4c8e-9a52-0d3c2a1e9f10").unwrap();
    let took = [
        unavailable_within(repo.ping()).await,
        unavailable_within(repo.get(id)).await,
        unavailable_within(repo.insert(&sample_user("down", None), &[])).await,
        unavailable_within(repo.reserve_login_attempt(id, time::OffsetDateTime::UNIX_EPOCH, 5))
            .await,
    ];
    for t in took {
        // Server selection gives up after 2 s; the machine may be busy.
        assert!(
            t >= Duration::from_millis(1_500) && t < Duration::from_secs(4),
            "{took:?}"
        );
    }

    let started = Instant::now();
    let migrated = repo.migrate().await;
    assert!(
        matches!(migrated, Err(MigrationError::Unavailable(_))),
        "{migrated:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn bad_settings_are_refused_at_once() {
    for uri in ["", "http://localhost", "mongodb://"] {
        assert!(
            matches!(
                MongoUserRepository::connect(uri, "users").await,
                Err(RepoError::Other(m)) if m.contains("connection string")
            ),
            "{uri:?}"
        );
    }
    for name in ["", "with.dot", "with space", "a/b"] {
        assert!(
            matches!(
                MongoUserRepository::connect("mongodb://localhost", name).await,
                Err(RepoError::Other(m)) if m.contains("database name")
            ),
            "{name:?}"
        );
    }
}
