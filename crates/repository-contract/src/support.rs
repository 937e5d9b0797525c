//! Small helpers the cases share: building inputs and reading the store back.

use domain::model::{Email, Login, User, UserId};
use domain::ports::{Page, PageRequest, SearchText, UserFilter, UserRepository};

/// Larger than any case's population, and small enough for any store's page size.
const EVERYTHING: PageRequest = PageRequest {
    offset: 0,
    limit: 1_000,
};

pub(crate) fn login(raw: &str) -> Login {
    Login::parse(raw).expect("valid login in the test")
}

pub(crate) fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid e-mail in the test")
}

pub(crate) fn search(raw: &str) -> SearchText {
    SearchText::new(raw).expect("valid search text in the test")
}

pub(crate) fn page(offset: u64, limit: u32) -> PageRequest {
    PageRequest { offset, limit }
}

/// Inserts every user, failing the case on the first refusal.
pub(crate) async fn insert_all<R: UserRepository + ?Sized>(repo: &R, users: &[User]) {
    for user in users {
        repo.insert(user, &[])
            .await
            .unwrap_or_else(|e| panic!("insert of {:?} failed: {e}", user.login));
    }
}

/// The stored user, failing the case when it is missing.
pub(crate) async fn stored<R: UserRepository + ?Sized>(repo: &R, id: UserId) -> User {
    repo.get(id)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("user {id} should be stored"))
}

/// The page of users matching `filter`.
pub(crate) async fn list_page<R: UserRepository + ?Sized>(
    repo: &R,
    filter: &UserFilter,
    page: PageRequest,
) -> Page<User> {
    repo.list(filter, page)
        .await
        .unwrap_or_else(|e| panic!("list({filter:?}, {page:?}) failed: {e}"))
}

/// Every stored user, in list order; also checks that `total` agrees.
pub(crate) async fn all_users<R: UserRepository + ?Sized>(repo: &R) -> Vec<User> {
    let page = list_page(repo, &UserFilter::default(), EVERYTHING).await;
    assert_eq!(
        page.total,
        page.items.len() as u64,
        "total of an unwindowed list"
    );
    page.items
}

/// The ids of `users`, in order: short failure messages, and order-sensitive comparisons.
pub(crate) fn ids(users: &[User]) -> Vec<UserId> {
    users.iter().map(|u| u.id).collect()
}
