//! The migration steps written in Rust: what database commands cannot compute. A migration
//! file names one with `{"usersServiceStep": "<name>"}` among its commands, so the file
//! still says what runs and its checksum still covers it.

use bson::{Bson, Document, doc};
use domain::model::{Email, Login, UserId, identity_collisions};
use domain::ports::{RepoError, SearchText};
use futures::TryStreamExt;
use mongodb::Database;

use crate::collections::USERS_COLLECTION;
use crate::document::field;
use crate::error::repo_error;

/// The key a command uses to name a step instead of a database command.
pub(crate) const STEP_KEY: &str = "usersServiceStep";

/// The steps this build knows.
pub(crate) const STEPS: &[&str] = &["rekey_identities"];

/// Runs step `name`.
pub(crate) async fn run(db: &Database, name: &str) -> Result<(), RepoError> {
    match name {
        "rekey_identities" => rekey_identities(db).await,
        other => Err(RepoError::Other(format!(
            "unknown migration step {other:?}"
        ))),
    }
}

/// One user's identity as stored, and as the domain keys it now.
struct Identity {
    id: UserId,
    login: Login,
    email: Option<Email>,
    name_words: Vec<String>,
}

fn identity(document: &Document) -> Result<Identity, RepoError> {
    let raw_id = document.get_str(field::ID).unwrap_or_default();
    let corrupt =
        |what: &str| RepoError::Other(format!("user document {raw_id:?}: {what} cannot be read"));
    let id = UserId::parse(raw_id).ok_or_else(|| corrupt("_id"))?;
    let login = document
        .get_str(field::LOGIN)
        .ok()
        .and_then(|l| Login::recognise(l).ok())
        .ok_or_else(|| corrupt("login"))?;
    let email = match document.get(field::EMAIL) {
        None | Some(Bson::Null) => None,
        Some(Bson::String(e)) => Some(Email::parse(e).map_err(|_| corrupt("email"))?),
        Some(_) => return Err(corrupt("email")),
    };
    let name_words =
        SearchText::name_words(document.get_str(field::FULL_NAME).unwrap_or_default()).collect();
    Ok(Identity {
        id,
        login,
        email,
        name_words,
    })
}

/// Recomputes the keys of every user — `login` (NFKC), `login_lc`, `login_skel`, `email`
/// (NFC), `email_lc`, `name_words` — after checking that no two accounts would share one:
/// then it stops, changing nothing, and names every group. Rewriting in place under the
/// existing unique indexes is safe: folding is idempotent and folds what `to_lowercase`
/// produced to the same key, so a document's new key can only equal another's old key when
/// their new keys are equal too, which the check has refused.
async fn rekey_identities(db: &Database) -> Result<(), RepoError> {
    let users = db.collection::<Document>(USERS_COLLECTION);
    let projection = doc! { field::ID: 1, field::LOGIN: 1, field::EMAIL: 1, field::FULL_NAME: 1 };
    let documents: Vec<Document> = users
        .find(doc! {})
        .projection(projection)
        .await
        .map_err(|e| repo_error(&e))?
        .try_collect()
        .await
        .map_err(|e| repo_error(&e))?;
    let identities = documents
        .iter()
        .map(identity)
        .collect::<Result<Vec<_>, _>>()?;
    let collisions = identity_collisions(
        identities
            .iter()
            .map(|u| (u.id, &u.login, u.email.as_ref())),
    );
    if !collisions.is_empty() {
        return Err(RepoError::Other(format!(
            "accounts would share a login or an e-mail under Unicode folding and confusable \
             detection (nothing was changed; keep the previous users-service until each \
             group is down to one account): {}",
            collisions.join("; ")
        )));
    }
    for user in &identities {
        let mut set = doc! {
            field::LOGIN: user.login.as_str(),
            field::LOGIN_LC: user.login.key(),
            field::LOGIN_SKELETON: user.login.skeleton(),
            field::NAME_WORDS: user.name_words.clone(),
        };
        if let Some(email) = &user.email {
            set.insert(field::EMAIL, email.as_str());
            set.insert(field::EMAIL_LC, email.key());
        }
        users
            .update_one(
                doc! { field::ID: user.id.to_string() },
                doc! { "$set": set },
            )
            .await
            .map_err(|e| repo_error(&e))?;
    }
    Ok(())
}
