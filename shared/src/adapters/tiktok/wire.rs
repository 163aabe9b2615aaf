//! TikTok's wire formats: flat OAuth answers and `{data, error}` envelopes.
//! Clients must not trust HTTP status alone: a non-empty `error` is a
//! failure whatever the status.

use chrono::{DateTime, Duration, Utc};

use crate::domain::{
    account::Scopes,
    ids::AccountId,
    secrets::{AccessToken, RefreshToken, TokenSet},
    tiktok::{TikTokError, TokenGrant},
};

fn string_field(value: &serde_json::Value, key: &str) -> Option<String> {
    value
        .get(key)
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// A flat OAuth error: a non-empty top-level `error` string.
fn oauth_error(status: u16, value: &serde_json::Value) -> Option<TikTokError> {
    let code = string_field(value, "error").filter(|c| !c.is_empty())?;
    Some(TikTokError::OAuth {
        status,
        code,
        description: string_field(value, "error_description").unwrap_or_default(),
        log_id: string_field(value, "log_id"),
    })
}

/// A `{data, error}` envelope whose `error.code` is not `ok`.
fn envelope_error(status: u16, value: &serde_json::Value) -> Option<TikTokError> {
    let error = value.get("error")?.as_object()?;
    let code = error.get("code")?.as_str()?;
    if code == "ok" {
        return None;
    }
    Some(TikTokError::Api {
        status,
        code: code.to_owned(),
        message: error
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned(),
        log_id: error
            .get("log_id")
            .and_then(|m| m.as_str())
            .map(str::to_owned),
    })
}

/// The body as JSON, or `Malformed`.
pub fn parse_json(status: u16, body: &str) -> Result<serde_json::Value, TikTokError> {
    serde_json::from_str(body).map_err(|_| TikTokError::Malformed {
        status,
        reason: "not JSON".into(),
    })
}

/// A flat answer (the token and revoke endpoints): an OAuth error or an
/// error envelope in it, or an unsuccessful status without either, is a
/// failure.
pub fn flat_answer(status: u16, value: &serde_json::Value) -> Result<(), TikTokError> {
    if let Some(error) = oauth_error(status, value) {
        return Err(error);
    }
    if let Some(error) = envelope_error(status, value) {
        return Err(error);
    }
    if !(200..300).contains(&status) {
        return Err(TikTokError::Malformed {
            status,
            reason: "unsuccessful status without an error".into(),
        });
    }
    Ok(())
}

/// Parses a `{data, error}` envelope into `data`.
pub fn parse_envelope<T: serde::de::DeserializeOwned>(
    status: u16,
    body: &str,
) -> Result<T, TikTokError> {
    let value = parse_json(status, body)?;
    if let Some(error) = envelope_error(status, &value) {
        return Err(error);
    }
    if value.get("error").and_then(|e| e.get("code")).is_none() {
        return Err(TikTokError::Malformed {
            status,
            reason: "no error.code in the envelope".into(),
        });
    }
    if !(200..300).contains(&status) {
        return Err(TikTokError::Malformed {
            status,
            reason: "unsuccessful status with error.code ok".into(),
        });
    }
    let data = value
        .get("data")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    serde_json::from_value(data).map_err(|e| TikTokError::Malformed {
        status,
        reason: format!("data: {e}"),
    })
}

/// The longest access token lifetime TikTok has documented (24 hours).
pub const LONGEST_ACCESS_LIFETIME: i64 = 86_400;
/// The longest refresh token lifetime TikTok has documented (365 days).
pub const LONGEST_REFRESH_LIFETIME: i64 = 31_536_000;

/// Parses the token endpoint's flat answer. Expiries come from the
/// response's own `expires_in` and `refresh_expires_in`: TikTok's documents
/// disagree on lifetimes, so none is assumed.
pub fn parse_token_response(
    status: u16,
    body: &str,
    now: DateTime<Utc>,
) -> Result<TokenGrant, TikTokError> {
    let value = parse_json(status, body)?;
    flat_answer(status, &value)?;
    let malformed = |reason: &str| TikTokError::Malformed {
        status,
        reason: reason.to_owned(),
    };
    let open_id = string_field(&value, "open_id")
        .and_then(|v| AccountId::parse(v).ok())
        .ok_or_else(|| malformed("open_id missing or invalid"))?;
    let access = value
        .get("access_token")
        .and_then(|v| v.as_str())
        .and_then(|v| AccessToken::parse(v).ok())
        .ok_or_else(|| malformed("access_token missing or empty"))?;
    let refresh = value
        .get("refresh_token")
        .and_then(|v| v.as_str())
        .and_then(|v| RefreshToken::parse(v).ok())
        .ok_or_else(|| malformed("refresh_token missing or empty"))?;
    // Any positive number is taken, up to the longest lifetime TikTok has
    // documented: a larger one is clamped, never trusted (and never
    // overflows a date).
    let lifetime = |key: &str, longest: i64| {
        value
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .filter(|s| *s >= 1.0)
            .map(|s| Duration::seconds(s.min(longest as f64) as i64))
            .ok_or_else(|| malformed(&format!("{key} missing or not positive")))
    };
    let access_expires_at = now + lifetime("expires_in", LONGEST_ACCESS_LIFETIME)?;
    let refresh_expires_at = now + lifetime("refresh_expires_in", LONGEST_REFRESH_LIFETIME)?;
    let scopes = string_field(&value, "scope")
        .and_then(|s| Scopes::parse(&s).ok())
        .ok_or_else(|| malformed("scope missing or invalid"))?;
    Ok(TokenGrant {
        open_id,
        tokens: TokenSet { access, refresh },
        scopes,
        access_expires_at,
        refresh_expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    const GRANT: &str = r#"{"access_token":"act.example12345","expires_in":7200,
        "open_id":"afd97af1-b87b-48b9-ac98-410aghda5344","refresh_expires_in":15552000,
        "refresh_token":"rft.example12345","scope":"user.info.basic,video.upload","token_type":"Bearer"}"#;

    #[test]
    fn token_response_expiries_come_from_the_response() {
        let now = Utc::now();
        let grant = parse_token_response(200, GRANT, now).unwrap();
        assert_eq!(grant.access_expires_at, now + Duration::seconds(7200));
        assert_eq!(
            grant.refresh_expires_at,
            now + Duration::seconds(15_552_000)
        );
        assert_eq!(grant.tokens.refresh.expose(), "rft.example12345");
        assert_eq!(grant.scopes.to_string(), "user.info.basic,video.upload");
    }

    #[test]
    fn flat_oauth_errors_are_typed_whatever_the_status() {
        for status in [200, 400, 401] {
            let body = r#"{"error":"invalid_grant","error_description":"Refresh token is invalid","log_id":"L1"}"#;
            let err = parse_token_response(status, body, Utc::now()).unwrap_err();
            assert!(err.is_invalid_grant(), "{err}");
            assert!(!err.is_transient());
        }
        let err = parse_token_response(
            503,
            r#"{"error":"temporarily_unavailable","error_description":"","log_id":"L"}"#,
            Utc::now(),
        )
        .unwrap_err();
        assert!(err.is_transient());
    }

    #[test]
    fn an_empty_refresh_token_is_refused() {
        let body = GRANT.replace("rft.example12345", "");
        let err = parse_token_response(200, &body, Utc::now()).unwrap_err();
        assert!(matches!(err, TikTokError::Malformed { .. }), "{err}");
        let body = GRANT.replace(r#""refresh_expires_in":15552000,"#, "");
        assert!(parse_token_response(200, &body, Utc::now()).is_err());
    }

    #[test]
    fn malformed_bodies_and_bare_5xx_are_malformed() {
        let err = parse_token_response(502, "<html>bad gateway</html>", Utc::now()).unwrap_err();
        assert!(matches!(err, TikTokError::Malformed { status: 502, .. }));
        assert!(err.is_transient());
        let err = parse_token_response(200, "{}", Utc::now()).unwrap_err();
        assert!(!err.is_transient());
    }

    #[test]
    fn envelopes_map_codes() {
        #[derive(Deserialize, Debug)]
        struct D {
            x: u8,
        }
        let ok: D = parse_envelope(
            200,
            r#"{"data":{"x":1},"error":{"code":"ok","message":"","log_id":"l"}}"#,
        )
        .unwrap();
        assert_eq!(ok.x, 1);
        let err = parse_envelope::<D>(
            401,
            r#"{"data":{},"error":{"code":"access_token_invalid","message":"m","log_id":"l"}}"#,
        )
        .unwrap_err();
        assert_eq!(err.code(), "access_token_invalid");
        assert!(!err.is_transient());
        let err = parse_envelope::<D>(
            429,
            r#"{"data":{},"error":{"code":"rate_limit_exceeded","message":"m","log_id":"l"}}"#,
        )
        .unwrap_err();
        assert!(err.is_transient());
        assert!(parse_envelope::<D>(200, r#"{"data":{"x":1}}"#).is_err());
    }
}
