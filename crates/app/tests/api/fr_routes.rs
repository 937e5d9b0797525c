//! Dialect fr (SPEC §3.2): every route, `{success, data}` envelopes, French field names and
//! error codes.

use serde_json::{Value, json};

use crate::helpers::{
    INITIAL_PASSWORD, OTHER_PASSWORD, PASSWORD, ROOT_LOGIN, ROOT_PASSWORD, TOKEN_TTL_SECS, TestApp,
    UTILISATEUR_FIELDS, is_utc_timestamp, is_uuid, keys, spawn_app, str_of,
};

fn assert_utilisateur(user: &Value) {
    assert_eq!(keys(user), UTILISATEUR_FIELDS, "Utilisateur fields: {user}");
    assert!(is_uuid(user["id"].as_str().unwrap_or_default()), "{user}");
    assert!(
        is_utc_timestamp(user["createdAt"].as_str().unwrap_or_default()),
        "{user}"
    );
    assert!(
        is_utc_timestamp(user["updatedAt"].as_str().unwrap_or_default()),
        "{user}"
    );
}

fn assert_session(data: &Value) {
    assert_eq!(
        keys(data),
        [
            "expiresIn",
            "premierConnexion",
            "token",
            "tokenType",
            "utilisateur"
        ],
        "{data}"
    );
    assert_eq!(data["tokenType"], "Bearer");
    assert_eq!(data["expiresIn"], TOKEN_TTL_SECS);
    assert_eq!(
        data["premierConnexion"],
        data["utilisateur"]["premierConnexion"]
    );
    assert_utilisateur(&data["utilisateur"]);
}

/// The ids of a list answer, in order.
fn ids(data: &Value) -> Vec<String> {
    data["utilisateurs"]
        .as_array()
        .unwrap_or_else(|| panic!("utilisateurs should be a list: {data}"))
        .iter()
        .map(|u| str_of(&u["id"]))
        .collect()
}

#[test]
fn login_answers_a_session_in_the_success_envelope_not_cached() {
    let app = spawn_app();

    let response = app.post_login(ROOT_LOGIN, ROOT_PASSWORD);

    response
        .assert_status(200)
        .assert_no_store()
        .assert_json_content_type();
    let data = response.data();
    assert_session(&data);
    assert_eq!(data["premierConnexion"], false);
    assert_eq!(data["utilisateur"]["login"], ROOT_LOGIN);
    assert_eq!(data["utilisateur"]["role"], "ADMIN");
    app.get_utilisateur_me(&str_of(&data["token"]))
        .assert_status(200);
    assert!(!response.body.contains(ROOT_PASSWORD));
}

#[test]
fn login_accepts_the_login_or_the_email_ignoring_case() {
    let app = spawn_app();
    let user = app.create_active_user("TAXATEUR");

    for identifier in [
        user.login.clone(),
        user.login.to_uppercase(),
        user.email.clone(),
        user.email.to_uppercase(),
    ] {
        let response = app.post_login(&identifier, PASSWORD);
        response.assert_status(200);
        assert_eq!(
            response.data()["utilisateur"]["id"],
            user.id.as_str(),
            "{identifier}"
        );
    }
}

#[test]
fn login_failures_are_identical_for_an_unknown_login_and_a_wrong_password() {
    let app = spawn_app();

    let unknown = app.post_login("nobody-here", PASSWORD);
    let wrong = app.post_login(ROOT_LOGIN, OTHER_PASSWORD);

    unknown.assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    wrong.assert_fr_error(401, "IDENTIFIANTS_INVALIDES");
    assert_eq!(unknown.json(), wrong.json(), "rule 10: same body");
}

#[test]
fn create_answers_201_with_every_field() {
    let app = spawn_app();
    let login = TestApp::unique_login("agent");
    let agent_id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

    let response = app.post_utilisateur(
        app.admin_token(),
        &json!({
            "login": login,
            "motDePasse": INITIAL_PASSWORD,
            "nomComplet": "KABILA Joseph",
            "email": format!("{login}@dprihkat.cd"),
            "telephone": "+243820123456",
            "role": "TAXATEUR",
            "grade": "Agent",
            "sexe": "M",
            "adresse": "Lubumbashi",
            "agentId": agent_id,
        }),
    );

    response.assert_status(201).assert_json_content_type();
    let data = response.data();
    assert_eq!(keys(&data), ["utilisateur"]);
    let user = &data["utilisateur"];
    assert_utilisateur(user);
    let expected = json!({
        "id": user["id"],
        "login": login,
        "nomComplet": "KABILA Joseph",
        "email": format!("{login}@dprihkat.cd"),
        "telephone": "+243820123456",
        "role": "TAXATEUR",
        "grade": "Agent",
        "sexe": "M",
        "adresse": "Lubumbashi",
        "actif": true,
        "bloque": false,
        "premierConnexion": true,
        "agentId": agent_id,
        "contribuableId": null,
        "createdAt": user["createdAt"],
        "updatedAt": user["updatedAt"],
    });
    assert_eq!(user, &expected);
    assert!(!response.body.contains(INITIAL_PASSWORD));
    assert_eq!(
        response.header("location").map(str::to_owned),
        Some(format!("/api/utilisateurs/{}", str_of(&user["id"])))
    );
    assert_eq!(app.utilisateur(&str_of(&user["id"])), expected, "as stored");
}

#[test]
fn create_refuses_a_taken_login_or_email_naming_the_field() {
    let app = spawn_app();
    let token = app.admin_token();
    let existing = app.create_user("TAXATEUR");

    let (_, mut same_login) = TestApp::new_user_body("TAXATEUR");
    same_login["login"] = json!(existing.login.to_uppercase());
    let response = app.post_utilisateur(token, &same_login);
    response.assert_fr_error(409, "LOGIN_DEJA_UTILISE");
    assert_eq!(response.fr_fields(), ["login"]);

    let (_, mut same_email) = TestApp::new_user_body("TAXATEUR");
    same_email["email"] = json!(existing.email.to_uppercase());
    let response = app.post_utilisateur(token, &same_email);
    response.assert_fr_error(409, "EMAIL_DEJA_UTILISE");
    assert_eq!(response.fr_fields(), ["email"]);
}

#[test]
fn create_refuses_a_login_equal_to_another_accounts_email() {
    let app = spawn_app();
    let owner = app.create_active_user("TAXATEUR");

    let (_, mut body) = TestApp::new_user_body("TAXATEUR");
    body["login"] = json!(owner.email.to_uppercase());
    let response = app.post_utilisateur(app.admin_token(), &body);

    assert_eq!(response.status, 409, "{}", response.body);
    let by_email = app.post_login(&owner.email, PASSWORD);
    by_email.assert_status(200);
    assert_eq!(by_email.data()["utilisateur"]["id"], owner.id.as_str());
}

#[test]
fn create_reports_every_invalid_field_at_once_with_french_names() {
    let app = spawn_app();

    let response = app.post_utilisateur(
        app.admin_token(),
        &json!({
            "login": "a b",
            "motDePasse": INITIAL_PASSWORD,
            "nomComplet": "",
            "email": "not-an-address",
            "telephone": "0820",
            "role": "ROI",
            "sexe": "X",
            "agentId": "not-a-uuid",
        }),
    );

    response.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(
        response.fr_fields(),
        [
            "agentId",
            "email",
            "login",
            "nomComplet",
            "role",
            "sexe",
            "telephone"
        ]
    );

    let (_, mut weak) = TestApp::new_user_body("TAXATEUR");
    weak["motDePasse"] = json!("password");
    let response = app.post_utilisateur(app.admin_token(), &weak);
    response.assert_fr_error(422, "MOT_DE_PASSE_FAIBLE");
    assert_eq!(response.fr_fields(), ["motDePasse"]);

    let (_, mut missing) = TestApp::new_user_body("TAXATEUR");
    missing.as_object_mut().map(|o| o.remove("nomComplet"));
    app.post_utilisateur(app.admin_token(), &missing)
        .assert_fr_error(422, "DONNEES_INVALIDES");
}

#[test]
fn create_refuses_agent_and_taxpayer_links_that_contradict_the_role() {
    let app = spawn_app();
    let link = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

    let (_, mut taxpayer_as_agent) = TestApp::new_user_body("CONTRIBUABLE");
    taxpayer_as_agent["agentId"] = json!(link);
    app.post_utilisateur(app.admin_token(), &taxpayer_as_agent)
        .assert_fr_error(422, "AGENT_CONTRIBUABLE_INCOMPATIBLES");

    let (_, mut agent_as_taxpayer) = TestApp::new_user_body("TAXATEUR");
    agent_as_taxpayer["contribuableId"] = json!(link);
    app.post_utilisateur(app.admin_token(), &agent_as_taxpayer)
        .assert_fr_error(422, "AGENT_CONTRIBUABLE_INCOMPATIBLES");

    let (_, mut taxpayer) = TestApp::new_user_body("CONTRIBUABLE");
    taxpayer["contribuableId"] = json!(link);
    let created = app.post_utilisateur(app.admin_token(), &taxpayer);
    created.assert_status(201);
    assert_eq!(created.data()["utilisateur"]["contribuableId"], link);
}

#[test]
fn list_answers_a_page_with_total_and_combines_filters() {
    let app = spawn_app();
    let token = app.admin_token();
    let mut created = Vec::new();
    for (name, role) in [
        ("KABILA Joseph", "TAXATEUR"),
        ("MWAMBA Alice", "CONTROLLEUR"),
        ("KASONGO Jean", "TAXATEUR"),
        ("ILUNGA Marie", "CONTRIBUABLE"),
    ] {
        let (login, mut body) = TestApp::new_user_body(role);
        body["nomComplet"] = json!(name);
        let response = app.post_utilisateur(token, &body);
        response.assert_status(201);
        created.push((login, str_of(&response.data()["utilisateur"]["id"])));
    }
    let all_ids: Vec<String> = std::iter::once(app.admin.id.clone())
        .chain(created.iter().map(|(_, id)| id.clone()))
        .collect();

    let response = app.get_utilisateurs(token, "");
    response.assert_status(200);
    let data = response.data();
    assert_eq!(keys(&data), ["page", "size", "total", "utilisateurs"]);
    assert_eq!(data["total"], 5);
    assert_eq!(data["page"], 1);
    assert_eq!(data["size"], 20);
    assert_eq!(ids(&data), all_ids, "ordered by creation");
    for user in data["utilisateurs"].as_array().into_iter().flatten() {
        assert_utilisateur(user);
    }

    let page = app.get_utilisateurs(token, "page=2&size=2").data();
    assert_eq!(page["total"], 5);
    assert_eq!(page["page"], 2);
    assert_eq!(page["size"], 2);
    assert_eq!(ids(&page), all_ids[2..4]);
    let last = app.get_utilisateurs(token, "page=3&size=2").data();
    assert_eq!(ids(&last), all_ids[4..]);
    let beyond = app.get_utilisateurs(token, "page=9&size=2").data();
    assert_eq!(ids(&beyond), Vec::<String>::new());
    assert_eq!(beyond["total"], 5);

    let by_role = app.get_utilisateurs(token, "role=TAXATEUR").data();
    assert_eq!(ids(&by_role), [created[0].1.clone(), created[2].1.clone()]);
    assert_eq!(by_role["total"], 2);

    // q: a prefix of the login, of the e-mail, or of a word of the full name, ignoring case.
    let by_word = app.get_utilisateurs(token, "q=jos").data();
    assert_eq!(ids(&by_word), [created[0].1.clone()]);
    let by_word = app.get_utilisateurs(token, "q=KAS").data();
    assert_eq!(ids(&by_word), [created[2].1.clone()]);
    let by_login = app
        .get_utilisateurs(token, &format!("q={}", created[1].0.to_uppercase()))
        .data();
    assert_eq!(ids(&by_login), [created[1].1.clone()]);
    let by_email = app
        .get_utilisateurs(token, &format!("q={}%40e2e", created[3].0))
        .data();
    assert_eq!(ids(&by_email), [created[3].1.clone()]);
    let not_infix = app.get_utilisateurs(token, "q=abila").data();
    assert_eq!(not_infix["total"], 0, "a prefix, not an infix: {not_infix}");
    let pattern = app.get_utilisateurs(token, "q=.%2A").data();
    assert_eq!(pattern["total"], 0, "q is plain text, never a pattern");
    let combined = app
        .get_utilisateurs(token, "q=ka&role=TAXATEUR&size=1")
        .data();
    assert_eq!(combined["total"], 2);
    assert_eq!(ids(&combined), [created[0].1.clone()]);

    app.post_bloquer(token, &created[1].1, Some(&json!({"bloque": true})))
        .assert_status(200);
    app.put_utilisateur(token, &created[3].1, &json!({"actif": false}))
        .assert_status(200);
    let blocked = app.get_utilisateurs(token, "bloque=true").data();
    assert_eq!(ids(&blocked), [created[1].1.clone()]);
    let inactive = app.get_utilisateurs(token, "actif=false").data();
    assert_eq!(ids(&inactive), [created[3].1.clone()]);
    let usable = app
        .get_utilisateurs(token, "actif=true&bloque=false")
        .data();
    assert_eq!(usable["total"], 3);

    let response = app.get_utilisateurs(token, "size=101");
    response.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(response.fr_fields(), ["size"]);
    let response = app.get_utilisateurs(token, "page=0");
    response.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(response.fr_fields(), ["page"]);
    app.get_utilisateurs(token, "size=0")
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.get_utilisateurs(token, "role=ROI")
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.get_utilisateurs(token, "actif=peut-etre")
        .assert_fr_error(422, "DONNEES_INVALIDES");
}

#[test]
fn get_answers_one_user_or_404_for_unknown_and_malformed_ids() {
    let app = spawn_app();
    let token = app.admin_token();
    let user = app.create_user("INFORMATICIEN");

    let response = app.get_utilisateur(token, &user.id);

    response.assert_status(200);
    let data = response.data();
    assert_eq!(keys(&data), ["utilisateur"]);
    assert_utilisateur(&data["utilisateur"]);
    assert_eq!(data["utilisateur"]["login"], user.login.as_str());
    assert_eq!(data["utilisateur"]["role"], "INFORMATICIEN");

    app.get_utilisateur(token, "6f1c1c1e-9a4b-4c5e-8f00-000000000000")
        .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
    app.get_utilisateur(token, "12345")
        .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
}

#[test]
fn update_sets_fields_null_clears_optional_ones_and_refuses_required_ones() {
    let app = spawn_app();
    let token = app.admin_token();
    let user = app.create_user("TAXATEUR");
    let before = app.utilisateur(&user.id);

    let response = app.put_utilisateur(
        token,
        &user.id,
        &json!({
            "nomComplet": "NGOY Pierre",
            "telephone": "+243990000001",
            "grade": "Chef",
            "sexe": "F",
            "adresse": "Kolwezi",
            "role": "CONTROLLEUR",
        }),
    );

    response.assert_status(200);
    let data = response.data();
    assert_eq!(keys(&data), ["utilisateur"]);
    let after = &data["utilisateur"];
    assert_utilisateur(after);
    assert_eq!(after["nomComplet"], "NGOY Pierre");
    assert_eq!(after["telephone"], "+243990000001");
    assert_eq!(after["grade"], "Chef");
    assert_eq!(after["sexe"], "F");
    assert_eq!(after["adresse"], "Kolwezi");
    assert_eq!(after["role"], "CONTROLLEUR");
    assert_eq!(after["login"], before["login"], "absent fields stay");
    assert_eq!(after["email"], before["email"]);
    assert_eq!(after["createdAt"], before["createdAt"]);
    assert_ne!(after["updatedAt"], before["updatedAt"]);

    let cleared = app.put_utilisateur(token, &user.id, &json!({"telephone": null, "grade": null}));
    cleared.assert_status(200);
    let cleared = cleared.data()["utilisateur"].clone();
    assert_eq!(cleared["telephone"], Value::Null);
    assert_eq!(cleared["grade"], Value::Null);
    assert_eq!(cleared["adresse"], "Kolwezi");

    let response = app.put_utilisateur(token, &user.id, &json!({"nomComplet": null, "role": null}));
    response.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(response.fr_fields(), ["nomComplet", "role"]);
    let response = app.put_utilisateur(token, &user.id, &json!({"telephone": "12", "sexe": "Z"}));
    response.assert_fr_error(422, "DONNEES_INVALIDES");
    assert_eq!(response.fr_fields(), ["sexe", "telephone"]);
    app.put_utilisateur(token, &user.id, &json!({"motDePasse": OTHER_PASSWORD}))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.put_utilisateur(
        token,
        "6f1c1c1e-9a4b-4c5e-8f00-000000000000",
        &json!({"grade": "X"}),
    )
    .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
    assert_eq!(app.utilisateur(&user.id)["nomComplet"], "NGOY Pierre");
}

#[test]
fn update_actif_false_deactivates_the_account_at_once() {
    let app = spawn_app();
    let token = app.admin_token();
    let user = app.create_active_user("TAXATEUR");

    let response = app.put_utilisateur(token, &user.id, &json!({"actif": false}));

    response.assert_status(200);
    assert_eq!(response.data()["utilisateur"]["actif"], false);
    app.get_utilisateur_me(user.token())
        .assert_fr_error(401, "JETON_INVALIDE");
    app.post_login(&user.login, &user.password)
        .assert_fr_error(403, "COMPTE_INACTIF");
    app.post_login(&user.login, OTHER_PASSWORD)
        .assert_fr_error(401, "IDENTIFIANTS_INVALIDES");

    app.put_utilisateur(token, &user.id, &json!({"actif": true}))
        .assert_status(200);
    app.post_login(&user.login, &user.password)
        .assert_status(200);
}

#[test]
fn bloquer_sets_with_a_body_and_toggles_without_one() {
    let app = spawn_app();
    let token = app.admin_token();
    let user = app.create_user("TAXATEUR");

    let blocked = app.post_bloquer(
        token,
        &user.id,
        Some(&json!({"bloque": true, "motif": "fraude"})),
    );
    blocked.assert_status(200);
    let data = blocked.data();
    assert_eq!(keys(&data), ["utilisateur"]);
    assert_utilisateur(&data["utilisateur"]);
    assert_eq!(data["utilisateur"]["bloque"], true);

    let again = app.post_bloquer(token, &user.id, Some(&json!({"bloque": true})));
    assert_eq!(
        again.data()["utilisateur"]["bloque"],
        true,
        "setting is idempotent"
    );

    let unblocked = app.post_bloquer(token, &user.id, Some(&json!({"bloque": false})));
    assert_eq!(unblocked.data()["utilisateur"]["bloque"], false);

    let toggled = app.post_bloquer(token, &user.id, None);
    toggled.assert_status(200);
    assert_eq!(toggled.data()["utilisateur"]["bloque"], true);
    let toggled = app.post_bloquer(token, &user.id, None);
    assert_eq!(toggled.data()["utilisateur"]["bloque"], false);

    app.post_bloquer(token, &user.id, Some(&json!({"bloque": "oui"})))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.post_bloquer(token, &user.id, Some(&json!({"motif": "sans bloque"})))
        .assert_fr_error(422, "DONNEES_INVALIDES");
    app.post_bloquer(token, "6f1c1c1e-9a4b-4c5e-8f00-000000000000", None)
        .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
    assert_eq!(app.utilisateur(&user.id)["bloque"], false);
}

#[test]
fn reset_password_answers_the_temporary_password_once_or_nothing_when_chosen() {
    let app = spawn_app();
    let token = app.admin_token();
    let user = app.create_active_user("TAXATEUR");

    let generated = app.post_reset_password(token, &user.id, None);

    generated.assert_status(200).assert_no_store();
    let data = generated.data();
    assert_eq!(keys(&data), ["motDePasseTemporaire", "utilisateur"]);
    assert_utilisateur(&data["utilisateur"]);
    assert_eq!(data["utilisateur"]["premierConnexion"], true);
    assert!(data["motDePasseTemporaire"].is_string());

    let chosen = app.post_reset_password(
        token,
        &user.id,
        Some(&json!({"nouveauMotDePasse": OTHER_PASSWORD})),
    );
    chosen.assert_status(200).assert_no_store();
    let data = chosen.data();
    assert_eq!(
        keys(&data),
        ["utilisateur"],
        "nothing to show: the ADMIN chose it"
    );
    assert_eq!(data["utilisateur"]["premierConnexion"], true);
    let login = app.post_login(&user.login, OTHER_PASSWORD);
    login.assert_status(200);
    assert_eq!(login.data()["premierConnexion"], true, "rule 13");

    let weak = app.post_reset_password(token, &user.id, Some(&json!({"nouveauMotDePasse": "abc"})));
    weak.assert_fr_error(422, "MOT_DE_PASSE_FAIBLE");
    assert_eq!(weak.fr_fields(), ["nouveauMotDePasse"]);
    app.post_reset_password(token, "6f1c1c1e-9a4b-4c5e-8f00-000000000000", None)
        .assert_fr_error(404, "UTILISATEUR_INTROUVABLE");
}

#[test]
fn change_password_answers_a_fresh_session_and_checks_the_old_password() {
    let app = spawn_app();
    let mut user = app.create_user("TAXATEUR");
    app.log_in(&mut user);
    let token = user.token().to_owned();

    let wrong = app.post_change_password(&token, OTHER_PASSWORD, PASSWORD);
    wrong.assert_fr_error(400, "ANCIEN_MOT_DE_PASSE_INVALIDE");

    let same = app.post_change_password(&token, INITIAL_PASSWORD, INITIAL_PASSWORD);
    same.assert_fr_error(422, "MOT_DE_PASSE_FAIBLE");
    assert_eq!(same.fr_fields(), ["nouveauMotDePasse"]);
    assert!(
        same.body.contains("PASSWORD_SAME_AS_CURRENT"),
        "{}",
        same.body
    );

    let weak = app.post_change_password(&token, INITIAL_PASSWORD, &user.login);
    weak.assert_fr_error(422, "MOT_DE_PASSE_FAIBLE");

    let changed = app.post_change_password(&token, INITIAL_PASSWORD, PASSWORD);

    changed.assert_status(200).assert_no_store();
    let data = changed.data();
    assert_session(&data);
    assert_eq!(data["premierConnexion"], false);
    assert_eq!(data["utilisateur"]["id"], user.id.as_str());
    let fresh = str_of(&data["token"]);
    assert_ne!(fresh, token);
    app.get_utilisateur_me(&fresh).assert_status(200);
    app.get_utilisateur_me(&token)
        .assert_fr_error(401, "JETON_INVALIDE");
}

#[test]
fn me_answers_the_callers_utilisateur_and_is_not_taken_for_an_id() {
    let app = spawn_app();
    let user = app.create_active_user("CONTRIBUABLE");

    let response = app.get_utilisateur_me(user.token());

    response.assert_status(200);
    let data = response.data();
    assert_eq!(keys(&data), ["utilisateur"]);
    assert_utilisateur(&data["utilisateur"]);
    assert_eq!(data["utilisateur"]["id"], user.id.as_str());
    assert_eq!(data["utilisateur"]["premierConnexion"], false);
    assert_eq!(data["utilisateur"]["role"], "CONTRIBUABLE");
    app.get("/api/utilisateurs/me")
        .assert_fr_error(401, "NON_AUTHENTIFIE");
}
