//! JSON request bodies: read within the size limit, required to be declared as JSON, and
//! deserialised so that a wrong-shaped field is named in the error (`loc`, `champ`), which
//! actix's own extractor cannot do.

use std::marker::PhantomData;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures::StreamExt;
use futures::future::LocalBoxFuture;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::dialect::Dialect;
use crate::error::{ApiError, Detail, MAX_BODY_BYTES, field_of_serde_message};

/// A JSON body of type `T`, with errors in dialect `D`: 413 over 64 KiB, 415 not declared
/// as JSON, 400 unparseable, 422 parseable but of the wrong shape (naming the field).
#[derive(Debug)]
pub struct Json<T, D> {
    value: T,
    dialect: PhantomData<fn() -> D>,
}

impl<T, D> Json<T, D> {
    /// The decoded body.
    pub fn into_inner(self) -> T {
        self.value
    }
}

fn too_large<D>() -> ApiError<D> {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("request body is larger than {MAX_BODY_BYTES} bytes"),
    )
}

/// Reads the whole body, refusing it as soon as it exceeds the limit.
pub(crate) async fn read_limited<D>(
    req: &HttpRequest,
    payload: &mut Payload,
) -> Result<Vec<u8>, ApiError<D>> {
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "MALFORMED_BODY",
                "the request body could not be read",
            )
        })?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `application/json` or any `application/*+json`.
pub(crate) fn require_json_content_type<D>(req: &HttpRequest) -> Result<(), ApiError<D>> {
    let is_json = req.mime_type().ok().flatten().is_some_and(|mime| {
        mime.type_() == actix_web::mime::APPLICATION
            && (mime.subtype() == actix_web::mime::JSON
                || mime.suffix() == Some(actix_web::mime::JSON))
    });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "request body must be application/json",
        ))
    }
}

/// Decodes JSON, naming the offending field (its wire name, dotted for nested fields).
///
/// The syntax is judged first, on the whole body: anything but exactly one JSON value
/// (whitespace aside) is 400 `MALFORMED_JSON`, whatever its first value looks like. A typed
/// decode alone stops at the first value's missing or unknown field and would call
/// `{"email": "a@b.cd"} trai` a 422; only a well-formed body may earn a field-naming 422.
pub(crate) fn parse<T: DeserializeOwned, D>(bytes: &[u8]) -> Result<T, ApiError<D>> {
    let malformed = |message: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
            format!("malformed JSON: {message}"),
        )
    };
    // UTF-8 first: serde_json does not check the strings it skips.
    let text = std::str::from_utf8(bytes).map_err(|e| malformed(e.to_string()))?;
    serde_json::from_str::<IgnoredAny>(text).map_err(|e| malformed(e.to_string()))?;
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, T>(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.to_string();
        if inner.is_data() {
            let field = if path == "." {
                field_of_serde_message(&message)
            } else {
                path
            };
            ApiError::validation(vec![Detail {
                field,
                code: "INVALID_FIELD",
                message,
            }])
        } else {
            malformed(message)
        }
    })
}

impl<T: DeserializeOwned + 'static, D: Dialect> FromRequest for Json<T, D> {
    type Error = ApiError<D>;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            require_json_content_type(&req)?;
            let bytes = read_limited(&req, &mut payload).await?;
            Ok(Self {
                value: parse(&bytes)?,
                dialect: PhantomData,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Deserialize;

    use super::*;
    use crate::dialect::V1;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code, reason = "only decoded")]
    struct Login {
        email: String,
        password: String,
    }

    fn status_and_code(body: &[u8]) -> (u16, &'static str) {
        let e = parse::<Login, V1>(body).unwrap_err();
        (e.status.as_u16(), e.code)
    }

    #[test]
    fn anything_but_exactly_one_json_value_is_malformed_before_its_fields_are_judged() {
        for body in [
            &br#"{"email": "a@b.cd"} trai"#[..],
            br#"{"email": "a@b.cd"} {"email": "a@b.cd"}"#,
            br#"{"email": "a@b.cd", "password": "x"} x"#,
            b"{}x",
            b"{}]",
            b"{} 1",
            b"{",
            b"",
            b"{\"email\": \"\xff\", \"password\": \"x\"}",
            b"{\"skipped\": \"\xff\"}",
        ] {
            assert_eq!(
                status_and_code(body),
                (400, "MALFORMED_JSON"),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let unclosed = "[".repeat(30_000);
        assert_eq!(
            status_and_code(unclosed.as_bytes()),
            (400, "MALFORMED_JSON")
        );
        // Deep but well-formed: one value, of the wrong shape.
        let deep = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
        assert_eq!(status_and_code(deep.as_bytes()), (422, "VALIDATION_ERROR"));
    }

    #[test]
    fn one_value_of_the_wrong_shape_is_a_422_naming_the_field() {
        for (body, field) in [
            (r#"{"email": "a@b.cd"}"#, "password"),
            (r#"{"email": "a@b.cd", "password": "x", "role": 1}"#, "role"),
            (r#"{"email": 1, "password": "x"}"#, "email"),
        ] {
            let e = parse::<Login, V1>(body.as_bytes()).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (422, "VALIDATION_ERROR"));
            assert_eq!(e.details[0].field, field);
            assert_eq!(e.details[0].code, "INVALID_FIELD");
        }
        let login: Login =
            parse::<Login, V1>(b" \n{\"email\": \"a@b.cd\", \"password\": \"x\"}\r\n\t ").unwrap();
        assert_eq!(login.email, "a@b.cd");
    }
}
