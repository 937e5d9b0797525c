//! The shared repository contract, one test per case.

use adapters_memory::InMemoryUserRepository;

repository_contract::repository_contract_tests!(|| async { InMemoryUserRepository::new() });

/// `run_all` is the other entry point adapters may use; keep it compiling and passing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_passes_in_sequence() {
    repository_contract::run_all(|| async { InMemoryUserRepository::new() }).await;
}
