//! Who may call the server: takes the credentials it was started with (HTTP basic auth,
//! which Label Studio's ML backend settings can send, and/or a bearer token for scripts),
//! gives a middleware that answers 401 with a JSON error to any request without them. With
//! neither configured every request passes (the server listens on 127.0.0.1 by default).

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::request::ApiError;

#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// user and password for HTTP basic auth.
    pub basic: Option<(String, String)>,
    /// `Authorization: Bearer <token>` (or `Token <token>`).
    pub token: Option<String>,
}

/// Equal, in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Auth {
    /// Whether a request with this `Authorization` header may pass.
    pub(crate) fn allows(&self, authorization: Option<&str>) -> bool {
        if self.basic.is_none() && self.token.is_none() {
            return true;
        }
        let Some(value) = authorization else { return false };
        let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let Some((user, pass)) = &self.basic else { return false };
                let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else { return false };
                same(&decoded, format!("{user}:{pass}").as_bytes())
            }
            "bearer" | "token" => self.token.as_ref().is_some_and(|t| same(rest.as_bytes(), t.as_bytes())),
            _ => false,
        }
    }
}

/// The middleware: passes allowed requests on, answers the others 401.
pub async fn check(State(auth): State<std::sync::Arc<Auth>>, req: Request, next: Next) -> Response {
    let header = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if auth.allows(header) {
        return next.run(req).await;
    }
    let mut resp =
        ApiError { status: StatusCode::UNAUTHORIZED, message: "missing or wrong credentials (basic auth or bearer token)".into() }
            .into_response();
    if auth.basic.is_some() {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"prelabel\""));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_and_tokens_are_checked() {
        let open = Auth::default();
        assert!(open.allows(None));
        let auth = Auth { basic: Some(("ls".into(), "secret".into())), token: Some("tok".into()) };
        let basic = |s: &str| format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s));
        assert!(auth.allows(Some(&basic("ls:secret"))));
        assert!(!auth.allows(Some(&basic("ls:wrong"))));
        assert!(!auth.allows(Some("Basic !!!")));
        assert!(auth.allows(Some("Bearer tok")));
        assert!(auth.allows(Some("Token tok")));
        assert!(!auth.allows(Some("Bearer to")));
        assert!(!auth.allows(None));
    }
}
