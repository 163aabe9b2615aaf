//! Identifiers that parse: TikTok's `open_id` (our account id), our users,
//! our uploads and TikTok's `publish_id`.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidId {
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} is too long")]
    TooLong(&'static str),
    #[error("{0} contains characters that are not allowed")]
    BadCharacters(&'static str),
}

/// A connected TikTok account, identified by TikTok's `open_id`. Read from
/// JSON only through [`AccountId::parse`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl TryFrom<String> for AccountId {
    type Error = InvalidId;

    fn try_from(value: String) -> Result<Self, InvalidId> {
        Self::parse(value)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> Self {
        id.0
    }
}

impl AccountId {
    /// `open_id`s are opaque; we accept 1–128 URL-safe characters, which
    /// covers every documented and observed form (UUIDs, `-000…` ids).
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if value.is_empty() {
            return Err(InvalidId::Empty("account_id"));
        }
        if value.len() > 128 {
            return Err(InvalidId::TooLong("account_id"));
        }
        let ok = value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
        if !ok {
            return Err(InvalidId::BadCharacters("account_id"));
        }
        Ok(Self(value))
    }
}

impl AsRef<str> for AccountId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of our users: the JWT `sub` of the caller.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if value.trim().is_empty() {
            return Err(InvalidId::Empty("user id"));
        }
        if value.len() > 256 {
            return Err(InvalidId::TooLong("user id"));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidId::BadCharacters("user id"));
        }
        Ok(Self(value))
    }
}

impl AsRef<str> for UserId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Our id for one upload: 32 lowercase hex digits (a v4 UUID). It is the
/// whole S3 key's variable part, so keys never carry user text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UploadId(String);

impl TryFrom<String> for UploadId {
    type Error = &'static str;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or("an upload id is 32 hex digits")
    }
}

impl From<UploadId> for String {
    fn from(id: UploadId) -> Self {
        id.0
    }
}

/// Where uploads live in the bucket; the S3 notification filters on it.
pub const OBJECT_PREFIX: &str = "uploads/";

impl UploadId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(value: &str) -> Option<Self> {
        let ok = value.len() == 32
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(value.to_owned()))
    }

    /// The object's key in the upload bucket.
    pub fn object_key(&self) -> String {
        format!("{OBJECT_PREFIX}{}", self.0)
    }

    /// The upload an object key belongs to, if it is one of ours.
    pub fn from_object_key(key: &str) -> Option<Self> {
        key.strip_prefix(OBJECT_PREFIX).and_then(Self::parse)
    }

    /// The key of a media upload's object (a video for posts): kept until
    /// every post that uses it has settled, so apart from `uploads/`.
    pub fn media_key(&self) -> String {
        format!("{MEDIA_PREFIX}{}", self.0)
    }

    /// The media upload an object key belongs to, if it is one of ours.
    pub fn from_media_key(key: &str) -> Option<Self> {
        key.strip_prefix(MEDIA_PREFIX).and_then(Self::parse)
    }
}

/// Where media uploads (videos for posts) live in the bucket.
pub const MEDIA_PREFIX: &str = "media/";

/// Our id for one post: 32 lowercase hex digits (a v4 UUID), which also
/// names its schedule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PostId(String);

impl PostId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    pub fn parse(value: &str) -> Option<Self> {
        UploadId::parse(value).map(|id| Self(id.0))
    }
}

impl AsRef<str> for PostId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for UploadId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// TikTok's `publish_id` (at most 64 characters, e.g. `v_pub_file~v2-1.123`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PublishId(String);

impl PublishId {
    pub fn parse(value: &str) -> Option<Self> {
        let ok = !value.is_empty()
            && value.len() <= 64
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'~'));
        ok.then(|| Self(value.to_owned()))
    }
}

impl AsRef<str> for PublishId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublishId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_parse() {
        assert!(AccountId::parse("afd97af1-b87b-48b9-ac98-410aghda5344").is_ok());
        assert!(AccountId::parse("-000YSS_OTWKQzsQ-Q6fwsK_A1CTqKopVfCO").is_ok());
        assert_eq!(AccountId::parse(""), Err(InvalidId::Empty("account_id")));
        assert_eq!(
            AccountId::parse("a#b"),
            Err(InvalidId::BadCharacters("account_id"))
        );
        assert_eq!(
            AccountId::parse("a".repeat(129)),
            Err(InvalidId::TooLong("account_id"))
        );
    }

    #[test]
    fn user_ids_parse() {
        assert!(UserId::parse("user-1").is_ok());
        assert!(UserId::parse("  ").is_err());
        assert!(UserId::parse("a\u{0}b").is_err());
    }

    #[test]
    fn upload_ids_and_keys() {
        let id = UploadId::generate();
        assert_eq!(
            UploadId::from_object_key(&id.object_key()),
            Some(id.clone())
        );
        assert_eq!(UploadId::from_object_key("uploads/../x"), None);
        assert_eq!(UploadId::from_object_key("other/abc"), None);
        assert!(PublishId::parse("v_pub_file~v2-1.123456789").is_some());
        assert!(PublishId::parse("").is_none());
        assert!(PublishId::parse(&"x".repeat(65)).is_none());
    }
}
