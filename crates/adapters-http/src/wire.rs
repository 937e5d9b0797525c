//! Small conversions shared by both dialects' DTOs.

use domain::DomainError;
use domain::error::FieldError;
use std::collections::BTreeMap;

use domain::model::{AuditEvent, PlainPassword, Role, UserId};
use domain::ports::{SearchText, UserFilter};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::dialect::Dialect;
use crate::error::ApiError;

/// A password as received, in either dialect: deserialised like a string, but its `Debug`
/// never shows it, so a request body can be logged (or land in a panic message) safely.
/// Every password field of every request DTO has this type rather than `String`.
#[derive(Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// The password, checked by the domain's rules.
    pub(crate) fn into_password(self) -> Result<PlainPassword, FieldError> {
        PlainPassword::new(self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// RFC 3339 in UTC with milliseconds, always the same width (`2026-11-21T10:00:00.000Z`):
/// milliseconds are what every store keeps.
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .unwrap_or_default()
}

/// An instant in RFC 3339 (`2026-11-21T10:00:00Z`, any offset), as a filter bound.
pub(crate) fn instant(
    f: &mut Fields,
    raw: Option<String>,
    wire_name: &'static str,
) -> Option<OffsetDateTime> {
    let raw = raw?;
    let parsed = OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339);
    f.take(
        parsed.map_err(|_| {
            FieldError::new(
                wire_name,
                "INVALID_TIMESTAMP",
                "must be an RFC 3339 date and time, e.g. 2026-11-21T10:00:00Z",
            )
        }),
        wire_name,
    )
}

/// A user id as a filter.
pub(crate) fn id(f: &mut Fields, raw: Option<String>, wire_name: &'static str) -> Option<UserId> {
    let raw = raw?;
    f.take(
        UserId::parse(raw.trim())
            .ok_or_else(|| FieldError::new(wire_name, "INVALID_ID", "must be a user id (UUID)")),
        wire_name,
    )
}

/// An event's details as a JSON object (names are unique within an event).
pub(crate) fn details(event: &AuditEvent) -> BTreeMap<String, String> {
    event.record.details.iter().cloned().collect()
}

/// Collects field errors while converting a request body, renaming fields for dialect `D`.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<FieldError>);

impl Fields {
    /// Keeps the value or records its error under `wire_name`.
    pub(crate) fn take<T>(
        &mut self,
        r: Result<T, FieldError>,
        wire_name: &'static str,
    ) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(mut e) => {
                e.field = wire_name;
                self.0.push(e);
                None
            }
        }
    }

    /// Records an error directly.
    pub(crate) fn push(&mut self, e: FieldError) {
        self.0.push(e);
    }

    /// `Ok` when nothing was recorded, else a 422 listing every problem.
    pub(crate) fn finish<D: Dialect>(self) -> Result<(), ApiError<D>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            // Field names are already wire names; `Detail::from_field` maps unknown names unchanged.
            Err(ApiError::from(DomainError::Validation(self.0)))
        }
    }
}

/// The list filters both dialects offer, validated into the domain's filter; problems are
/// recorded in `f`.
pub(crate) fn user_filter(
    f: &mut Fields,
    q: Option<String>,
    role: Option<String>,
    active: Option<bool>,
    blocked: Option<bool>,
) -> UserFilter {
    let role = role.and_then(|r| f.take(Role::parse(&r), "role"));
    let q = match q.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let q = SearchText::new(raw);
            if q.is_none() {
                f.push(FieldError::new(
                    "q",
                    "QUERY_TOO_LONG",
                    "q must be at most 100 characters",
                ));
            }
            q
        }
    };
    UserFilter {
        q,
        role,
        active,
        blocked,
    }
}
