//! fr request and response bodies (French field names, `{success, data}` envelope), and
//! their conversion into domain commands. Every invalid field is reported at once.

use std::collections::BTreeMap;

use domain::error::FieldError;
use domain::model::{
    Address, AuditEvent, Email, FullName, Grade, Login, Phone, PlainPassword, Reason, Role, Sex,
    User,
};
use domain::ports::{Page, PageRequest, UserFilter};
use domain::service::{NewUser, UserUpdate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::dialect::Fr;
use crate::error::ApiError;
use crate::token::IssuedToken;
use crate::wire::{Fields, Secret, details, timestamp, user_filter};

type Result<T> = std::result::Result<T, ApiError<Fr>>;

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// The success envelope: `{"success": true, "data": ...}`.
#[derive(Debug, Serialize)]
pub struct Success<T> {
    success: bool,
    data: T,
}

/// Wraps `data` in the success envelope.
pub fn success<T: Serialize>(data: T) -> Success<T> {
    Success {
        success: true,
        data,
    }
}

/// A user as the fr dialect shows it (SPEC §3.2); never a password or a hash.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Utilisateur {
    id: String,
    login: String,
    nom_complet: String,
    email: Option<String>,
    telephone: Option<String>,
    role: &'static str,
    grade: Option<String>,
    sexe: Option<&'static str>,
    adresse: Option<String>,
    actif: bool,
    bloque: bool,
    premier_connexion: bool,
    agent_id: Option<String>,
    contribuable_id: Option<String>,
    created_at: String,
    updated_at: String,
}

impl From<&User> for Utilisateur {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            login: u.login.as_str().to_owned(),
            nom_complet: u.full_name.as_str().to_owned(),
            email: u.email.as_ref().map(|e| e.as_str().to_owned()),
            telephone: u.phone.as_ref().map(|p| p.as_str().to_owned()),
            role: u.role.code(),
            grade: u.grade.as_ref().map(|g| g.as_str().to_owned()),
            sexe: u.sex.map(Sex::code),
            adresse: u.address.as_ref().map(|a| a.as_str().to_owned()),
            actif: u.active,
            bloque: u.blocked,
            premier_connexion: u.must_change_password,
            agent_id: u.agent_id.map(|id| id.to_string()),
            contribuable_id: u.taxpayer_id.map(|id| id.to_string()),
            created_at: timestamp(u.created_at),
            updated_at: timestamp(u.updated_at),
        }
    }
}

/// `data` of the routes that answer with one user.
#[derive(Debug, Serialize)]
pub struct UtilisateurData {
    utilisateur: Utilisateur,
}

impl From<&User> for UtilisateurData {
    fn from(u: &User) -> Self {
        Self {
            utilisateur: Utilisateur::from(u),
        }
    }
}

/// An audit event as the fr dialect shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evenement {
    seq: u64,
    date: String,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `SUCCES` or `ECHEC`.
    resultat: &'static str,
    code_erreur: Option<String>,
    acteur_id: Option<String>,
    cible_id: Option<String>,
    request_id: Option<String>,
    adresse_ip: Option<String>,
    details: BTreeMap<String, String>,
    hash_precedent: String,
    hash: String,
}

impl From<&AuditEvent> for Evenement {
    fn from(e: &AuditEvent) -> Self {
        let r = &e.record;
        Self {
            seq: e.seq,
            date: timestamp(r.at),
            kind: r.kind.code(),
            resultat: if r.succeeded() { "SUCCES" } else { "ECHEC" },
            code_erreur: r.failure.clone(),
            acteur_id: r.actor.map(|id| id.to_string()),
            cible_id: r.target.map(|id| id.to_string()),
            request_id: r.context.request_id.clone(),
            adresse_ip: r.context.client_ip.clone(),
            details: details(e),
            hash_precedent: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// `data` of `GET /utilisateurs/{id}/historique`: the user's events, newest first.
#[derive(Debug, Serialize)]
pub struct HistoriqueData {
    evenements: Vec<Evenement>,
    total: u64,
    page: u64,
    size: u32,
}

impl HistoriqueData {
    /// One page as asked for by `request`.
    pub fn new(found: &Page<AuditEvent>, request: &PageQuery) -> Self {
        Self {
            evenements: found.items.iter().map(Evenement::from).collect(),
            total: found.total,
            page: request.number,
            size: request.window.limit,
        }
    }
}

/// `data` of `GET /utilisateurs`.
#[derive(Debug, Serialize)]
pub struct ListeData {
    utilisateurs: Vec<Utilisateur>,
    total: u64,
    page: u64,
    size: u32,
}

impl ListeData {
    /// One page as asked for by `request`.
    pub fn new(found: &Page<User>, request: &ListRequest) -> Self {
        Self {
            utilisateurs: found.items.iter().map(Utilisateur::from).collect(),
            total: found.total,
            page: request.page_number,
            size: request.page.limit,
        }
    }
}

/// `data` of login and of the own-password change: a session token and its user.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionData {
    token: String,
    token_type: &'static str,
    expires_in: u64,
    premier_connexion: bool,
    utilisateur: Utilisateur,
}

impl std::fmt::Debug for SessionData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionData")
            .field("token", &"***")
            .field("expires_in", &self.expires_in)
            .field("utilisateur", &self.utilisateur.id)
            .finish_non_exhaustive()
    }
}

impl SessionData {
    /// A freshly issued token for `user`.
    pub fn new(issued: IssuedToken, user: &User) -> Self {
        Self {
            token: issued.token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            premier_connexion: user.must_change_password,
            utilisateur: Utilisateur::from(user),
        }
    }
}

/// `data` of `POST /utilisateurs/{id}/reset-password`; the generated password appears
/// here once and is never stored in clear.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResetData {
    utilisateur: Utilisateur,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exposed")]
    mot_de_passe_temporaire: Option<PlainPassword>,
}

impl ResetData {
    /// The reset user, and the temporary password when the service generated one.
    pub fn new(user: &User, temporary: Option<PlainPassword>) -> Self {
        Self {
            utilisateur: Utilisateur::from(user),
            mot_de_passe_temporaire: temporary,
        }
    }
}

/// Writes the clear text of a password the client must see once; its `Debug` stays `***`.
fn exposed<S: Serializer>(
    password: &Option<PlainPassword>,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    match password {
        Some(p) => serializer.serialize_str(p.expose()),
        None => serializer.serialize_none(),
    }
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Distinguishes an absent field (`None`, thanks to `#[serde(default)]`) from an explicit
/// `null` (`Some(None)`): in an update, absent leaves a field alone and `null` clears it.
fn nullable<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

fn uuid(raw: &str) -> std::result::Result<Uuid, FieldError> {
    Uuid::parse_str(raw.trim())
        .map_err(|_| FieldError::new("uuid", "UUID_INVALID", "must be a UUID"))
}

/// An update field that may be cleared: absent → leave, `null` → clear, value → parse.
fn clearable<T, U>(
    f: &mut Fields,
    value: Option<Option<T>>,
    wire_name: &'static str,
    parse: impl FnOnce(T) -> std::result::Result<U, FieldError>,
) -> Option<Option<U>> {
    match value? {
        None => Some(None),
        Some(raw) => f.take(parse(raw), wire_name).map(Some),
    }
}

/// An update field that cannot be cleared: absent → leave, `null` → refused, value → parse.
fn settable<T, U>(
    f: &mut Fields,
    value: Option<Option<T>>,
    wire_name: &'static str,
    parse: impl FnOnce(T) -> std::result::Result<U, FieldError>,
) -> Option<U> {
    match value? {
        None => {
            f.push(FieldError::new(
                wire_name,
                "NOT_NULLABLE",
                "this field cannot be null",
            ));
            None
        }
        Some(raw) => f.take(parse(raw), wire_name),
    }
}

/// Unwraps the values of a conversion once `Fields::finish` said every field was valid.
fn complete<T>(value: Option<T>) -> Result<T> {
    value.ok_or_else(|| ApiError::validation(Vec::new()))
}

/// `POST /auth/login`: a login or an e-mail address, and the password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LoginIn {
    login: String,
    mot_de_passe: Secret,
}

impl LoginIn {
    /// The identifier as typed (the domain resolves login or e-mail) and the password.
    pub fn try_into_domain(self) -> Result<(String, PlainPassword)> {
        let mut f = Fields::default();
        let secret = f.take(self.mot_de_passe.into_password(), "motDePasse");
        f.finish()?;
        Ok((self.login, complete(secret)?))
    }
}

/// Default and bounds of `GET /utilisateurs` paging.
const DEFAULT_SIZE: u32 = 20;
const MAX_SIZE: u32 = 100;
/// Largest `page`: the one whose offset still fits at the largest size. The same bound
/// whatever the size, so that the OpenAPI document can state it.
const MAX_PAGE: u64 = u64::MAX / MAX_SIZE as u64 + 1;

/// A validated `page`/`size` pair.
#[derive(Debug)]
pub struct PageQuery {
    /// The window.
    pub window: PageRequest,
    /// The 1-based page number asked for, echoed in the answer.
    pub number: u64,
}

/// Checks `page` (from 1) and `size`, recording problems in `f`.
fn paging(f: &mut Fields, page: Option<u64>, size: Option<u32>) -> Option<PageQuery> {
    let number = page.unwrap_or(1);
    let size = size.unwrap_or(DEFAULT_SIZE);
    if !(1..=MAX_SIZE).contains(&size) {
        f.push(FieldError::new(
            "size",
            "SIZE_OUT_OF_RANGE",
            "size must be between 1 and 100",
        ));
    }
    let offset = number
        .checked_sub(1)
        .filter(|_| number <= MAX_PAGE)
        .and_then(|skipped| skipped.checked_mul(u64::from(size)));
    if offset.is_none() {
        f.push(FieldError::new(
            "page",
            "PAGE_OUT_OF_RANGE",
            "page must be between 1 and 184467440737095517",
        ));
    }
    Some(PageQuery {
        window: PageRequest {
            offset: offset?,
            limit: size,
        },
        number,
    })
}

/// `GET /utilisateurs/{id}/historique` query.
#[derive(Debug, Deserialize)]
pub struct HistoriqueQuery {
    page: Option<u64>,
    size: Option<u32>,
}

impl HistoriqueQuery {
    pub fn try_into_domain(self) -> Result<PageQuery> {
        let mut f = Fields::default();
        let paging = paging(&mut f, self.page, self.size);
        f.finish()?;
        complete(paging)
    }
}

/// `GET /utilisateurs` query: `page` counts from 1.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    page: Option<u64>,
    size: Option<u32>,
    q: Option<String>,
    role: Option<String>,
    actif: Option<bool>,
    bloque: Option<bool>,
}

/// A validated list request.
#[derive(Debug)]
pub struct ListRequest {
    /// Filters, combined with AND.
    pub filter: UserFilter,
    /// The window over the ordered list.
    pub page: PageRequest,
    /// The 1-based page number asked for, echoed in the answer.
    pub page_number: u64,
}

impl ListQuery {
    pub fn try_into_domain(self) -> Result<ListRequest> {
        let mut f = Fields::default();
        let paging = paging(&mut f, self.page, self.size);
        let filter = user_filter(&mut f, self.q, self.role, self.actif, self.bloque);
        f.finish()?;
        let paging = complete(paging)?;
        Ok(ListRequest {
            filter,
            page: paging.window,
            page_number: paging.number,
        })
    }
}

/// `POST /utilisateurs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateIn {
    login: String,
    mot_de_passe: Secret,
    nom_complet: String,
    email: Option<String>,
    telephone: Option<String>,
    role: String,
    grade: Option<String>,
    sexe: Option<String>,
    adresse: Option<String>,
    agent_id: Option<String>,
    contribuable_id: Option<String>,
}

impl CreateIn {
    pub fn try_into_domain(self) -> Result<NewUser> {
        let mut f = Fields::default();
        let login = f.take(Login::parse(&self.login), "login");
        let password = f.take(self.mot_de_passe.into_password(), "motDePasse");
        let full_name = f.take(FullName::parse(&self.nom_complet), "nomComplet");
        let role = f.take(Role::parse(&self.role), "role");
        let email = self.email.and_then(|v| f.take(Email::parse(&v), "email"));
        let phone = self
            .telephone
            .and_then(|v| f.take(Phone::parse(&v), "telephone"));
        let grade = self.grade.and_then(|v| f.take(Grade::parse(&v), "grade"));
        let sex = self.sexe.and_then(|v| f.take(Sex::parse(&v), "sexe"));
        let address = self
            .adresse
            .and_then(|v| f.take(Address::parse(&v), "adresse"));
        let agent_id = self.agent_id.and_then(|v| f.take(uuid(&v), "agentId"));
        let taxpayer_id = self
            .contribuable_id
            .and_then(|v| f.take(uuid(&v), "contribuableId"));
        f.finish()?;
        Ok(NewUser {
            login: complete(login)?,
            password: complete(password)?,
            full_name: complete(full_name)?,
            role: complete(role)?,
            email,
            phone,
            grade,
            sex,
            address,
            agent_id,
            taxpayer_id,
        })
    }
}

/// `PUT /utilisateurs/{id}`: any subset of the fields; `null` clears an optional field.
/// The password is not accepted here (unknown field): it changes through reset-password.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateIn {
    #[serde(default, deserialize_with = "nullable")]
    nom_complet: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    telephone: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    role: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    grade: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    sexe: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    adresse: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    actif: Option<Option<bool>>,
    #[serde(default, deserialize_with = "nullable")]
    agent_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    contribuable_id: Option<Option<String>>,
}

impl UpdateIn {
    pub fn try_into_domain(self) -> Result<UserUpdate> {
        let mut f = Fields::default();
        let update = UserUpdate {
            full_name: settable(&mut f, self.nom_complet, "nomComplet", |v| {
                FullName::parse(&v)
            }),
            email: clearable(&mut f, self.email, "email", |v| Email::parse(&v)),
            phone: clearable(&mut f, self.telephone, "telephone", |v| Phone::parse(&v)),
            role: settable(&mut f, self.role, "role", |v| Role::parse(&v)),
            grade: clearable(&mut f, self.grade, "grade", |v| Grade::parse(&v)),
            sex: clearable(&mut f, self.sexe, "sexe", |v| Sex::parse(&v)),
            address: clearable(&mut f, self.adresse, "adresse", |v| Address::parse(&v)),
            active: settable(&mut f, self.actif, "actif", Ok),
            agent_id: clearable(&mut f, self.agent_id, "agentId", |v| uuid(&v)),
            taxpayer_id: clearable(&mut f, self.contribuable_id, "contribuableId", |v| uuid(&v)),
            is_admin: None,
            password: None,
        };
        f.finish()?;
        Ok(update)
    }
}

/// `POST /utilisateurs/{id}/bloquer` body (the body itself is optional: without it the
/// block status toggles).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BloquerIn {
    bloque: bool,
    motif: Option<String>,
}

/// A validated block request.
#[derive(Debug)]
pub struct BlockOrder {
    /// The status asked for.
    pub blocked: bool,
    /// Why, for the audit trail.
    pub motif: Option<Reason>,
}

impl BloquerIn {
    pub fn try_into_domain(self) -> Result<BlockOrder> {
        let mut f = Fields::default();
        // An empty motif is no motif.
        let motif = self
            .motif
            .filter(|m| !m.trim().is_empty())
            .and_then(|m| f.take(Reason::parse(&m), "motif"));
        f.finish()?;
        Ok(BlockOrder {
            blocked: self.bloque,
            motif,
        })
    }
}

/// `POST /utilisateurs/{id}/reset-password` body (optional: without a password the service
/// generates a temporary one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResetIn {
    nouveau_mot_de_passe: Option<Secret>,
}

impl ResetIn {
    pub fn try_into_domain(self) -> Result<Option<PlainPassword>> {
        let mut f = Fields::default();
        let chosen = self
            .nouveau_mot_de_passe
            .and_then(|p| f.take(p.into_password(), "nouveauMotDePasse"));
        f.finish()?;
        Ok(chosen)
    }
}

/// `POST /utilisateurs/change-password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePasswordIn {
    ancien_mot_de_passe: Secret,
    nouveau_mot_de_passe: Secret,
}

impl ChangePasswordIn {
    /// The current password, then the new one.
    pub fn try_into_domain(self) -> Result<(PlainPassword, PlainPassword)> {
        let mut f = Fields::default();
        let current = f.take(self.ancien_mot_de_passe.into_password(), "ancienMotDePasse");
        let new = f.take(
            self.nouveau_mot_de_passe.into_password(),
            "nouveauMotDePasse",
        );
        f.finish()?;
        Ok((complete(current)?, complete(new)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn passwords_never_show_in_debug() {
        let body: LoginIn =
            serde_json::from_str(r#"{"login": "agent1", "motDePasse": "Sup3r-Secret!"}"#).unwrap();
        assert!(!format!("{body:?}").contains("Sup3r"));
        let body: ChangePasswordIn = serde_json::from_str(
            r#"{"ancienMotDePasse": "Old-Secret-1!", "nouveauMotDePasse": "New-Secret-2!"}"#,
        )
        .unwrap();
        assert!(!format!("{body:?}").contains("Secret"));
    }

    #[test]
    fn update_tells_absent_from_null() {
        let body: UpdateIn = serde_json::from_str(r#"{"email": null, "grade": "Chef"}"#).unwrap();
        let update = body.try_into_domain().unwrap();
        assert_eq!(update.email, Some(None));
        assert!(update.grade.is_some_and(|g| g.is_some()));
        assert!(update.phone.is_none());
        assert!(update.full_name.is_none());
        assert!(update.password.is_none());
    }
}
