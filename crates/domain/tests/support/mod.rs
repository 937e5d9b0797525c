//! Fast, deterministic doubles for the use-case tests: the reference in-memory store, a
//! transparent hasher, a clock the test moves, sequential ids.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adapters_memory::InMemoryUserRepository;
use domain::model::{Actor, Email, FullName, Login, PlainPassword, Role, User, UserId};
use domain::ports::{Clock, IdGenerator, UserRepository};
use domain::service::{NewUser, Ports, ServiceConfig, UserService};
pub use domain::testing::{FixedSecrets, PlainTextHasher};
use time::OffsetDateTime;
use uuid::Uuid;

/// A clock that only moves when told.
#[derive(Debug)]
pub struct TestClock(Mutex<OffsetDateTime>);

impl TestClock {
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap();
        *now += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

#[derive(Debug, Default)]
pub struct SeqIds(AtomicU64);

impl IdGenerator for SeqIds {
    fn new_id(&self) -> UserId {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        UserId::from_uuid(Uuid::from_u128(n.into()))
    }
}

pub const TEMPORARY: &str = domain::testing::TEMPORARY_PASSWORD;

pub const ADMIN_PW: &str = "Admin-Pass-2024!";
pub const USER_PW: &str = "User-Pass-2024!";

pub struct World {
    pub service: UserService,
    pub repo: Arc<InMemoryUserRepository>,
    pub hasher: Arc<PlainTextHasher>,
    pub clock: Arc<TestClock>,
    /// An active ADMIN with its first password already changed.
    pub admin: Actor,
}

pub fn pw(s: &str) -> PlainPassword {
    PlainPassword::new(s).unwrap()
}

pub fn login(s: &str) -> Login {
    Login::parse(s).unwrap()
}

pub fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

pub fn name(s: &str) -> FullName {
    FullName::parse(s).unwrap()
}

impl World {
    pub async fn new() -> Self {
        Self::with_config(ServiceConfig::default()).await
    }

    /// A service over an empty store, without the world's ADMIN.
    pub fn without_admin() -> (UserService, Arc<InMemoryUserRepository>) {
        let (service, repo, _, _) = Self::empty(ServiceConfig::default());
        (service, repo)
    }

    fn empty(
        config: ServiceConfig,
    ) -> (
        UserService,
        Arc<InMemoryUserRepository>,
        Arc<PlainTextHasher>,
        Arc<TestClock>,
    ) {
        let repo = Arc::new(InMemoryUserRepository::new());
        let hasher = Arc::new(PlainTextHasher::default());
        let clock = Arc::new(TestClock(Mutex::new(
            OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
        )));
        let service = UserService::new(
            Ports {
                repo: repo.clone(),
                audit: repo.clone(),
                hasher: hasher.clone(),
                clock: clock.clone(),
                ids: Arc::new(SeqIds::default()),
                secrets: Arc::new(FixedSecrets),
                limiter: Arc::new(domain::ports::Unlimited),
            },
            config,
        );
        (service, repo, hasher, clock)
    }

    pub async fn with_config(config: ServiceConfig) -> Self {
        let (service, repo, hasher, clock) = Self::empty(config);
        let admin = service
            .create_admin(login("chief"), None, pw(ADMIN_PW))
            .await
            .unwrap();
        let admin = service
            .change_own_password(&admin.as_actor(), &pw(ADMIN_PW), &pw("Root-Changed-2024!"))
            .await
            .unwrap()
            .as_actor();
        Self {
            service,
            repo,
            hasher,
            clock,
            admin,
        }
    }

    /// Creates a user of `role` through the admin route, then lets its owner change the
    /// first password so the actor has full access.
    pub async fn user(&self, login_: &str, role: Role) -> Actor {
        let mut new = NewUser::minimal(login(login_), pw(USER_PW), name("Test User"), role);
        if role == Role::Contribuable {
            new.taxpayer_id = Some(Uuid::from_u128(7));
        }
        let created = self.service.create_user(&self.admin, new).await.unwrap();
        self.service
            .change_own_password(&created.as_actor(), &pw(USER_PW), &pw("Own-Choice-2024!"))
            .await
            .unwrap()
            .as_actor()
    }

    pub fn clock_now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub async fn stored(&self, id: UserId) -> User {
        self.repo.get(id).await.unwrap().unwrap()
    }
}
