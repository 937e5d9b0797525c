//! The two HTTP dialects: v1 (FastAPI style, `/api/v1`) and fr (`{success, data}` envelope,
//! `/api/...`). A dialect only renames fields and shapes bodies; it holds no rule.

use serde_json::{Value, json};

use crate::error::ApiError;

/// How one route family names fields and shapes error bodies.
pub trait Dialect: Send + Sync + 'static {
    /// The wire name of a domain field (`full_name` is `username` in v1, `nomComplet` in fr).
    fn wire_field(domain_field: &'static str) -> &'static str;

    /// The JSON body of an error response.
    fn error_body(error: &ApiError<Self>) -> Value
    where
        Self: Sized;
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

    fn error_body(error: &ApiError<Self>) -> Value {
        if error.details.is_empty() || error.status.as_u16() != 422 {
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
/// with the codes of the French API (`LOGIN_DEJA_UTILISE`, …).
#[derive(Debug)]
pub struct Fr;

impl Fr {
    /// The fr code for a stable code; codes without a French form pass through unchanged.
    pub fn code(code: &'static str) -> &'static str {
        match code {
            "LOGIN_TAKEN" => "LOGIN_DEJA_UTILISE",
            "EMAIL_TAKEN" => "EMAIL_DEJA_UTILISE",
            "VALIDATION_ERROR" => "DONNEES_INVALIDES",
            "WEAK_PASSWORD" => "MOT_DE_PASSE_FAIBLE",
            "INVALID_CREDENTIALS" => "IDENTIFIANTS_INVALIDES",
            "INVALID_CURRENT_PASSWORD" => "ANCIEN_MOT_DE_PASSE_INVALIDE",
            "ACCOUNT_LOCKED" => "COMPTE_VERROUILLE",
            "ACCOUNT_BLOCKED" => "COMPTE_BLOQUE",
            "ACCOUNT_INACTIVE" => "COMPTE_INACTIF",
            "PERMISSION_DENIED" => "ACCES_REFUSE",
            "PASSWORD_CHANGE_REQUIRED" => "CHANGEMENT_MOT_DE_PASSE_REQUIS",
            "NOT_FOUND" => "UTILISATEUR_INTROUVABLE",
            "AGENT_TAXPAYER_MISMATCH" => "AGENT_CONTRIBUABLE_INCOMPATIBLES",
            "SELF_ACTION_FORBIDDEN" => "ACTION_SUR_SOI_INTERDITE",
            "LAST_ADMIN" => "DERNIER_ADMIN",
            "UNAUTHENTICATED" => "NON_AUTHENTIFIE",
            "INVALID_TOKEN" => "JETON_INVALIDE",
            "STORE_UNAVAILABLE" => "SERVICE_INDISPONIBLE",
            "MALFORMED_JSON" | "MALFORMED_BODY" => "JSON_MALFORME",
            "PAYLOAD_TOO_LARGE" => "CORPS_TROP_VOLUMINEUX",
            "UNSUPPORTED_MEDIA_TYPE" => "TYPE_DE_CONTENU_NON_SUPPORTE",
            "CONFLICT" => "MODIFICATION_CONCURRENTE",
            "RATE_LIMITED" => "TROP_DE_REQUETES",
            "HEADERS_TOO_LARGE" => "EN_TETES_TROP_VOLUMINEUX",
            "CORS_ORIGIN_NOT_ALLOWED" => "ORIGINE_NON_AUTORISEE",
            other => other,
        }
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

    fn error_body(error: &ApiError<Self>) -> Value {
        let details: Vec<Value> = error
            .details
            .iter()
            .map(|d| json!({ "champ": d.field, "code": d.code, "message": d.message }))
            .collect();
        json!({
            "success": false,
            "error": { "code": Fr::code(error.code), "message": error.message, "details": details }
        })
    }
}
