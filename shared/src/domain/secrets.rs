//! Secret values: tokens, authorization codes, the client secret, the OAuth
//! state and the URLs that work as credentials; and the plaintext an
//! account's tokens are sealed as (the sealing itself is `adapters::kms`).
//!
//! Every secret type redacts itself in `Debug` and `Display`; the raw value
//! is reachable only through `expose()`, at the call that sends it.

use std::fmt;

use secrecy::{ExposeSecret, SecretString, zeroize::Zeroizing};

/// A secret was empty or contained characters no credential contains.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{kind} is empty or malformed")]
pub struct InvalidSecret {
    pub kind: &'static str,
}

macro_rules! secret_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Accepts a non-empty value of printable ASCII without spaces.
            pub fn parse(value: impl Into<String>) -> Result<Self, InvalidSecret> {
                let value: String = value.into();
                let printable = value.bytes().all(|b| b.is_ascii_graphic());
                if value.is_empty() || !printable {
                    return Err(InvalidSecret { kind: stringify!($name) });
                }
                Ok(Self(SecretString::from(value)))
            }

            /// The raw value: call only where it is sent or sealed.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[REDACTED]")
            }
        }
    };
}

secret_string!(
    /// A TikTok user access token (`act.…`).
    AccessToken
);
secret_string!(
    /// A TikTok refresh token (`rft.…`). Never empty, so it can never
    /// overwrite a stored one with nothing.
    RefreshToken
);
secret_string!(
    /// A single-use OAuth authorization code from the callback.
    AuthCode
);
secret_string!(
    /// The TikTok app's client secret.
    ClientSecret
);
secret_string!(
    /// The OAuth `state`: an unguessable, single-use value binding a callback
    /// to the user who started the flow.
    OAuthState
);

secret_string!(
    /// The one-time ticket a callback hands the browser: it finishes the
    /// connect for the signed-in user who started it, and nobody else.
    ConnectTicket
);

secret_string!(
    /// TikTok's `upload_url`: its `upload_token` is the credential for the
    /// media transfer, so it is handled like a token.
    UploadUrl
);
secret_string!(
    /// A presigned S3 PUT URL: whoever holds it may write the object until
    /// it expires. It goes to the caller and nowhere else.
    PresignedUrl
);

/// 32 bytes from the OS-seeded CSPRNG, base64url: unguessable.
fn random_value() -> SecretString {
    use base64::Engine as _;
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::fill(&mut bytes[..]);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..]))
}

/// The SHA-256 of a secret, hex: what we store and key by instead of the
/// secret, so that reading the table (or a TRACE log of its requests)
/// gives nothing to replay.
fn digest(secret: &SecretString) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(secret.expose_secret().as_bytes()))
}

impl OAuthState {
    /// A fresh state.
    pub fn generate() -> Self {
        Self(random_value())
    }

    pub fn digest(&self) -> String {
        digest(&self.0)
    }
}

impl ConnectTicket {
    /// A fresh ticket.
    pub fn generate() -> Self {
        Self(random_value())
    }

    pub fn digest(&self) -> String {
        digest(&self.0)
    }
}

/// The pair of tokens TikTok issues for one account.
#[derive(Clone, Debug)]
pub struct TokenSet {
    pub access: AccessToken,
    pub refresh: RefreshToken,
}

/// An account's tokens encrypted by KMS under an encryption context that
/// names the account, so the ciphertext opens only for that account.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedTokens(Vec<u8>);

impl SealedTokens {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedTokens({} bytes)", self.0.len())
    }
}

/// A secret encrypted by KMS under an encryption context that names what
/// it belongs to: an authorization code waiting for its connect, an
/// `upload_url` kept for a transfer that resumes.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedSecret({} bytes)", self.0.len())
    }
}

const PLAINTEXT_VERSION: &str = "v1";

/// The plaintext handed to KMS: `v1\n{access}\n{refresh}`, zeroized on drop.
/// Token characters are printable ASCII without spaces, so `\n` separates
/// them unambiguously.
pub fn encode_plaintext(tokens: &TokenSet) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(
        4 + tokens.access.expose().len() + tokens.refresh.expose().len(),
    ));
    out.push_str(PLAINTEXT_VERSION);
    out.push('\n');
    out.push_str(tokens.access.expose());
    out.push('\n');
    out.push_str(tokens.refresh.expose());
    out
}

pub fn decode_plaintext(plaintext: &[u8]) -> Option<TokenSet> {
    let text = std::str::from_utf8(plaintext).ok()?;
    let mut parts = text.split('\n');
    if parts.next()? != PLAINTEXT_VERSION {
        return None;
    }
    let access = AccessToken::parse(parts.next()?).ok()?;
    let refresh = RefreshToken::parse(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(TokenSet { access, refresh })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> TokenSet {
        TokenSet {
            access: AccessToken::parse("act.secret-access").unwrap(),
            refresh: RefreshToken::parse("rft.secret-refresh").unwrap(),
        }
    }

    #[test]
    fn secrets_redact_in_debug_and_display() {
        let t = tokens();
        let code = AuthCode::parse("code-123").unwrap();
        let secret = ClientSecret::parse("s3cr3t").unwrap();
        let state = OAuthState::generate();
        let rendered = format!(
            "{t:?} {} {} {code:?} {code} {secret:?} {secret} {state:?} {state}",
            t.access, t.refresh
        );
        for raw in [
            "act.secret-access",
            "rft.secret-refresh",
            "code-123",
            "s3cr3t",
            state.expose(),
        ] {
            assert!(!rendered.contains(raw), "{raw} leaked in {rendered}");
        }
        assert!(rendered.contains("AccessToken([REDACTED])"));
    }

    #[test]
    fn empty_or_spaced_secrets_are_refused() {
        assert_eq!(
            RefreshToken::parse("").unwrap_err(),
            InvalidSecret {
                kind: "RefreshToken"
            }
        );
        assert!(AccessToken::parse("a b").is_err());
        assert!(AccessToken::parse("a\nb").is_err());
    }

    #[test]
    fn states_are_unique_and_long() {
        let a = OAuthState::generate();
        let b = OAuthState::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        let ticket = ConnectTicket::generate();
        assert_eq!(ticket.expose().len(), 43);
        assert_ne!(ticket.expose(), ConnectTicket::generate().expose());
        // Stored and keyed by digest: 64 hex digits, not the value.
        assert_eq!(ticket.digest().len(), 64);
        assert_ne!(ticket.digest(), ticket.expose());
        assert_eq!(
            OAuthState::parse("abc").unwrap().digest(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(format!("{ticket:?}"), "ConnectTicket([REDACTED])");
    }

    #[test]
    fn plaintext_round_trips_and_rejects_garbage() {
        let encoded = encode_plaintext(&tokens());
        let decoded = decode_plaintext(encoded.as_bytes()).unwrap();
        assert_eq!(decoded.access.expose(), "act.secret-access");
        assert_eq!(decoded.refresh.expose(), "rft.secret-refresh");
        assert!(decode_plaintext(b"v2\na\nb").is_none());
        assert!(decode_plaintext(b"v1\na").is_none());
        assert!(decode_plaintext(b"v1\na\n\n").is_none());
        assert!(decode_plaintext(b"v1\na\nb\nc").is_none());
    }
}
