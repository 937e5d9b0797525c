//! The `AuditLog` port over the collections of `audit.rs`: appends, queries, chain reads
//! and checkpoints, each within the operation bound.

use async_trait::async_trait;
use bson::{Document, doc};
use domain::model::{AuditEvent, AuditFilter, AuditRecord};
use domain::ports::{AuditLog, Page, PageRequest, RepoError};
use futures::TryStreamExt;

use crate::audit::{append_to, checkpoint_document, checkpoint_from, from_document, query};
use crate::collections::{CHECKPOINT_COLLECTION, MAX_PAGE, read_page};
use crate::error::{WriteError, repo_error};
use crate::repository::MongoUserRepository;

/// Collection handles are cheap (a name and the client's `Arc`): made per call rather than
/// kept in the repository.
fn checkpoints_of(repo: &MongoUserRepository) -> mongodb::Collection<Document> {
    repo.database().collection(CHECKPOINT_COLLECTION)
}

#[async_trait]
impl AuditLog for MongoUserRepository {
    async fn append(&self, record: &AuditRecord) -> Result<AuditEvent, RepoError> {
        self.bounded("audit append", async {
            append_to(&self.audit, &self.audit_turn, record, None)
                .await?
                .ok_or_else(|| {
                    RepoError::Other("an append without outbox id was skipped".to_owned())
                })
        })
        .await
    }

    async fn find(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, RepoError> {
        let query = query(filter);
        self.bounded("audit find", async {
            let found = read_page(&self.audit, query, doc! { "_id": -1 }, page).await?;
            let items = found
                .items
                .into_iter()
                .map(from_document)
                .collect::<Result<_, _>>()?;
            Ok(Page {
                items,
                total: found.total,
            })
        })
        .await
    }

    async fn chain(&self, after: u64, limit: u32) -> Result<Vec<AuditEvent>, RepoError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.bounded("audit chain", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let documents: Vec<Document> = self
                .audit
                .find(doc! { "_id": { "$gt": after } })
                .sort(doc! { "_id": 1 })
                .limit(i64::from(limit.min(MAX_PAGE)))
                .await
                .map_err(|e| repo_error(&e))?
                .try_collect()
                .await
                .map_err(|e| repo_error(&e))?;
            documents.into_iter().map(from_document).collect()
        })
        .await
    }

    async fn save_checkpoint(
        &self,
        checkpoint: &domain::model::AuditCheckpoint,
    ) -> Result<bool, RepoError> {
        let document = checkpoint_document(checkpoint)?;
        self.bounded("audit checkpoint save", async {
            match checkpoints_of(self).insert_one(document).await {
                Ok(_) => Ok(true),
                Err(e) => match WriteError::from(e) {
                    WriteError::Duplicate(_) => Ok(false),
                    WriteError::Repo(e) => Err(e),
                },
            }
        })
        .await
    }

    async fn latest_checkpoint(&self) -> Result<Option<domain::model::AuditCheckpoint>, RepoError> {
        self.bounded("audit latest checkpoint", async {
            checkpoints_of(self)
                .find_one(doc! {})
                .sort(doc! { "_id": -1 })
                .await
                .map_err(|e| repo_error(&e))?
                .map(checkpoint_from)
                .transpose()
        })
        .await
    }

    async fn checkpoints(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<domain::model::AuditCheckpoint>, RepoError> {
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.bounded("audit checkpoints", async {
            if limit == 0 {
                return Ok(Vec::new());
            }
            let documents: Vec<Document> = checkpoints_of(self)
                .find(doc! { "_id": { "$gt": after } })
                .sort(doc! { "_id": 1 })
                .limit(i64::from(limit.min(MAX_PAGE)))
                .await
                .map_err(|e| repo_error(&e))?
                .try_collect()
                .await
                .map_err(|e| repo_error(&e))?;
            documents.into_iter().map(checkpoint_from).collect()
        })
        .await
    }
}
