//! The contract cases, one public function per case, grouped by the part of the trait
//! they check. Every case takes the factory and starts from a fresh, empty repository.

mod audit;
mod bookkeeping;
mod concurrency;
mod delete;
mod invariants;
mod list;
mod read;
mod update;

pub use audit::*;
pub use bookkeeping::*;
pub use concurrency::*;
pub use delete::*;
pub use invariants::*;
pub use list::*;
pub use read::*;
pub use update::*;
