//! The two HTTP dialects: v1 (FastAPI style, `/api/v1`) and fr (`{success, data}` envelope,
//! `/api/...`). A dialect only renames fields and shapes bodies; it holds no rule.

use serde_json::{Value, json};

use domain::error::FieldError;

use crate::fr::messages;

/// One invalid field, named as the dialect's clients know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    /// Wire name of the field (`email`, `nomComplet`, …), empty when not about one field.
    pub field: String,
    /// Stable code of the problem.
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl Detail {
    /// A detail about a domain field, renamed for dialect `D`.
    pub fn from_field<D: Dialect>(e: &FieldError) -> Self {
        Self {
            field: D::wire_field(e.field).to_owned(),
            code: e.code,
            message: e.message.to_owned(),
        }
    }
}

/// What an error response says, whatever its dialect: what each dialect shapes.
#[derive(Debug)]
pub struct ErrorView<'a> {
    /// HTTP status.
    pub status: u16,
    /// Stable code.
    pub code: &'static str,
    /// English message.
    pub message: &'a str,
    /// Invalid fields, if any.
    pub details: &'a [Detail],
}

/// How one route family names fields and shapes error bodies.
pub trait Dialect: Send + Sync + 'static {
    /// The wire name of a domain field (`full_name` is `username` in v1, `nomComplet` in fr).
    fn wire_field(domain_field: &'static str) -> &'static str;

    /// The JSON body of an error response.
    fn error_body(error: &ErrorView<'_>) -> Value;
}

/// Dialect v1: `{"detail": "...", "code": "..."}`; validation errors as FastAPI's list.
#[derive(Debug)]
pub struct V1;

impl Dialect for V1 {
    fn wire_field(domain_field: &'static str) -> &'static str {
        match domain_field {
            "full_name" => "username",
            "active" => "is_active",
            "idempotency_key" => "Idempotency-Key",
            other => other,
        }
    }

    fn error_body(error: &ErrorView<'_>) -> Value {
        if error.details.is_empty() || error.status != 422 {
            return json!({ "detail": error.message, "code": error.code });
        }
        let detail: Vec<Value> = error
            .details
            .iter()
            .map(|d| {
                let loc = if d.field.is_empty() {
                    json!(["body"])
                } else {
                    json!(["body", d.field])
                };
                json!({ "loc": loc, "msg": d.message, "type": d.code })
            })
            .collect();
        json!({ "detail": detail, "code": error.code })
    }
}

/// Dialect fr: `{"success": false, "error": {"code", "message", "details": [{"champ", "message"}]}}`,
/// with the codes of the French API (`LOGIN_DEJA_UTILISE`, …) and French messages.
#[derive(Debug)]
pub struct Fr;

impl Fr {
    /// The fr code for a stable code (from [`messages::ENTRIES`]); codes without a French
    /// form pass through unchanged.
    pub fn code(code: &'static str) -> &'static str {
        messages::fr_code(code)
    }
}

impl Dialect for Fr {
    fn wire_field(domain_field: &'static str) -> &'static str {
        match domain_field {
            "full_name" => "nomComplet",
            "password" => "motDePasse",
            "current_password" => "ancienMotDePasse",
            "phone" => "telephone",
            "sex" => "sexe",
            "address" => "adresse",
            "active" => "actif",
            "agent_id" => "agentId",
            "taxpayer_id" => "contribuableId",
            "reason" => "motif",
            "idempotency_key" => "Idempotency-Key",
            other => other,
        }
    }

    /// Messages in French from [`messages::ENTRIES`]; detail codes stay the stable ones.
    fn error_body(error: &ErrorView<'_>) -> Value {
        let details: Vec<Value> = error
            .details
            .iter()
            .map(|d| {
                let message =
                    messages::detail_message(d.code, &d.field).unwrap_or_else(|| d.message.clone());
                json!({ "champ": d.field, "code": d.code, "message": message })
            })
            .collect();
        // A code missing from the table keeps its English message rather than none; the
        // table's unit tests fail on any such code, so it is caught before a release.
        let message = messages::message(error.code).unwrap_or(error.message);
        json!({
            "success": false,
            "error": { "code": Fr::code(error.code), "message": message, "details": details }
        })
    }
}
