//! The `TikTok-Signature` check: HMAC-SHA256 with the client secret over
//! `"{t}.{body}"`, on the raw body before any parsing, compared in constant
//! time, with `t` within the tolerance of now.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::domain::secrets::ClientSecret;

/// Why a signature is refused. All answer 401; the reason goes to the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no TikTok-Signature header")]
    Missing,
    #[error("the TikTok-Signature header is malformed")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

/// Checks `TikTok-Signature: t=<unix>,s=<hex>` against the raw body.
pub fn verify_signature(
    header: Option<&str>,
    body: &[u8],
    secret: &ClientSecret,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => {
                let seconds = t.parse::<i64>().map_err(|_| SignatureError::Malformed)?;
                timestamp = Some((t, seconds));
            }
            Some(("s", s)) => {
                signatures.push(hex::decode(s).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let (signed_t, timestamp) = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .map_err(|_| SignatureError::Mismatch)?;
    // The signed payload is the header's own `t` text, a dot, the body.
    mac.update(signed_t.as_bytes());
    mac.update(b".");
    mac.update(body);
    // `verify_slice` compares in constant time.
    let matched = signatures
        .iter()
        .any(|s| mac.clone().verify_slice(s).is_ok());
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    // Any timestamp at all, even i64::MIN, is only ever too far away.
    let skew = now
        .timestamp()
        .checked_sub(timestamp)
        .map(i64::unsigned_abs);
    if skew.is_none_or(|skew| skew > tolerance.as_secs()) {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sign(secret: &str, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(body);
        format!("t={t},s={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked_against_the_raw_body_and_time() {
        let secret = ClientSecret::parse("shh-secret").unwrap();
        let now = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let body = br#"{"event":"x"}"#;
        let tol = Duration::from_secs(300);
        let good = sign("shh-secret", now.timestamp() - 10, body);
        assert_eq!(
            verify_signature(Some(&good), body, &secret, now, tol),
            Ok(())
        );
        assert_eq!(
            verify_signature(Some(&good), br#"{"event":"y"}"#, &secret, now, tol),
            Err(SignatureError::Mismatch)
        );
        let other_secret = sign("other", now.timestamp(), body);
        assert_eq!(
            verify_signature(Some(&other_secret), body, &secret, now, tol),
            Err(SignatureError::Mismatch)
        );
        let stale = sign("shh-secret", now.timestamp() - 301, body);
        assert_eq!(
            verify_signature(Some(&stale), body, &secret, now, tol),
            Err(SignatureError::Stale)
        );
        let future = sign("shh-secret", now.timestamp() + 301, body);
        assert_eq!(
            verify_signature(Some(&future), body, &secret, now, tol),
            Err(SignatureError::Stale)
        );
        for malformed in ["", "t=abc,s=00", "s=00", "t=1", "t=1,s=zz"] {
            assert_eq!(
                verify_signature(Some(malformed), body, &secret, now, tol),
                Err(SignatureError::Malformed),
                "{malformed}"
            );
        }
        assert_eq!(
            verify_signature(None, body, &secret, now, tol),
            Err(SignatureError::Missing)
        );
    }
}
