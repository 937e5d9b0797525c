//! `list` (order, windows, filters, search) and the active ADMINs it counts.

use domain::model::{FullName, Role, User};
use domain::ports::{SearchText, Update, UserFilter, UserRepository};
use uuid::Uuid;

use crate::sample::{at_ms, id_from_u128, sample_user};
use crate::support::{all_users, ids, insert_all, list_page, page, search};

/// Pages are ordered by `created_at` (as instants, to the millisecond) then by id (as the
/// UUID's bytes), whatever the insertion order.
pub async fn list_orders_by_creation_time_then_id<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    // `at_ms(110)` is a whole second: a store that sorts formatted times as text puts
    // "…:08Z" after "…:08.500Z" ('Z' > '.').
    let whole_second = at_ms(110);
    let half_second = at_ms(610);
    let user = |name: &str, created_at, id: u128| {
        let mut u = sample_user(name, None);
        u.created_at = created_at;
        u.id = id_from_u128(id);
        u
    };
    let day_before = user("day-before", at_ms(110 - 86_400_000), 0xff << 120);
    // Same instant: ids decide, compared from the first byte (00… < 02…).
    let whole_low = user("whole-low", whole_second, 0xff);
    let whole_high = user("whole-high", whole_second, 0x02 << 120);
    let one_ms_later = user("one-ms-later", at_ms(111), 0x00);
    // Same instant again; 80… must sort after 01… (bytes are unsigned).
    let half_a = user("half-a", half_second, 0x01 << 120);
    let half_b = user("half-b", half_second, 0x80 << 120);

    let expected = ids(&[
        day_before.clone(),
        whole_low.clone(),
        whole_high.clone(),
        one_ms_later.clone(),
        half_a.clone(),
        half_b.clone(),
    ]);
    insert_all(
        &repo,
        &[
            half_b,
            one_ms_later,
            half_a,
            whole_high,
            day_before,
            whole_low,
        ],
    )
    .await;
    assert_eq!(ids(&all_users(&repo).await), expected);
}

/// `offset` skips, `limit` bounds (0 included: "at most `limit`"), windows apply after
/// the filter, and `total` counts every match whatever the window.
pub async fn list_windows_with_offset_and_limit<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    // Every third user (0, 3, 6, 9) inactive; sample users are created in call order.
    let users: Vec<User> = (0..10)
        .map(|i| {
            let mut u = sample_user(&format!("window-{i}"), None);
            u.active = i % 3 != 0;
            u
        })
        .collect();
    insert_all(&repo, &users).await;
    let all = UserFilter::default();
    let slice = |range: &[usize]| range.iter().map(|&i| users[i].id).collect::<Vec<_>>();

    for (offset, limit, expected) in [
        (0, 3, slice(&[0, 1, 2])),
        (3, 3, slice(&[3, 4, 5])),
        (9, 3, slice(&[9])),
        (0, 10, slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])),
        (2, 100, slice(&[2, 3, 4, 5, 6, 7, 8, 9])),
        // MongoDB reads `limit(0)` as "no limit": adapters must not pass it through.
        (4, 0, Vec::new()),
    ] {
        let got = list_page(&repo, &all, page(offset, limit)).await;
        assert_eq!(ids(&got.items), expected, "offset {offset}, limit {limit}");
        assert_eq!(got.total, 10, "total, offset {offset}, limit {limit}");
    }

    let active = UserFilter {
        active: Some(true),
        ..UserFilter::default()
    };
    let got = list_page(&repo, &active, page(2, 3)).await;
    assert_eq!(ids(&got.items), slice(&[4, 5, 7]), "active, window 2..5");
    assert_eq!(got.total, 6, "active total");

    let inactive = UserFilter {
        active: Some(false),
        ..UserFilter::default()
    };
    let got = list_page(&repo, &inactive, page(1, 2)).await;
    assert_eq!(ids(&got.items), slice(&[3, 6]), "inactive, window 1..3");
    assert_eq!(got.total, 4, "inactive total");
}

/// An offset at or past the end gives no items but the right total, even `u64::MAX`
/// (a client can send any offset).
pub async fn list_offset_beyond_the_end_is_empty_with_the_total<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let all = UserFilter::default();
    let got = list_page(&repo, &all, page(0, 10)).await;
    assert!(
        got.items.is_empty() && got.total == 0,
        "empty store: {got:?}"
    );

    insert_all(
        &repo,
        &[
            sample_user("one", None),
            sample_user("two", None),
            sample_user("three", None),
        ],
    )
    .await;
    for offset in [3, 4, 1_000, u64::from(u32::MAX) + 1, u64::MAX] {
        let got = list_page(&repo, &all, page(offset, 10)).await;
        assert!(
            got.items.is_empty(),
            "offset {offset}: {:?}",
            ids(&got.items)
        );
        assert_eq!(got.total, 3, "total at offset {offset}");
    }
    let nobody = UserFilter {
        blocked: Some(true),
        ..UserFilter::default()
    };
    let got = list_page(&repo, &nobody, page(0, 10)).await;
    assert!(got.items.is_empty() && got.total == 0, "no match: {got:?}");
}

/// `role`, `active` and `blocked` filter exactly and combine with AND, as
/// `UserFilter::matches` says, for every combination.
pub async fn list_filters_by_role_active_and_blocked_combined_with_and<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let mut users = Vec::new();
    for role in [Role::Admin, Role::Directeur, Role::Contribuable] {
        for active in [true, false] {
            for blocked in [true, false] {
                let name = format!("{}-{active}-{blocked}", role.code().to_lowercase());
                let mut u = sample_user(&name, None);
                u.role = role;
                if role.is_taxpayer() {
                    u.agent_id = None;
                    u.taxpayer_id = Some(Uuid::from_u128(users.len() as u128 + 1));
                }
                u.active = active;
                u.blocked = blocked;
                users.push(u);
            }
        }
    }
    insert_all(&repo, &users).await;

    // A few counts written out, so that the reference semantics are not the only oracle.
    for (filter, count) in [
        (
            UserFilter {
                role: Some(Role::Admin),
                ..UserFilter::default()
            },
            4,
        ),
        (
            UserFilter {
                active: Some(true),
                blocked: Some(false),
                ..UserFilter::default()
            },
            3,
        ),
        (
            UserFilter {
                role: Some(Role::Directeur),
                active: Some(false),
                blocked: Some(true),
                ..UserFilter::default()
            },
            1,
        ),
        (
            UserFilter {
                role: Some(Role::Taxateur),
                ..UserFilter::default()
            },
            0,
        ),
    ] {
        let got = list_page(&repo, &filter, page(0, 100)).await;
        assert_eq!(got.total, count, "{filter:?}");
    }

    let roles = [
        None,
        Some(Role::Admin),
        Some(Role::Directeur),
        Some(Role::Contribuable),
        Some(Role::Taxateur),
    ];
    let flags = [None, Some(true), Some(false)];
    for role in roles {
        for active in flags {
            for blocked in flags {
                let filter = UserFilter {
                    q: None,
                    role,
                    active,
                    blocked,
                };
                let expected: Vec<_> = users.iter().filter(|u| filter.matches(u)).collect();
                let got = list_page(&repo, &filter, page(0, 100)).await;
                assert_eq!(
                    ids(&got.items),
                    expected.iter().map(|u| u.id).collect::<Vec<_>>(),
                    "{filter:?}"
                );
                assert_eq!(got.total, expected.len() as u64, "total of {filter:?}");
            }
        }
    }
}

/// The users of the search cases: (login, e-mail, full name).
const SEARCHABLE: &[(&str, Option<&str>, &str)] = &[
    ("j.doe", Some("Jane.Doe@Example.org"), "Jane Doe"),
    ("jxdoe", Some("jx@example.net"), "Jx Smith"),
    ("a_b", None, "Ana Bella"),
    ("axb", Some("axb@mail.example.com"), "Axel Brand"),
    (
        "Marie",
        Some("Marie.Curie@Lab.example"),
        "Marie Salomea SKŁODOWSKA Curie",
    ),
    ("kabila", None, "Kabila (Joseph)"),
    ("elodie.k", Some("ek@example.cd"), "ÉLODIE Kasongo"),
    ("Mike+1", Some("mike@example.org"), "Mike Plus"),
    ("mikee", Some("mikee@example.org"), "Mikee Double"),
];

async fn insert_searchable<R: UserRepository>(repo: &R) -> Vec<User> {
    let users: Vec<User> = SEARCHABLE
        .iter()
        .map(|(login, email, name)| {
            let mut u = sample_user(login, *email);
            u.full_name = FullName::parse(name).unwrap();
            u
        })
        .collect();
    insert_all(repo, &users).await;
    users
}

/// Lists with `q` and checks the logins found, in order, and the total; the expectation
/// is also checked against `SearchText::matches`, so a wrong row is a bug of the suite.
async fn assert_search<R: UserRepository>(repo: &R, users: &[User], q: &str, expected: &[&str]) {
    let text: SearchText = search(q);
    let reference: Vec<&str> = users
        .iter()
        .filter(|u| text.matches(u))
        .map(|u| u.login.as_str())
        .collect();
    assert_eq!(
        reference, expected,
        "the suite disagrees with SearchText::matches for {q:?}"
    );
    let filter = UserFilter {
        q: Some(text),
        ..UserFilter::default()
    };
    let got = list_page(repo, &filter, page(0, 100)).await;
    let logins: Vec<&str> = got.items.iter().map(|u| u.login.as_str()).collect();
    assert_eq!(logins, expected, "search {q:?}");
    assert_eq!(got.total, expected.len() as u64, "total of search {q:?}");
}

/// `q` matches, ignoring case, a prefix of the login, of the e-mail, or of any word of
/// the full name; nothing else (no substring); it combines with the other filters.
pub async fn list_search_matches_prefixes_ignoring_case<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let users = insert_searchable(&repo).await;

    for (q, expected) in [
        // Prefix of the login.
        ("j", &["j.doe", "jxdoe"][..]),
        ("JXD", &["jxdoe"]),
        ("marie", &["Marie"]),
        ("elo", &["elodie.k"]),
        // Prefix of the e-mail, with the stored case different from the query's.
        ("jane.doe@example.org", &["j.doe"]),
        ("JX@EX", &["jxdoe"]),
        ("marie.curie@lab", &["Marie"]),
        ("ek@", &["elodie.k"]),
        // Prefix of any word of the full name, first, middle or last.
        ("jane", &["j.doe"]),
        ("DOE", &["j.doe"]),
        ("smi", &["jxdoe"]),
        ("sal", &["Marie"]),
        ("curie", &["Marie"]),
        ("bel", &["a_b"]),
        ("KAS", &["elodie.k"]),
        // Case folding beyond ASCII.
        ("élo", &["elodie.k"]),
        ("ÉLODIE", &["elodie.k"]),
        ("skł", &["Marie"]),
        ("SKŁODOWSKA", &["Marie"]),
        // Several users, in list order.
        ("mike", &["Mike+1", "mikee"]),
        ("a", &["a_b", "axb"]),
        // Substrings that are no prefix.
        ("oe", &[]),
        ("doe@", &[]),
        ("example", &[]),
        ("lodie", &[]),
        ("uri", &[]),
        ("+1", &[]),
        ("nobody", &[]),
    ] {
        assert_search(&repo, &users, q, expected).await;
    }

    // Search combines with the other filters (AND) and with windows.
    let mikee = users.iter().find(|u| u.login.as_str() == "mikee").unwrap();
    let mut inactive = mikee.clone();
    inactive.active = false;
    inactive.version += 1;
    repo.update(&Update::new(&inactive, mikee.version))
        .await
        .unwrap();
    let filter = UserFilter {
        q: Some(search("mike")),
        active: Some(true),
        ..UserFilter::default()
    };
    let got = list_page(&repo, &filter, page(0, 100)).await;
    assert_eq!(ids(&got.items), vec![users[7].id], "mike AND active");
    assert_eq!(got.total, 1);

    let filter = UserFilter {
        q: Some(search("j")),
        ..UserFilter::default()
    };
    let got = list_page(&repo, &filter, page(1, 1)).await;
    assert_eq!(ids(&got.items), vec![users[1].id], "j, second page of one");
    assert_eq!(got.total, 2);
}

/// Search stays exact while users are renamed, re-roled and deleted: for every window
/// and filter, the page and the total are what `UserFilter::matches` says, whether `q` is
/// the prefix of one key shared by many users or of several keys one user may hold twice.
pub async fn list_search_follows_updates_and_deletes<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let mut users: Vec<User> = (0..12u128)
        .map(|i| {
            let mut u = sample_user(&format!("member{i}"), None);
            // Out of insertion order on purpose: the index, not the insertion, orders.
            u.created_at = at_ms(1_000 + i64::try_from((i * 7) % 12).unwrap());
            u.full_name = FullName::parse(if i % 3 == 0 {
                "Kabila Joseph"
            } else {
                "Kasongo Kabila Marie"
            })
            .unwrap();
            u.role = if i % 2 == 0 {
                Role::Taxateur
            } else {
                Role::Admin
            };
            u
        })
        .collect();
    // One user holds "kabila" three times (login, e-mail, name word): found once.
    let mut thrice = sample_user("kabila", Some("kabila@example.cd"));
    thrice.full_name = FullName::parse("Kabila").unwrap();
    users.push(thrice);
    // One holds two keys starting with "kab": found once by "kab", by "kabi" once too.
    let mut twice = sample_user("kab1", None);
    twice.full_name = FullName::parse("Kabinda Kabila").unwrap();
    users.push(twice);
    insert_all(&repo, &users).await;

    async fn check<R: UserRepository>(repo: &R, stored: &[User], step: &str) {
        for q in ["kabila", "kab", "kabi", "kas", "joseph", "member1", "k"] {
            for role in [None, Some(Role::Admin)] {
                let filter = UserFilter {
                    q: Some(search(q)),
                    role,
                    ..UserFilter::default()
                };
                let mut expected: Vec<&User> =
                    stored.iter().filter(|u| filter.matches(u)).collect();
                expected.sort_by_key(|u| (u.created_at, u.id));
                for (offset, limit) in [(0, 100), (0, 1), (2, 3), (5, 100), (40, 10)] {
                    let got = list_page(repo, &filter, page(offset, limit)).await;
                    let want: Vec<_> = expected
                        .iter()
                        .skip(offset as usize)
                        .take(limit as usize)
                        .map(|u| u.id)
                        .collect();
                    assert_eq!(
                        ids(&got.items),
                        want,
                        "{step}: {filter:?} [{offset}; {limit}]"
                    );
                    assert_eq!(
                        got.total,
                        expected.len() as u64,
                        "{step}: total of {filter:?}"
                    );
                }
            }
        }
    }
    check(&repo, &users, "inserted").await;

    // Renamed out of "kabila" (and into "kasai"), re-roled, then one deleted.
    for i in [0, 4, 13] {
        let mut next = users[i].clone();
        next.full_name = FullName::parse("Kasai Tshala").unwrap();
        next.role = Role::Admin;
        next.version += 1;
        repo.update(&Update::new(&next, users[i].version))
            .await
            .unwrap();
        users[i] = next;
    }
    check(&repo, &users, "renamed").await;
    for i in [12, 3] {
        repo.delete(users[i].id, &[]).await.unwrap();
        users.remove(i);
    }
    check(&repo, &users, "deleted").await;
    let mut renamed_back = users[0].clone();
    renamed_back.full_name = FullName::parse("Kabila").unwrap();
    renamed_back.version += 1;
    repo.update(&Update::new(&renamed_back, users[0].version))
        .await
        .unwrap();
    users[0] = renamed_back;
    check(&repo, &users, "renamed back").await;
}

/// `q` is plain text, never a pattern: regular-expression and `LIKE` metacharacters
/// match themselves only, and a query that would be a broken pattern is no error.
pub async fn list_search_is_plain_text<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    let users = insert_searchable(&repo).await;

    for (q, expected) in [
        // As a pattern, `.` would also match "jxdoe", `+` would match "mikee", `_` "axb".
        ("j.", &["j.doe"][..]),
        ("j.d", &["j.doe"]),
        ("marie.", &["Marie"]),
        ("mike+", &["Mike+1"]),
        ("a_", &["a_b"]),
        // `(` opens the name word "(Joseph)".
        ("(", &["kabila"]),
        ("(jo", &["kabila"]),
        // Patterns that match everything, or would not even compile.
        (".*", &[]),
        (".", &[]),
        ("%", &[]),
        ("a%", &[]),
        ("_", &[]),
        ("*", &[]),
        ("^j", &[]),
        ("j$", &[]),
        ("$", &[]),
        ("j|m", &[]),
        ("[", &[]),
        ("[a-z]", &[]),
        (")", &[]),
        ("?", &[]),
        ("\\", &[]),
        ("\\Q", &[]),
        ("{\"$regex\":\".\"}", &[]),
    ] {
        assert_search(&repo, &users, q, expected).await;
    }
}

/// The active ADMINs (`UserFilter::active_admins`) are role ADMIN, active and not
/// blocked; a brute-force lock does not matter. A `limit` of 0 only counts.
pub async fn active_admins_are_the_active_unblocked_admins<R, F, Fut>(make: F)
where
    R: UserRepository + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = R>,
{
    let repo = make().await;
    async fn count<R: UserRepository>(repo: &R) -> u64 {
        list_page(repo, &UserFilter::active_admins(), page(0, 0))
            .await
            .total
    }
    assert_eq!(count(&repo).await, 0, "empty store");

    let with = |name: &str, role, active, blocked| {
        let mut u = sample_user(name, None);
        u.role = role;
        u.active = active;
        u.blocked = blocked;
        u
    };
    let first = with("admin-one", Role::Admin, true, false);
    let mut second = with("admin-two", Role::Admin, true, false);
    second.locked_until = Some(at_ms(86_400_000));
    insert_all(
        &repo,
        &[
            first.clone(),
            second.clone(),
            with("admin-inactive", Role::Admin, false, false),
            with("admin-blocked", Role::Admin, true, true),
            with("admin-both", Role::Admin, false, true),
            with("directeur", Role::Directeur, true, false),
            with("informaticien", Role::Informaticien, true, false),
        ],
    )
    .await;
    assert_eq!(count(&repo).await, 2);
    let listed = list_page(&repo, &UserFilter::active_admins(), page(0, 10)).await;
    assert_eq!(ids(&listed.items), vec![first.id, second.id]);

    repo.lock(first.id, at_ms(86_400_000), at_ms(0), &[])
        .await
        .unwrap();
    assert_eq!(count(&repo).await, 2, "a lock is no block");

    let mut blocked = first.clone();
    blocked.blocked = true;
    blocked.version += 1;
    repo.update(&Update::new(&blocked, first.version))
        .await
        .unwrap();
    assert_eq!(count(&repo).await, 1, "after a block");
}
