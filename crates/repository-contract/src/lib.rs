//! The one contract suite of `domain::ports::UserRepository` and `AuditLog`, written once and run by every
//! storage adapter (memory, embedded, MongoDB) so that swapping storage is a configuration
//! change (SPEC §1).
//!
//! Each case checks sentences of the trait's documentation, above all its `# Errors`
//! sections, and asserts the exact [`RepoError`](domain::ports::RepoError) variant promised.
//! Filtering and search are checked against the domain's reference semantics,
//! [`UserFilter::matches`](domain::ports::UserFilter::matches).
//!
//! # Layout
//! - [`repository_contract_tests!`]: expands to one `#[tokio::test]` per case, so that a
//!   failure is reported under the case's name. This is how adapters run the suite.
//! - [`run_all`]: every case in sequence, for callers that want a single test.
//! - the case functions (`insert_then_read_round_trips_every_field`, …), one per contract
//!   case, re-exported at the crate root; [`CASES`] lists their names.
//! - [`sample_user`]: builder of valid test users with distinct ids and increasing
//!   creation times, reusable by adapters' own tests.
//!
//! # Using it from an adapter
//! In `tests/contract.rs` of the adapter crate, whose dev-dependencies hold this crate and
//! `tokio` with the `macros` and `rt-multi-thread` features:
//! ```ignore
//! repository_contract::repository_contract_tests!(|| async { MyRepository::new_empty().await });
//! ```
//! The expression is evaluated once per case and must be a factory: something callable
//! with no argument that returns a future of a FRESH, EMPTY repository. Cases run in
//! parallel, so a database-backed factory must give each call its own database (or
//! collection, or file).
//!
//! # What stores may differ in
//! Stores may truncate times to milliseconds (MongoDB's BSON dates do). Every time the
//! suite stores — in [`sample_user`] and in the cases — therefore has millisecond
//! precision, so that every conforming store round-trips users exactly and the cases can
//! compare whole users with `==`.
//!
//! Not covered, because the trait says nothing about them: inserting a user whose id is
//! already stored, and which error wins when an update both has a stale version and
//! clashes on a unique field.

// This whole crate is test code: a failed `unwrap` is a failed contract case, and the
// panic message (with the case's context) is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod sample;
mod support;

pub use cases::*;
pub use sample::sample_user;

use domain::ports::{AuditLog, UserRepository};

/// Calls `$callback!` with the factory expression and the name of every case: the single
/// list of cases, shared by [`run_all`], [`CASES`] and [`repository_contract_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __with_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! {
            ($($args)*)
            insert_then_read_round_trips_every_field,
            unknown_id_login_and_email_read_as_none,
            find_by_login_and_email_ignore_case,
            login_is_unique_ignoring_case,
            email_is_unique_ignoring_case,
            many_users_without_email_coexist,
            update_persists_every_field_with_the_expected_version,
            update_with_a_stale_version_is_version_mismatch,
            update_of_an_unknown_id_is_not_found,
            update_to_another_users_login_is_conflict,
            update_to_another_users_email_is_conflict,
            update_may_change_the_case_of_own_login_and_email,
            update_frees_the_previous_login_and_email,
            update_keeps_the_stored_login_bookkeeping,
            delete_removes_the_user_and_frees_login_and_email,
            delete_of_an_unknown_id_is_not_found,
            list_orders_by_creation_time_then_id,
            list_windows_with_offset_and_limit,
            list_offset_beyond_the_end_is_empty_with_the_total,
            list_filters_by_role_active_and_blocked_combined_with_and,
            list_search_matches_prefixes_ignoring_case,
            list_search_is_plain_text,
            list_search_follows_updates_and_deletes,
            active_admins_are_the_active_unblocked_admins,
            reserve_counts_attempts_up_to_the_limit,
            lock_refuses_attempts_until_it_ends,
            a_success_resets_the_count_but_never_a_lock,
            an_update_clears_the_lockout_only_when_asked,
            concurrent_inserts_of_one_login_admit_exactly_one,
            concurrent_inserts_of_one_email_admit_exactly_one,
            concurrent_failed_logins_are_never_lost,
            concurrent_reservations_admit_no_more_than_the_limit,
            concurrent_updates_of_one_version_admit_exactly_one,
            updates_never_erase_concurrent_failed_logins,
            ping_answers,
            the_last_active_admin_cannot_be_removed,
            concurrent_removals_keep_an_active_admin,
            a_write_and_its_events_are_one,
            logins_are_unique_by_key_and_by_skeleton,
            audit_appends_are_numbered_and_linked,
            audit_events_round_trip_every_field,
            audit_find_filters_newest_first,
            audit_chain_reads_in_order_after_a_number,
            concurrent_audit_appends_form_one_chain,
            audit_checkpoints_round_trip_in_event_order,
            audit_a_second_checkpoint_of_one_event_keeps_the_first,
            concurrent_checkpoints_of_one_event_store_one,
        }
    };
}

/// Expands to one `#[tokio::test]` per contract case, each given a fresh repository by
/// the factory expression (see the crate documentation).
///
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features: the
/// concurrency cases want real parallelism.
///
/// For a store that may be absent (a database server), guard every case with an `Option`:
/// `repository_contract_tests!(given uri = server_uri() => || fresh_repo(&uri))` returns
/// early from each case when the guard is `None`.
#[macro_export]
macro_rules! repository_contract_tests {
    (given $ctx:ident = $guard:expr => $make:expr $(,)?) => {
        $crate::__with_cases!(__contract_test_fns!(given $ctx = $guard => $make));
    };
    ($make:expr $(,)?) => {
        $crate::__with_cases!(__contract_test_fns!($make));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __contract_test_fns {
    ((given $ctx:ident = $guard:expr => $make:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some($ctx) = $guard else { return };
                $crate::$case($make).await;
            }
        )*
    };
    (($make:expr) $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::$case($make).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __run_cases {
    (($make:expr) $($case:ident),* $(,)?) => {
        $( $crate::$case($make).await; )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __case_names {
    (() $($case:ident),* $(,)?) => {
        &[$(stringify!($case)),*]
    };
}

/// Names of every contract case, in the order [`run_all`] runs them.
pub const CASES: &[&str] = __with_cases!(__case_names!());

/// Runs every contract case in sequence, each on a fresh repository from `make`.
///
/// Prefer [`repository_contract_tests!`], which names failures per case. Call this from a
/// multi-thread tokio runtime: the concurrency cases spawn tasks on the current runtime.
pub async fn run_all<R, F, Fut>(make: F)
where
    R: UserRepository + AuditLog + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    __with_cases!(__run_cases!(&make));
}
