//! The collections of the store and the one paged read that the users and the audit trail
//! share: a leaf every other module may use.

use bson::Document;
use domain::ports::{Page, PageRequest, RepoError};
use futures::TryStreamExt;
use mongodb::Collection;
use serde::de::DeserializeOwned;

use crate::error::repo_error;

/// The collection of audit events.
pub const AUDIT_COLLECTION: &str = "audit_events";

/// The collection of audit checkpoints.
pub const CHECKPOINT_COLLECTION: &str = "audit_checkpoints";

/// The collection of users.
pub const USERS_COLLECTION: &str = "users";

/// Largest page `list` reads, whatever the caller asks: a bound on memory and on the
/// time of one request (the HTTP layer's own limit is far below it).
pub const MAX_PAGE: u32 = 10_000;

/// One page of the documents of `collection` that match `filter`, in `order`, and how many
/// match in all.
pub(crate) async fn read_page<D>(
    collection: &Collection<D>,
    filter: Document,
    order: Document,
    page: PageRequest,
) -> Result<Page<D>, RepoError>
where
    D: DeserializeOwned + Unpin + Send + Sync,
{
    let total = collection
        .count_documents(filter.clone())
        .await
        .map_err(|e| repo_error(&e))?;
    // MongoDB reads `limit(0)` as "no limit", and a skip beyond i64::MAX is refused:
    // neither reaches the server.
    if page.limit == 0 || page.offset >= total {
        return Ok(Page {
            items: Vec::new(),
            total,
        });
    }
    let items = collection
        .find(filter)
        .sort(order)
        .skip(page.offset)
        .limit(i64::from(page.limit.min(MAX_PAGE)))
        .await
        .map_err(|e| repo_error(&e))?
        .try_collect()
        .await
        .map_err(|e| repo_error(&e))?;
    Ok(Page { items, total })
}
