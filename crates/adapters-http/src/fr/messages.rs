//! What the fr dialect says for each stable code: its fr code and its French message, in
//! one table, so that a code cannot get a French name without a French sentence or the
//! other way round. v1 keeps the English messages the code was raised with.
//!
//! Adding a code is one line in [`ENTRIES`]; a unit test scans the sources of the domain
//! and of this crate for every code they can raise and fails until it has its line.

/// One stable code as the fr dialect renders it.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// The stable code (v1's `code`, the domain's, the detail code of both dialects).
    pub code: &'static str,
    /// The fr `error.code`; the stable code itself when the French API has no other name.
    pub fr_code: &'static str,
    /// The French message.
    pub message: &'static str,
    /// The English message is serde's and names the field: the French one names it too.
    names_field: bool,
}

/// A code the French API names `fr_code`, with its French message.
const fn renamed(code: &'static str, fr_code: &'static str, message: &'static str) -> Entry {
    Entry {
        code,
        fr_code,
        message,
        names_field: false,
    }
}

/// A code that keeps its name in the French API, with its French message.
const fn same(code: &'static str, message: &'static str) -> Entry {
    renamed(code, code, message)
}

/// A detail code whose message ends with the field it is about (`… : « email ».`).
const fn naming(code: &'static str, message: &'static str) -> Entry {
    Entry {
        code,
        fr_code: code,
        message,
        names_field: true,
    }
}

/// Every stable code, with its fr code and French message. Bounds stated in an English
/// message are stated in the French one.
// One line per code, however long: the table is read and extended line by line.
#[rustfmt::skip]
pub const ENTRIES: &[Entry] = &[
    // Errors (`error.code`).
    renamed("VALIDATION_ERROR", "DONNEES_INVALIDES", "Données invalides."),
    renamed("WEAK_PASSWORD", "MOT_DE_PASSE_FAIBLE", "Le mot de passe ne respecte pas la politique de sécurité."),
    renamed("AGENT_TAXPAYER_MISMATCH", "AGENT_CONTRIBUABLE_INCOMPATIBLES", "Un CONTRIBUABLE ne peut pas être lié à un agent, et seul un CONTRIBUABLE peut être lié à un contribuable."),
    renamed("LOGIN_TAKEN", "LOGIN_DEJA_UTILISE", "Ce login est déjà utilisé."),
    renamed("EMAIL_TAKEN", "EMAIL_DEJA_UTILISE", "Cette adresse e-mail est déjà utilisée."),
    renamed("CONFLICT", "MODIFICATION_CONCURRENTE", "L'utilisateur a été modifié au même moment par une autre requête ; réessayez."),
    renamed("INVALID_CURRENT_PASSWORD", "ANCIEN_MOT_DE_PASSE_INVALIDE", "Le mot de passe actuel est incorrect."),
    renamed("INVALID_CREDENTIALS", "IDENTIFIANTS_INVALIDES", "Identifiants invalides."),
    renamed("ACCOUNT_LOCKED", "COMPTE_VERROUILLE", "Compte temporairement verrouillé."),
    renamed("ACCOUNT_BLOCKED", "COMPTE_BLOQUE", "Compte bloqué."),
    renamed("ACCOUNT_INACTIVE", "COMPTE_INACTIF", "Compte désactivé."),
    renamed("INVALID_TOKEN", "JETON_INVALIDE", "Jeton invalide ou révoqué."),
    renamed("UNAUTHENTICATED", "NON_AUTHENTIFIE", "Jeton d'authentification (Bearer) manquant."),
    renamed("PASSWORD_CHANGE_REQUIRED", "CHANGEMENT_MOT_DE_PASSE_REQUIS", "Vous devez changer votre mot de passe avant toute autre opération."),
    renamed("PERMISSION_DENIED", "ACCES_REFUSE", "Accès refusé."),
    renamed("SELF_ACTION_FORBIDDEN", "ACTION_SUR_SOI_INTERDITE", "Cette action ne peut pas viser votre propre compte."),
    renamed("LAST_ADMIN", "DERNIER_ADMIN", "Le dernier administrateur actif ne peut pas être retiré."),
    renamed("NOT_FOUND", "UTILISATEUR_INTROUVABLE", "Utilisateur introuvable."),
    renamed("ROUTE_NOT_FOUND", "ROUTE_INTROUVABLE", "Aucune route ne correspond à cette adresse."),
    renamed("METHOD_NOT_ALLOWED", "METHODE_NON_AUTORISEE", "Méthode non autorisée sur cette route."),
    renamed("MALFORMED_JSON", "JSON_MALFORME", "Le corps de la requête n'est pas exactement une valeur JSON valide."),
    renamed("MALFORMED_BODY", "JSON_MALFORME", "Le corps de la requête n'a pas pu être lu."),
    renamed("PAYLOAD_TOO_LARGE", "CORPS_TROP_VOLUMINEUX", "Le corps de la requête dépasse 65536 octets."),
    renamed("UNSUPPORTED_MEDIA_TYPE", "TYPE_DE_CONTENU_NON_SUPPORTE", "Le corps de la requête doit être déclaré en application/json."),
    renamed("HEADERS_TOO_LARGE", "EN_TETES_TROP_VOLUMINEUX", "Les en-têtes de la requête dépassent 64 lignes ou 16384 octets."),
    renamed("CORS_ORIGIN_NOT_ALLOWED", "ORIGINE_NON_AUTORISEE", "Cette origine, cette méthode ou cet en-tête n'est pas autorisé à appeler l'API depuis un navigateur."),
    renamed("RATE_LIMITED", "TROP_DE_REQUETES", "Trop de tentatives de mot de passe de ce client ou pour ce compte ; réessayez plus tard."),
    renamed("STORE_UNAVAILABLE", "SERVICE_INDISPONIBLE", "Le stockage des utilisateurs est indisponible ; réessayez plus tard."),
    same("INTERNAL_ERROR", "Erreur interne."),
    same("USE_SELF_SERVICE_ROUTE", "Changez votre propre mot de passe ou votre adresse e-mail par les routes libre-service, qui demandent votre mot de passe actuel."),
    // Details (`error.details[].code`), the same in both dialects.
    naming("INVALID_FIELD", "Champ absent, inconnu, en double ou de type incorrect."),
    naming("INVALID_QUERY", "Paramètre de requête de type incorrect."),
    same("INVALID_FORM", "Le formulaire n'a pas pu être décodé (champ manquant ou invalide)."),
    same("LOGIN_LENGTH", "Le login doit compter de 3 à 64 caractères."),
    same("LOGIN_CHARACTERS", "Le login ne peut contenir que des lettres, des chiffres et les caractères « . _ - @ + »."),
    same("LOGIN_MIXED_SCRIPTS", "Le login mélange plusieurs écritures (par exemple latin et cyrillique)."),
    same("TEXT_INVISIBLE_CHARACTERS", "Le texte contient des caractères invisibles, bidirectionnels ou de largeur nulle."),
    same("IDEMPOTENCY_KEY_INVALID", "L'en-tête Idempotency-Key doit compter de 1 à 255 caractères ASCII visibles."),
    same("EMAIL_INVALID", "L'adresse e-mail n'est pas valide."),
    same("EMAIL_NOT_USABLE_AS_LOGIN", "Cette adresse ne peut pas servir de login (au plus 64 caractères parmi les lettres, les chiffres et « . _ - @ + »)."),
    same("FULL_NAME_INVALID", "Le nom complet doit compter de 1 à 200 caractères imprimables."),
    same("GRADE_INVALID", "Le grade doit compter de 1 à 100 caractères imprimables."),
    same("ADDRESS_INVALID", "L'adresse doit compter de 1 à 500 caractères imprimables."),
    same("PHONE_INVALID", "Le téléphone doit être au format international, par exemple +243820123456."),
    same("SEX_INVALID", "Le sexe doit être M ou F."),
    same("ROLE_INVALID", "Le rôle n'est pas l'un des neuf rôles."),
    same("UUID_INVALID", "Doit être un UUID."),
    same("NOT_NULLABLE", "Ce champ ne peut pas valoir null."),
    same("CURRENT_PASSWORD_REQUIRED", "Changer l'adresse e-mail ou le mot de passe exige le mot de passe actuel (current_password)."),
    same("MOTIF_INVALID", "Le motif doit compter au plus 500 caractères imprimables."),
    same("LIMIT_OUT_OF_RANGE", "Le paramètre limit doit être compris entre 1 et 100."),
    same("SIZE_OUT_OF_RANGE", "Le paramètre size doit être compris entre 1 et 100."),
    same("PAGE_OUT_OF_RANGE", "Le paramètre page doit être compris entre 1 et 184467440737095517."),
    same("QUERY_TOO_LONG", "Le paramètre q doit compter au plus 100 caractères."),
    same("UNKNOWN_EVENT_TYPE", "Type d'événement d'audit inconnu."),
    same("INVALID_ID", "Doit être un identifiant d'utilisateur (UUID)."),
    same("INVALID_TIMESTAMP", "Doit être une date et une heure RFC 3339, par exemple 2026-11-21T10:00:00Z."),
    same("PASSWORD_TOO_SHORT", "Le mot de passe est trop court."),
    same("PASSWORD_TOO_LONG", "Le mot de passe est trop long."),
    same("PASSWORD_NO_LOWERCASE", "Le mot de passe doit contenir une lettre minuscule."),
    same("PASSWORD_NO_UPPERCASE", "Le mot de passe doit contenir une lettre majuscule."),
    same("PASSWORD_NO_DIGIT", "Le mot de passe doit contenir un chiffre."),
    same("PASSWORD_NO_SYMBOL", "Le mot de passe doit contenir un caractère qui n'est ni une lettre ni un chiffre."),
    same("PASSWORD_CONTAINS_LOGIN", "Le mot de passe ne doit pas contenir le login."),
    same("PASSWORD_CONTAINS_EMAIL", "Le mot de passe ne doit pas contenir l'adresse e-mail."),
    same("PASSWORD_TOO_COMMON", "Ce mot de passe est trop courant."),
    same("PASSWORD_SAME_AS_CURRENT", "Le nouveau mot de passe doit être différent du mot de passe actuel."),
];

/// The table's line for a stable code.
pub fn lookup(code: &str) -> Option<&'static Entry> {
    ENTRIES.iter().find(|e| e.code == code)
}

/// The fr code of a stable code; a code the table lacks passes through unchanged.
pub fn fr_code(code: &'static str) -> &'static str {
    lookup(code).map_or(code, |e| e.fr_code)
}

/// The French message of an error (`error.message`).
pub fn message(code: &str) -> Option<&'static str> {
    lookup(code).map(|e| e.message)
}

/// The French message of a detail about `field` (its wire name, empty when about no field).
pub fn detail_message(code: &str, field: &str) -> Option<String> {
    let e = lookup(code)?;
    if !e.names_field || field.is_empty() {
        return Some(e.message.to_owned());
    }
    let stem = e.message.strip_suffix('.').unwrap_or(e.message);
    Some(format!("{stem} : « {field} »."))
}

#[cfg(test)]
mod tests {
    //! Every code the sources can raise has its line, and every line is French. The codes
    //! are found by scanning the sources of the domain and of this crate (not a hand-kept
    //! list), so a code added anywhere fails here until it is translated.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    use actix_web::http::StatusCode;
    use domain::DomainError;

    use super::*;
    use crate::dialect::{Fr, V1};
    use crate::error::{ApiError, MAX_BODY_BYTES};
    use crate::middleware::{MAX_HEAD_BYTES, MAX_HEADERS};

    /// Constants the English messages interpolate (`format!("… {MAX_BODY_BYTES} …")`).
    fn constant(name: &str) -> Option<usize> {
        match name {
            "MAX_BODY_BYTES" => Some(MAX_BODY_BYTES),
            "MAX_HEADERS" => Some(MAX_HEADERS),
            "MAX_HEAD_BYTES" => Some(MAX_HEAD_BYTES),
            _ => None,
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    enum Tok {
        Str(String),
        Ident(String),
        Number(String),
        Punct(char),
    }

    fn is_ident(c: char) -> bool {
        c.is_alphanumeric() || c == '_'
    }

    /// Rust source as tokens: comments dropped, string literals (plain, byte, raw) kept
    /// with their text, char literals and lifetimes skipped.
    fn lex(src: &str) -> Vec<Tok> {
        let c: Vec<char> = src.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < c.len() {
            let at = |k: usize| c.get(k).copied().unwrap_or('\0');
            let ch = c[i];
            if ch.is_whitespace() {
                i += 1;
            } else if ch == '/' && at(i + 1) == '/' {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            } else if ch == '/' && at(i + 1) == '*' {
                i += 2;
                while i < c.len() && !(c[i] == '*' && at(i + 1) == '/') {
                    i += 1;
                }
                i += 2;
            } else if (ch == 'r' || (ch == 'b' && at(i + 1) == 'r'))
                && matches!(at(i + 1 + usize::from(ch == 'b')), '"' | '#')
                && (i == 0 || !is_ident(c[i - 1]))
            {
                let mut j = i + 1 + usize::from(ch == 'b');
                let mut hashes = 0;
                while at(j) == '#' {
                    hashes += 1;
                    j += 1;
                }
                if at(j) != '"' {
                    // `r#ident`, a raw identifier.
                    i = j;
                    continue;
                }
                j += 1;
                let start = j;
                loop {
                    assert!(j < c.len(), "unterminated raw string");
                    if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                        break;
                    }
                    j += 1;
                }
                out.push(Tok::Str(c[start..j].iter().collect()));
                i = j + 1 + hashes;
            } else if ch == '"' || (ch == 'b' && at(i + 1) == '"') {
                let mut j = i + 1 + usize::from(ch == 'b');
                let mut text = String::new();
                while j < c.len() && c[j] != '"' {
                    if c[j] == '\\' {
                        text.push(c[j]);
                        j += 1;
                    }
                    text.push(c[j]);
                    j += 1;
                }
                out.push(Tok::Str(text));
                i = j + 1;
            } else if ch == '\'' {
                if at(i + 1) == '\\' {
                    // Past the backslash and the escaped character (`'\''`).
                    let mut j = i + 3;
                    while j < c.len() && c[j] != '\'' {
                        j += 1;
                    }
                    i = j + 1;
                } else if at(i + 2) == '\'' {
                    i += 3;
                } else {
                    i += 1;
                }
            } else if ch.is_ascii_digit() {
                let start = i;
                while i < c.len() && is_ident(c[i]) {
                    i += 1;
                }
                out.push(Tok::Number(c[start..i].iter().collect()));
            } else if is_ident(ch) {
                let start = i;
                while i < c.len() && is_ident(c[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect()));
            } else {
                out.push(Tok::Punct(ch));
                i += 1;
            }
        }
        out
    }

    /// The index of the bracket closing the one at `open`.
    fn closing(toks: &[Tok], open: usize) -> usize {
        let mut depth = 0usize;
        for (k, t) in toks.iter().enumerate().skip(open) {
            match t {
                Tok::Punct('(' | '[' | '{') => depth += 1,
                Tok::Punct(')' | ']' | '}') => {
                    depth -= 1;
                    if depth == 0 {
                        return k;
                    }
                }
                _ => {}
            }
        }
        panic!("unbalanced brackets");
    }

    /// Drops `#[cfg(test)] mod … { … }`: codes only tests use need no translation.
    fn without_test_modules(toks: Vec<Tok>) -> Vec<Tok> {
        let cfg_test: Vec<Tok> = lex("#[cfg(test)] mod");
        let mut out = Vec::new();
        let mut i = 0;
        while i < toks.len() {
            if toks[i..].starts_with(&cfg_test) {
                let open = i + cfg_test.len() + 1;
                assert_eq!(toks.get(open), Some(&Tok::Punct('{')), "a test module");
                i = closing(&toks, open) + 1;
            } else {
                out.push(toks[i].clone());
                i += 1;
            }
        }
        out
    }

    fn is_code(text: &str) -> bool {
        text.len() >= 4
            && text.starts_with(|c: char| c.is_ascii_uppercase())
            && text
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }

    /// What the sources say about one code: where it is raised and the numbers its
    /// English messages state there.
    #[derive(Debug, Default)]
    struct Raised {
        places: BTreeSet<String>,
        numbers: BTreeSet<String>,
    }

    /// The digit runs of an English message, its `{CONSTANT}`s replaced by their value.
    fn numbers_of(literal: &str, out: &mut BTreeSet<String>) {
        let mut text = String::new();
        let mut rest = literal;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |k| open + k);
            let name = &rest[open + 1..close];
            if is_code(name) {
                let value = constant(name).unwrap_or_else(|| {
                    panic!("{literal:?}: add {name} to `constant` so its value is checked")
                });
                text.push_str(&value.to_string());
            }
            rest = rest.get(close + 1..).unwrap_or_default();
        }
        text.push_str(rest);
        for run in text.split(|c: char| !c.is_ascii_digit()) {
            if !run.is_empty() {
                out.insert(run.to_owned());
            }
        }
    }

    /// The call whose `(` is at `open`: `FieldError::new`, `ApiError::<V1>::new`, …
    fn callee(toks: &[Tok], open: usize) -> String {
        let mut start = open;
        while start > 0
            && matches!(
                &toks[start - 1],
                Tok::Ident(_) | Tok::Punct(':' | '<' | '>' | '!')
            )
        {
            start -= 1;
        }
        let mut path = String::new();
        for (k, t) in toks[start..open].iter().enumerate() {
            match t {
                // Two words in a row (`fn refusal`, `return FieldError::new`): keep the last.
                Tok::Ident(s) if k > 0 && matches!(toks[start + k - 1], Tok::Ident(_)) => {
                    s.clone_into(&mut path);
                }
                Tok::Ident(s) => path.push_str(s),
                Tok::Punct(p) => path.push(*p),
                _ => {}
            }
        }
        // The `>` of a `=>` or `->` before the call.
        path.trim_start_matches('>').to_owned()
    }

    /// Calls whose arguments carry a stable code (and the English message beside it).
    fn raises_a_code(callee: &str) -> bool {
        let api_error = callee.starts_with("ApiError::")
            && (callee.ends_with("::new") || callee.ends_with("::unauthenticated"));
        api_error
            || callee.ends_with("FieldError::new")
            || callee == "refusal"
            || callee == "bounded_text!"
    }

    /// Every code a source file raises: a code-shaped literal among the arguments of a
    /// raising call, after `StatusCode::X,` (tuples handed to one), as `code: "…"` (a
    /// detail), or, in the domain's error module, as a match arm (`DomainError::code`,
    /// `PolicyViolation::code`).
    fn scan(file: &str, src: &str, found: &mut BTreeMap<String, Raised>) {
        let toks = without_test_modules(lex(src));
        let is_error_module = file.ends_with("domain/src/error.rs");
        let mut note = |code: &str, numbers: BTreeSet<String>| {
            let raised = found.entry(code.to_owned()).or_default();
            raised.places.insert(file.to_owned());
            raised.numbers.extend(numbers);
        };
        for (i, tok) in toks.iter().enumerate() {
            let Tok::Str(text) = tok else {
                if *tok == Tok::Punct('(') && raises_a_code(&callee(&toks, i)) {
                    let args = &toks[i + 1..closing(&toks, i)];
                    let mut numbers = BTreeSet::new();
                    for arg in args {
                        match arg {
                            Tok::Str(s) if !is_code(s) => numbers_of(s, &mut numbers),
                            Tok::Number(n) => numbers_of(n, &mut numbers),
                            _ => {}
                        }
                    }
                    for arg in args {
                        if let Tok::Str(s) = arg
                            && is_code(s)
                        {
                            note(s, numbers.clone());
                        }
                    }
                }
                continue;
            };
            if !is_code(text) {
                continue;
            }
            let before = |k: usize| i.checked_sub(k).and_then(|j| toks.get(j));
            let after_status = matches!(before(1), Some(Tok::Punct(',')))
                && matches!(before(2), Some(Tok::Ident(_)))
                && before(3) == Some(&Tok::Punct(':'))
                && before(5) == Some(&Tok::Ident("StatusCode".to_owned()));
            let detail = before(1) == Some(&Tok::Punct(':'))
                && before(2) == Some(&Tok::Ident("code".to_owned()));
            let arm = is_error_module
                && before(1) == Some(&Tok::Punct('>'))
                && before(2) == Some(&Tok::Punct('='));
            if after_status || detail || arm {
                note(text, BTreeSet::new());
            }
        }
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The sources that raise codes: the domain's and this crate's, every file of them,
    /// so a new module is scanned without touching this test.
    fn sources() -> Vec<(String, String)> {
        let mut files = Vec::new();
        for root in ["src", "../domain/src"] {
            rust_files(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join(root),
                &mut files,
            );
        }
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap();
                (p.display().to_string(), text)
            })
            .collect()
    }

    fn raised_codes() -> BTreeMap<String, Raised> {
        let mut found = BTreeMap::new();
        for (file, text) in sources() {
            scan(&file, &text, &mut found);
        }
        found
    }

    /// Every string literal of the sources that reads like an English sentence (this
    /// table's French excepted).
    fn english_literals() -> BTreeSet<String> {
        sources()
            .iter()
            .filter(|(file, _)| !file.ends_with("fr/messages.rs"))
            .flat_map(|(_, text)| lex(text))
            .filter_map(|t| match t {
                Tok::Str(s) if s.contains(' ') => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_scan_finds_codes_of_every_kind_of_site() {
        let found = raised_codes();
        for code in [
            "LOGIN_LENGTH",             // FieldError::new in the domain
            "FULL_NAME_INVALID",        // bounded_text! invocation
            "PASSWORD_TOO_SHORT",       // PolicyViolation::code
            "INVALID_CURRENT_PASSWORD", // DomainError::code
            "INVALID_FIELD",            // a Detail literal
            "RATE_LIMITED",             // after StatusCode:: (Self::new in ApiError)
            "UNAUTHENTICATED",          // ApiError::unauthenticated
            "HEADERS_TOO_LARGE",        // refusal(…)
            "METHOD_NOT_ALLOWED",       // a (StatusCode, code, message) tuple
            "MOTIF_INVALID",            // FieldError::new in this crate
        ] {
            assert!(found.contains_key(code), "{code} not found: {found:?}");
        }
        assert!(
            found["LOGIN_LENGTH"].numbers.contains("64"),
            "{:?}",
            found["LOGIN_LENGTH"]
        );
        assert!(found["PAYLOAD_TOO_LARGE"].numbers.contains("65536"));
        assert!(found["FULL_NAME_INVALID"].numbers.contains("200"));
        // Neither roles nor audit event kinds are error codes.
        assert!(!found.contains_key("ADMIN") && !found.contains_key("LOGIN_SUCCEEDED"));
    }

    #[test]
    fn every_code_the_sources_raise_has_a_french_message() {
        let missing: Vec<String> = raised_codes()
            .into_iter()
            .filter(|(code, _)| lookup(code).is_none())
            .map(|(code, raised)| format!("{code} (raised in {:?})", raised.places))
            .collect();
        assert!(
            missing.is_empty(),
            "add a line to fr::messages::ENTRIES for: {missing:#?}"
        );
    }

    #[test]
    fn french_messages_state_the_bounds_of_the_english_ones() {
        for (code, raised) in raised_codes() {
            let Some(french) = message(&code) else {
                continue;
            };
            let mut stated = BTreeSet::new();
            numbers_of(french, &mut stated);
            let missing: Vec<&String> = raised.numbers.difference(&stated).collect();
            assert!(
                missing.is_empty(),
                "{code}: {french:?} does not state {missing:?} (raised in {:?})",
                raised.places
            );
        }
    }

    #[test]
    fn every_line_is_french_and_the_table_has_one_per_code() {
        let english = english_literals();
        let mut seen = BTreeSet::new();
        for e in ENTRIES {
            assert!(seen.insert(e.code), "{} has two lines", e.code);
            assert!(is_code(e.code) && is_code(e.fr_code), "{e:?}");
            assert!(
                !english.contains(e.message),
                "{}: {:?} is the English message",
                e.code,
                e.message
            );
            assert!(
                e.message.starts_with(char::is_uppercase) && e.message.ends_with('.'),
                "{}: {:?} is a sentence",
                e.code,
                e.message
            );
            assert!(!e.message.contains("  "), "{e:?}");
        }
        // Codes other engineers add next: the French is ready.
        for code in [
            "LOGIN_MIXED_SCRIPTS",
            "TEXT_INVISIBLE_CHARACTERS",
            "USE_SELF_SERVICE_ROUTE",
        ] {
            assert!(lookup(code).is_some(), "{code}");
        }
    }

    #[test]
    fn fr_codes_are_those_of_the_french_api() {
        assert_eq!(fr_code("VALIDATION_ERROR"), "DONNEES_INVALIDES");
        assert_eq!(fr_code("MALFORMED_JSON"), "JSON_MALFORME");
        assert_eq!(fr_code("MALFORMED_BODY"), "JSON_MALFORME");
        assert_eq!(fr_code("ROUTE_NOT_FOUND"), "ROUTE_INTROUVABLE");
        assert_eq!(fr_code("LOGIN_LENGTH"), "LOGIN_LENGTH");
        assert_eq!(fr_code("NOT_IN_THE_TABLE"), "NOT_IN_THE_TABLE");
    }

    #[test]
    fn serde_details_name_their_field_in_french() {
        assert_eq!(
            detail_message("INVALID_FIELD", "motDePasse").as_deref(),
            Some("Champ absent, inconnu, en double ou de type incorrect : « motDePasse ».")
        );
        assert_eq!(
            detail_message("INVALID_FIELD", "").as_deref(),
            message("INVALID_FIELD")
        );
        assert_eq!(
            detail_message("LOGIN_LENGTH", "login").as_deref(),
            message("LOGIN_LENGTH")
        );
        assert_eq!(detail_message("NOT_IN_THE_TABLE", "x"), None);
    }

    #[test]
    fn the_fr_body_speaks_french_and_v1_english() {
        let fr = ApiError::<Fr>::from(DomainError::WrongCurrentPassword).body();
        assert_eq!(fr["error"]["code"], "ANCIEN_MOT_DE_PASSE_INVALIDE");
        assert_eq!(
            fr["error"]["message"],
            "Le mot de passe actuel est incorrect."
        );
        let v1 = ApiError::<V1>::from(DomainError::WrongCurrentPassword).body();
        assert_eq!(v1["detail"], "current password is incorrect");

        let weak = DomainError::WeakPassword(vec![
            domain::error::PolicyViolation::TooShort,
            domain::error::PolicyViolation::NoDigit,
        ]);
        let fr = ApiError::<Fr>::from(weak).body();
        assert_eq!(fr["error"]["message"], message("WEAK_PASSWORD").unwrap());
        let details = fr["error"]["details"].as_array().unwrap();
        assert_eq!(details.len(), 2);
        for d in details {
            assert_eq!(d["champ"], "motDePasse");
            assert_eq!(d["message"], message(d["code"].as_str().unwrap()).unwrap());
        }

        // A code outside the table keeps the message it was raised with.
        let unknown = ApiError::<Fr>::new(StatusCode::IM_A_TEAPOT, "NOT_IN_THE_TABLE", "as is");
        assert_eq!(unknown.body()["error"]["message"], "as is");
    }
}
