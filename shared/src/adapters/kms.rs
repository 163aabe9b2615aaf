//! The KMS adapter: seals and opens secrets under an encryption context
//! that names what they belong to. An account's tokens open only for that
//! account; an authorization code only for its connect.

use aws_sdk_kms::{
    error::ProvideErrorMetadata, operation::decrypt::DecryptError, primitives::Blob,
};
use secrecy::zeroize::Zeroizing;

use crate::{
    domain::{
        ids::{AccountId, UploadId},
        ports::{SealError, TokenSealer},
        secrets::{
            AuthCode, ConnectTicket, SealedSecret, SealedTokens, TokenSet, UploadUrl,
            decode_plaintext, encode_plaintext,
        },
    },
    env::{ConfigError, Env},
};

/// The KMS key secrets are sealed with (`TOKEN_KEY_ID`: an id, ARN or alias).
#[derive(Clone, Debug)]
pub struct KeyId(String);

impl KeyId {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Self(env.required("TOKEN_KEY_ID")?.trim().to_owned()))
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

type Context = [(&'static str, String); 2];

/// The KMS encryption context binding a ciphertext to its account.
pub fn encryption_context(account: &AccountId) -> Context {
    [
        ("purpose", "tiktok-oauth-tokens".to_owned()),
        ("account_id", account.as_ref().to_owned()),
    ]
}

/// The context binding a sealed authorization code to its connect (the
/// ticket's digest).
pub fn code_context(ticket: &ConnectTicket) -> Context {
    [
        ("purpose", "tiktok-oauth-code".to_owned()),
        ("connect", ticket.digest()),
    ]
}

/// The context binding a sealed `upload_url` to its upload.
pub fn upload_url_context(upload: &UploadId) -> Context {
    [
        ("purpose", "tiktok-upload-url".to_owned()),
        ("upload_id", upload.as_ref().to_owned()),
    ]
}

/// Seals and opens secrets with a KMS key.
#[derive(Clone)]
pub struct KmsSealer {
    client: crate::adapters::aws::LazyClient<aws_sdk_kms::Client>,
    key_id: KeyId,
}

impl KmsSealer {
    pub fn new(
        client: impl Into<crate::adapters::aws::LazyClient<aws_sdk_kms::Client>>,
        key_id: KeyId,
    ) -> Self {
        Self {
            client: client.into(),
            key_id,
        }
    }

    /// Seals a connect's authorization code until the connect finishes.
    #[tracing::instrument(name = "codes.seal", skip_all)]
    pub async fn seal_code(
        &self,
        ticket: &ConnectTicket,
        code: &AuthCode,
    ) -> Result<SealedSecret, SealError> {
        let sealed = self
            .encrypt(code_context(ticket), code.expose().as_bytes())
            .await?;
        Ok(SealedSecret::from_bytes(sealed))
    }

    #[tracing::instrument(name = "codes.open", skip_all)]
    pub async fn open_code(
        &self,
        ticket: &ConnectTicket,
        sealed: &SealedSecret,
    ) -> Result<AuthCode, SealError> {
        let plaintext = self
            .decrypt(code_context(ticket), sealed.as_bytes())
            .await?;
        std::str::from_utf8(&plaintext)
            .ok()
            .and_then(|code| AuthCode::parse(code).ok())
            .ok_or(SealError::Rejected)
    }

    /// Seals a publish's `upload_url`, so a transfer cut short resumes.
    #[tracing::instrument(name = "upload_urls.seal", skip_all, fields(upload_id = %upload))]
    pub async fn seal_upload_url(
        &self,
        upload: &UploadId,
        url: &UploadUrl,
    ) -> Result<SealedSecret, SealError> {
        let sealed = self
            .encrypt(upload_url_context(upload), url.expose().as_bytes())
            .await?;
        Ok(SealedSecret::from_bytes(sealed))
    }

    #[tracing::instrument(name = "upload_urls.open", skip_all, fields(upload_id = %upload))]
    pub async fn open_upload_url(
        &self,
        upload: &UploadId,
        sealed: &SealedSecret,
    ) -> Result<UploadUrl, SealError> {
        let plaintext = self
            .decrypt(upload_url_context(upload), sealed.as_bytes())
            .await?;
        std::str::from_utf8(&plaintext)
            .ok()
            .and_then(|url| UploadUrl::parse(url).ok())
            .ok_or(SealError::Rejected)
    }

    async fn encrypt(&self, context: Context, plaintext: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut request = self
            .client
            .encrypt()
            .key_id(self.key_id.as_ref())
            .plaintext(Blob::new(plaintext));
        for (k, v) in context {
            request = request.encryption_context(k, v);
        }
        let output = request
            .send()
            .await
            .map_err(|e| SealError::Unavailable(anyhow::Error::new(e).context("KMS Encrypt")))?;
        let blob = output.ciphertext_blob.ok_or_else(|| {
            SealError::Unavailable(anyhow::anyhow!("KMS Encrypt returned no ciphertext"))
        })?;
        Ok(blob.into_inner())
    }

    async fn decrypt(
        &self,
        context: Context,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let mut request = self
            .client
            .decrypt()
            .key_id(self.key_id.as_ref())
            .ciphertext_blob(Blob::new(ciphertext));
        for (k, v) in context {
            request = request.encryption_context(k, v);
        }
        let output = match request.send().await {
            Ok(output) => output,
            Err(e) => {
                // A ciphertext that is corrupt, names another key, or carries
                // a context the key policy refuses (KMS then answers
                // AccessDenied) does not open: a refusal, not an outage.
                return match e.as_service_error() {
                    Some(DecryptError::InvalidCiphertextException(_))
                    | Some(DecryptError::IncorrectKeyException(_)) => Err(SealError::Rejected),
                    Some(other) if other.code() == Some("AccessDeniedException") => {
                        Err(SealError::Rejected)
                    }
                    _ => Err(SealError::Unavailable(
                        anyhow::Error::new(e).context("KMS Decrypt"),
                    )),
                };
            }
        };
        Ok(Zeroizing::new(
            output.plaintext.ok_or(SealError::Rejected)?.into_inner(),
        ))
    }
}

impl TokenSealer for KmsSealer {
    #[tracing::instrument(name = "tokens.seal", skip_all, fields(account_id = %account))]
    async fn seal(
        &self,
        account: &AccountId,
        tokens: &TokenSet,
    ) -> Result<SealedTokens, SealError> {
        let plaintext = encode_plaintext(tokens);
        let sealed = self
            .encrypt(encryption_context(account), plaintext.as_bytes())
            .await?;
        Ok(SealedTokens::from_bytes(sealed))
    }

    #[tracing::instrument(name = "tokens.open", skip_all, fields(account_id = %account))]
    async fn open(
        &self,
        account: &AccountId,
        sealed: &SealedTokens,
    ) -> Result<TokenSet, SealError> {
        let plaintext = self
            .decrypt(encryption_context(account), sealed.as_bytes())
            .await?;
        decode_plaintext(&plaintext).ok_or(SealError::Rejected)
    }
}
