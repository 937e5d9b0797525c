//! End-to-end suite: the real `users-service` binary, driven over HTTP as a client would
//! (zero2prod's `tests/api`). Every test starts its own process (port 0, its own store,
//! see [`helpers`]), so tests never share users or state and run in parallel.
//!
//! Store: `USERS_E2E_STORE=memory|embedded|mongo` (default `memory`), e.g.
//! `USERS_E2E_STORE=embedded cargo test -p app --test api`.
//! Keep the service's output of every app: `USERS_E2E_KEEP_LOGS=1` (kept anyway on failure).
//!
//! # Layout
//! - [`helpers`]: `spawn_app()`, `TestApp` (typed request helpers, fixtures), `Response`
//!   (assertions on both dialects' shapes). Every response is checked for "no 5xx" and
//!   `X-Request-Id`.
//! - [`v1_routes`], [`fr_routes`]: every route of SPEC §3.1 and §3.2, exact bodies, statuses,
//!   envelopes and headers.
//! - [`fr_messages`]: the fr dialect's messages are the French of one table; v1's English.
//! - [`permissions`]: the permission matrix, 9 roles × 7 actions.
//! - [`audit`]: the audit trail's events, its two routes, and `audit verify` on a tampered store.
//! - [`admin_rules`]: rule 8 (only an ADMIN touches an ADMIN, no self block/delete, last ADMIN).
//! - [`first_login`]: rule 5 (the first-login restriction) and the fresh token after a change.
//! - [`blocking`]: block/unblock and password reset.
//! - [`concurrency`]: races on one identity, on failed logins and on updates.
//! - [`lockout`]: rule 9, brute-force lockout.
//! - [`rate_limit`]: per-client-IP limits of the password routes (429), `X-Forwarded-For`.
//! - [`tokens`]: logout and token attacks (SPEC §3.4).
//! - [`hostile_input`]: mass assignment, malformed, oversized and injection-shaped bodies,
//!   unknown routes and ids.
//! - [`transport`]: CORS, request-head limits and timeouts, over raw TCP.
//! - [`hardening`]: issue 13's points through HTTP: no password oracle, own secrets only
//!   with proof, identity strings that cannot pose as others, idempotent blocks, budgets
//!   per client and per account on every password route.
//! - [`races`]: ADMINs taking each other out at once, parallel guesses against the lockout.
//! - [`ops`]: `/health`, `/ready`, `/metrics`, `/openapi.json`, `/docs`, `X-Request-Id`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly, with the response in the message"
)]

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod admin_rules;
mod audit;
mod blocking;
mod concurrency;
mod first_login;
mod fr_messages;
mod fr_routes;
mod hardening;
mod hostile_input;
mod lockout;
mod ops;
mod permissions;
mod races;
mod rate_limit;
mod tokens;
mod transport;
mod v1_routes;
