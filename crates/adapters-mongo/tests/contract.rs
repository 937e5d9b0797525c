//! The shared repository contract, one test per case, against MongoDB (or FerretDB):
//! each case gets a fresh, migrated database, dropped afterwards.
//!
//! The suite's own `repository_contract_tests!` cannot skip when no server is
//! configured, so the cases are listed here, behind the skip check; a test keeps the
//! list equal to the suite's.

mod support;

macro_rules! contract_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let Some(uri) = support::server_uri() else { return };
                repository_contract::$case(|| support::fresh_repo(&uri)).await;
            }
        )*

        const LISTED: &[&str] = &[$(stringify!($case)),*];
    };
}

contract_cases!(
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
    count_active_admins_counts_only_active_unblocked_admins,
    record_failed_login_increments_and_returns_the_count,
    lock_sets_locked_until_and_resets_the_count,
    clear_failures_clears_the_lock_and_sets_last_login,
    concurrent_inserts_of_one_login_admit_exactly_one,
    concurrent_inserts_of_one_email_admit_exactly_one,
    concurrent_failed_logins_are_never_lost,
    concurrent_updates_of_one_version_admit_exactly_one,
    updates_never_erase_concurrent_failed_logins,
    ping_answers,
);

/// Runs without a server too: a case added to the suite must be added above.
#[test]
fn every_contract_case_is_listed() {
    assert_eq!(LISTED, repository_contract::CASES);
}
