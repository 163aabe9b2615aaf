//! Property tests of every parser of what TikTok sends: any body, any
//! status and any number in an otherwise well-formed answer is read or
//! refused, never a panic (a panic aborts the function), and what is read
//! is within bounds.

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;

use super::{
    oauth::parse_user_info,
    posting::{parse_init, parse_publish_status},
    settings::UploadOrigins,
    transfer::uploaded_from_range,
    wire::{
        LONGEST_ACCESS_LIFETIME, LONGEST_REFRESH_LIFETIME, parse_envelope, parse_token_response,
    },
};

/// Any JSON number, as TikTok might send it: small, huge, negative,
/// fractional, beyond 64 bits.
fn any_number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(serde_json::from_str::<serde_json::Value>("1e308").unwrap_or_default()),
        Just(json!(0)),
    ]
}

/// Arbitrary text, and text that looks like what TikTok sends.
fn any_body() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[{}\\[\\]\":,a-z0-9 _.-]{0,200}",
        Just(String::new()),
        Just("null".to_owned()),
        Just(r#"{"data":null,"error":null}"#.to_owned()),
        Just(r#"{"data":{},"error":{"code":"ok"}}"#.to_owned()),
        Just(r#"{"error":{"code":7}}"#.to_owned()),
    ]
}

fn now() -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0)
        .single()
        .unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_answer_to_any_call_is_read_or_refused(status in any::<u16>(), body in any_body()) {
        let _ = parse_token_response(status, &body, now());
        let _ = parse_envelope::<serde_json::Value>(status, &body);
        let _ = parse_user_info(status, &body);
        let _ = parse_publish_status(status, &body);
        let origins = UploadOrigins::parse("https://open-upload.tiktokapis.com", false);
        if let Ok(origins) = origins {
            let _ = parse_init(status, &body, &origins);
        }
    }

    #[test]
    fn token_lifetimes_of_any_size_are_clamped_or_refused(
        expires_in in any_number(),
        refresh_expires_in in any_number(),
    ) {
        let body = json!({
            "access_token": "act.x", "refresh_token": "rft.x", "open_id": "open-1",
            "scope": "user.info.basic", "token_type": "Bearer",
            "expires_in": expires_in, "refresh_expires_in": refresh_expires_in,
        })
        .to_string();
        if let Ok(grant) = parse_token_response(200, &body, now()) {
            let access = (grant.access_expires_at - now()).num_seconds();
            let refresh = (grant.refresh_expires_at - now()).num_seconds();
            prop_assert!((1..=LONGEST_ACCESS_LIFETIME).contains(&access), "{access}");
            prop_assert!((1..=LONGEST_REFRESH_LIFETIME).contains(&refresh), "{refresh}");
        }
    }

    #[test]
    fn uploaded_bytes_of_any_size_are_read_or_refused(uploaded in any_number()) {
        let body = json!({
            "data": {"status": "PROCESSING_UPLOAD", "uploaded_bytes": uploaded},
            "error": {"code": "ok", "message": "", "log_id": "x"},
        })
        .to_string();
        if let Ok(status) = parse_publish_status(200, &body) {
            prop_assert!(status.uploaded_bytes.is_some());
        }
    }

    #[test]
    fn content_ranges_of_any_numbers_never_overflow(
        first in any::<u64>(),
        last in any::<u64>(),
        total in any::<u64>(),
        text in any::<String>(),
    ) {
        let _ = uploaded_from_range(&text);
        let read = uploaded_from_range(&format!("bytes {first}-{last}/{total}"));
        if let Some(uploaded) = read {
            prop_assert_eq!(first, 0);
            prop_assert_eq!(Some(uploaded), last.checked_add(1));
        }
    }
}

#[test]
fn the_largest_numbers_are_clamped() {
    let body = json!({
        "access_token": "act.x", "refresh_token": "rft.x", "open_id": "open-1",
        "scope": "user.info.basic", "expires_in": u64::MAX, "refresh_expires_in": 1e300,
    })
    .to_string();
    let grant = parse_token_response(200, &body, now()).expect("clamped, not refused");
    assert_eq!(
        (grant.access_expires_at - now()).num_seconds(),
        LONGEST_ACCESS_LIFETIME
    );
    assert_eq!(
        (grant.refresh_expires_at - now()).num_seconds(),
        LONGEST_REFRESH_LIFETIME
    );
    assert_eq!(uploaded_from_range("bytes 0-18446744073709551615/1"), None);
}
