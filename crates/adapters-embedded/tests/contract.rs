//! The shared repository contract, one test per case, each on a fresh database in an
//! anonymous temporary file (removed by the OS when the repository closes it).

use adapters_embedded::EmbeddedUserRepository;

fn fresh() -> EmbeddedUserRepository {
    let file = tempfile::tempfile().unwrap_or_else(|e| panic!("temporary file: {e}"));
    EmbeddedUserRepository::from_file(file).unwrap_or_else(|e| panic!("open the store: {e}"))
}

repository_contract::repository_contract_tests!(|| async { fresh() });

/// `run_all` is the other entry point adapters may use; keep it compiling and passing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_passes_in_sequence() {
    repository_contract::run_all(|| async { fresh() }).await;
}
