//! The shared repository contract, one test per case, against MongoDB (or FerretDB):
//! each case gets a fresh, migrated database, dropped afterwards. Without a server the
//! cases skip (or fail under CI, see `support::server_uri`).

mod support;

repository_contract::repository_contract_tests!(
    given uri = support::server_uri() => || support::fresh_repo(&uri)
);
