//! In-memory implementation of `domain::ports::UserRepository`, for tests, demos and as
//! the reference the shared contract suite (`repository-contract`) is checked against.
//! Nothing survives the process.
//!
//! # Layout
//! - [`InMemoryUserRepository`]: the adapter. One `RwLock` guards all of its users, so
//!   every method is a single critical section: uniqueness and the last active ADMIN are
//!   checked atomically with the write, and counts cannot be lost. The trail has its own
//!   lock, taken inside the users' one when a write appends its events (always in that
//!   order), so a change and its events are one step. No lock is held across an `.await`
//!   (there is none inside the methods).
//! - `Store` (private): users by id, plus indexes kept in step with the users: the
//!   folded login, login skeleton and e-mail (`Login::key`, `Login::skeleton`, `Email::key`)
//!   to the owner's id, the list
//!   order (creation time, id), and each search key (`SearchText::keys_of`) to its users
//!   in list order.
//!
//! # Cost of `list`
//! Pages come from the ordered indexes, never from a sort of the whole store. Without
//! role/active/blocked filters the total is a length, so a page costs `offset + limit`
//! steps; when `q` is the prefix of a single key (the usual case: "kab" of "kabila") the
//! page is read straight from that key's ordered set; a prefix of several keys merges
//! their sets (M matches: O(M log M)). Role/active/blocked filters look at every
//! candidate to count the total: every user without `q`, every match with it. The
//! filters themselves are `UserFilter::matches`, the domain's reference semantics.
//!
//! A lock poisoned by a panic is reported as `RepoError::Other`, never propagated as a
//! panic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use domain::error::UniqueField;
use domain::model::{AuditEvent, AuditFilter, AuditRecord, Email, Login, User, UserId};
use domain::ports::{
    Attempt, AuditLog, Page, PageRequest, RepoError, SearchText, Update, UserFilter, UserRepository,
};
use time::OffsetDateTime;

/// Users kept in memory, safe to share between tasks (wrap it in an `Arc`).
#[derive(Debug, Default)]
pub struct InMemoryUserRepository {
    store: RwLock<Store>,
    /// The audit trail, in chain order; its own lock, so auditing never waits on user writes.
    audit: RwLock<Vec<AuditEvent>>,
    /// The trail's checkpoints by event number.
    checkpoints: RwLock<BTreeMap<u64, domain::model::AuditCheckpoint>>,
}

/// A user's place in list order.
type Position = (OffsetDateTime, UserId);

/// The state behind the lock. Invariant: the indexes describe exactly the users in
/// `users`: `logins` and `emails` map each key to its owner, `order` holds every user's
/// position, `search` maps each search key to the positions of the users having it (no
/// empty set is kept).
#[derive(Debug, Default)]
struct Store {
    users: HashMap<UserId, User>,
    logins: HashMap<String, UserId>,
    skeletons: HashMap<String, UserId>,
    emails: HashMap<String, UserId>,
    order: BTreeSet<Position>,
    search: BTreeMap<String, BTreeSet<Position>>,
}

fn position(user: &User) -> Position {
    (user.created_at, user.id)
}

impl Store {
    /// Refuses `user`'s login or e-mail when a user other than `user.id` holds it.
    fn check_unique(&self, user: &User) -> Result<(), RepoError> {
        let taken_by_other = |index: &HashMap<String, UserId>, key: &str| {
            index.get(key).is_some_and(|owner| *owner != user.id)
        };
        if taken_by_other(&self.logins, user.login.key())
            || taken_by_other(&self.skeletons, &user.login.skeleton())
        {
            return Err(RepoError::Conflict(UniqueField::Login));
        }
        if user
            .email
            .as_ref()
            .is_some_and(|email| taken_by_other(&self.emails, email.key()))
        {
            return Err(RepoError::Conflict(UniqueField::Email));
        }
        Ok(())
    }

    /// Stores `user` in place of any user with its id, moving the index entries along.
    /// Callers have checked uniqueness.
    fn put(&mut self, user: User) {
        self.remove(user.id);
        self.logins.insert(user.login.key().to_owned(), user.id);
        self.skeletons
            .insert(user.login.skeleton().to_owned(), user.id);
        if let Some(email) = &user.email {
            self.emails.insert(email.key().to_owned(), user.id);
        }
        self.order.insert(position(&user));
        for key in SearchText::keys_of(&user) {
            self.search.entry(key).or_default().insert(position(&user));
        }
        self.users.insert(user.id, user);
    }

    fn remove(&mut self, id: UserId) -> Option<User> {
        let user = self.users.remove(&id)?;
        self.logins.remove(user.login.key());
        self.skeletons.remove(&user.login.skeleton());
        if let Some(email) = &user.email {
            self.emails.remove(email.key());
        }
        self.order.remove(&position(&user));
        for key in SearchText::keys_of(&user) {
            if let Some(set) = self.search.get_mut(&key) {
                set.remove(&position(&user));
                if set.is_empty() {
                    self.search.remove(&key);
                }
            }
        }
        Some(user)
    }

    /// One page of the users passing `filter`, in list order, with the total.
    fn list(&self, filter: &UserFilter, page: PageRequest) -> Page<User> {
        let facets_only = UserFilter {
            q: None,
            ..filter.clone()
        };
        let unfiltered = facets_only == UserFilter::default();
        let merged: Vec<Position>;
        // The candidates in list order, and how many there are.
        let (candidates, count): (Box<dyn Iterator<Item = &Position>>, usize) = match &filter.q {
            None => (Box::new(self.order.iter()), self.order.len()),
            Some(q) => {
                let prefix = q.as_str();
                let mut sets = self
                    .search
                    .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                    .take_while(|(key, _)| key.starts_with(prefix))
                    .map(|(_, set)| set);
                match (sets.next(), sets.next()) {
                    (None, _) => (Box::new(std::iter::empty()), 0),
                    (Some(only), None) => (Box::new(only.iter()), only.len()),
                    (Some(first), Some(second)) => {
                        // One user may hold several of these keys: merge, then dedup.
                        let mut all: Vec<Position> = first.iter().chain(second).copied().collect();
                        all.extend(sets.flatten().copied());
                        all.sort_unstable();
                        all.dedup();
                        merged = all;
                        (Box::new(merged.iter()), merged.len())
                    }
                }
            }
        };
        // An offset or limit beyond what memory can index just means "all of it".
        let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
        let take = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let window = skip..skip.saturating_add(take);
        let users = candidates.filter_map(|(_, id)| self.users.get(id));
        if unfiltered {
            let items = users.skip(skip).take(take).cloned().collect();
            return Page {
                items,
                total: count as u64,
            };
        }
        let mut items = Vec::new();
        let mut total = 0usize;
        for user in users.filter(|u| facets_only.matches(u)) {
            if window.contains(&total) {
                items.push(user.clone());
            }
            total += 1;
        }
        Page {
            items,
            total: total as u64,
        }
    }

    fn user_mut(&mut self, id: UserId) -> Result<&mut User, RepoError> {
        self.users.get_mut(&id).ok_or(RepoError::NotFound)
    }

    /// Refuses a write that takes `before` out of the active ADMINs while no other user is
    /// one (rule 8): `after` is the user as it would be stored, `None` for a deletion.
    fn keep_an_active_admin(&self, before: &User, after: Option<&User>) -> Result<(), RepoError> {
        let removes = before.is_active_admin() && !after.is_some_and(User::is_active_admin);
        let another = || {
            self.users
                .values()
                .any(|u| u.id != before.id && u.is_active_admin())
        };
        if removes && !another() {
            Err(RepoError::LastAdmin)
        } else {
            Ok(())
        }
    }

    fn by_key(&self, index: &HashMap<String, UserId>, key: &str) -> Option<User> {
        index.get(key).and_then(|id| self.users.get(id)).cloned()
    }
}

/// Error for a poisoned lock: a panic happened mid-write, so the indexes may disagree
/// with the users; refusing further service is safer than answering from them.
fn poisoned<T>(_: T) -> RepoError {
    RepoError::Other("in-memory store poisoned by an earlier panic".to_owned())
}

impl InMemoryUserRepository {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, Store>, RepoError> {
        self.store.read().map_err(poisoned)
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, Store>, RepoError> {
        self.store.write().map_err(poisoned)
    }

    /// Appends `records` to the trail. Called with the users' write lock held, so that a
    /// change and its events are one step (the lock order is always users, then trail).
    fn append_all(&self, records: &[AuditRecord]) -> Result<(), RepoError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut trail = self.audit.write().map_err(poisoned)?;
        for record in records {
            push(&mut trail, record);
        }
        Ok(())
    }
}

/// Chains `record` after the last event of `trail`.
fn push(trail: &mut Vec<AuditEvent>, record: &AuditRecord) -> AuditEvent {
    let event = audit_chain::next(trail.last().map(|e| (e.seq, e.hash.as_str())), record);
    trail.push(event.clone());
    event
}

#[async_trait]
impl AuditLog for InMemoryUserRepository {
    async fn append(&self, record: &AuditRecord) -> Result<AuditEvent, RepoError> {
        let mut trail = self.audit.write().map_err(poisoned)?;
        Ok(push(&mut trail, record))
    }

    async fn find(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, RepoError> {
        let trail = self.audit.read().map_err(poisoned)?;
        audit_chain::page_of(trail.iter().rev().map(Ok), filter, page)
    }

    async fn chain(&self, after: u64, limit: u32) -> Result<Vec<AuditEvent>, RepoError> {
        let trail = self.audit.read().map_err(poisoned)?;
        // Events are stored at index seq - 1.
        let start = usize::try_from(after)
            .unwrap_or(usize::MAX)
            .min(trail.len());
        Ok(trail[start..]
            .iter()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn save_checkpoint(
        &self,
        checkpoint: &domain::model::AuditCheckpoint,
    ) -> Result<bool, RepoError> {
        let mut checkpoints = self.checkpoints.write().map_err(poisoned)?;
        if checkpoints.contains_key(&checkpoint.seq) {
            return Ok(false);
        }
        checkpoints.insert(checkpoint.seq, checkpoint.clone());
        Ok(true)
    }

    async fn latest_checkpoint(&self) -> Result<Option<domain::model::AuditCheckpoint>, RepoError> {
        let checkpoints = self.checkpoints.read().map_err(poisoned)?;
        Ok(checkpoints.last_key_value().map(|(_, c)| c.clone()))
    }

    async fn checkpoints(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<domain::model::AuditCheckpoint>, RepoError> {
        let checkpoints = self.checkpoints.read().map_err(poisoned)?;
        Ok(checkpoints
            .range((Bound::Excluded(after), Bound::Unbounded))
            .take(limit as usize)
            .map(|(_, c)| c.clone())
            .collect())
    }
}

#[async_trait]
impl UserRepository for InMemoryUserRepository {
    async fn insert(&self, user: &User, events: &[AuditRecord]) -> Result<(), RepoError> {
        let mut store = self.write()?;
        store.check_unique(user)?;
        // Ids come from the IdGenerator, so this is a caller bug; replacing the stored
        // user would silently lose it.
        if store.users.contains_key(&user.id) {
            return Err(RepoError::Other(format!(
                "user id {} already stored",
                user.id
            )));
        }
        self.append_all(events)?;
        store.put(user.clone());
        Ok(())
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, RepoError> {
        Ok(self.read()?.users.get(&id).cloned())
    }

    async fn find_by_login(&self, login: &Login) -> Result<Option<User>, RepoError> {
        let store = self.read()?;
        Ok(store.by_key(&store.logins, login.key()))
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, RepoError> {
        let store = self.read()?;
        Ok(store.by_key(&store.emails, email.key()))
    }

    async fn update(&self, update: &Update) -> Result<(), RepoError> {
        let mut store = self.write()?;
        let user = &update.user;
        let current = store.users.get(&user.id).ok_or(RepoError::NotFound)?;
        if current.version != update.expected_version {
            return Err(RepoError::VersionMismatch);
        }
        // The bookkeeping belongs to its own methods (see the trait docs).
        let next = if update.clear_lockout {
            User {
                failed_logins: 0,
                locked_until: None,
                last_login_at: current.last_login_at,
                ..user.clone()
            }
        } else {
            User {
                failed_logins: current.failed_logins,
                locked_until: current.locked_until,
                last_login_at: current.last_login_at,
                ..user.clone()
            }
        };
        store.check_unique(&next)?;
        store.keep_an_active_admin(current, Some(&next))?;
        self.append_all(&update.events)?;
        store.put(next);
        Ok(())
    }

    async fn delete(&self, id: UserId, events: &[AuditRecord]) -> Result<(), RepoError> {
        let mut store = self.write()?;
        let current = store.users.get(&id).ok_or(RepoError::NotFound)?;
        store.keep_an_active_admin(current, None)?;
        self.append_all(events)?;
        store.remove(id).map(drop).ok_or(RepoError::NotFound)
    }

    async fn list(&self, filter: &UserFilter, page: PageRequest) -> Result<Page<User>, RepoError> {
        Ok(self.read()?.list(filter, page))
    }

    async fn reserve_login_attempt(
        &self,
        id: UserId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Attempt, RepoError> {
        let mut store = self.write()?;
        let user = store.user_mut(id)?;
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Ok(Attempt::Locked { until });
        }
        if user.failed_logins >= limit {
            return Ok(Attempt::Saturated);
        }
        user.failed_logins += 1;
        Ok(Attempt::Admitted {
            number: user.failed_logins,
        })
    }

    async fn record_success(
        &self,
        id: UserId,
        now: OffsetDateTime,
        last_login_at: Option<OffsetDateTime>,
        events: &[AuditRecord],
    ) -> Result<Option<OffsetDateTime>, RepoError> {
        let mut store = self.write()?;
        let user = store.user_mut(id)?;
        if let Some(until) = user.locked_until.filter(|until| *until > now) {
            return Ok(Some(until));
        }
        user.failed_logins = 0;
        if last_login_at.is_some() {
            user.last_login_at = last_login_at;
        }
        self.append_all(events)?;
        Ok(None)
    }

    async fn lock(
        &self,
        id: UserId,
        until: OffsetDateTime,
        now: OffsetDateTime,
        events: &[AuditRecord],
    ) -> Result<bool, RepoError> {
        let mut store = self.write()?;
        let user = store.user_mut(id)?;
        if user.locked_until.is_some_and(|current| current > now) {
            return Ok(false);
        }
        user.locked_until = Some(until);
        user.failed_logins = 0;
        self.append_all(events)?;
        Ok(true)
    }

    async fn ping(&self) -> Result<(), RepoError> {
        self.read().map(drop)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use repository_contract::sample_user;

    use super::*;

    fn other<T>(r: Result<T, RepoError>) -> bool {
        matches!(r, Err(RepoError::Other(_)))
    }

    #[tokio::test]
    async fn a_poisoned_lock_is_an_error_not_a_panic() {
        let repo = Arc::new(InMemoryUserRepository::new());
        let user = sample_user("poisoned", None);
        repo.insert(&user, &[]).await.unwrap();

        let holder = Arc::clone(&repo);
        let crashed = std::thread::spawn(move || {
            let _guard = holder.store.write();
            panic!("deliberate panic while holding the write lock");
        })
        .join();
        assert!(crashed.is_err() && repo.store.is_poisoned());

        assert!(other(repo.ping().await));
        assert!(other(repo.get(user.id).await));
        assert!(other(repo.insert(&sample_user("another", None), &[]).await));
        let update = Update::new(&user, user.version);
        assert!(other(repo.update(&update).await));
        assert!(other(
            repo.reserve_login_attempt(user.id, user.created_at, 5)
                .await
        ));
        assert!(other(
            repo.list(
                &UserFilter::default(),
                PageRequest {
                    offset: 0,
                    limit: 10
                }
            )
            .await
        ));
    }

    #[tokio::test]
    async fn a_duplicate_id_is_refused_without_losing_the_stored_user() {
        let repo = InMemoryUserRepository::new();
        let user = sample_user("original", Some("original@example.org"));
        repo.insert(&user, &[]).await.unwrap();
        let mut copy = sample_user("copy", None);
        copy.id = user.id;
        assert!(matches!(
            repo.insert(&copy, &[]).await,
            Err(RepoError::Other(_))
        ));
        assert_eq!(repo.get(user.id).await, Ok(Some(user)));
    }

    #[tokio::test]
    async fn a_count_at_the_limit_admits_no_attempt_instead_of_wrapping() {
        let repo = InMemoryUserRepository::new();
        let mut user = sample_user("saturated", None);
        user.failed_logins = u32::MAX;
        repo.insert(&user, &[]).await.unwrap();
        assert_eq!(
            repo.reserve_login_attempt(user.id, user.created_at, u32::MAX)
                .await,
            Ok(Attempt::Saturated)
        );
    }
}
