//! The KMS adapter: seals and opens an account's tokens under an encryption
//! context that names the account, so a ciphertext opens only for it.

use aws_sdk_kms::{
    error::ProvideErrorMetadata, operation::decrypt::DecryptError, primitives::Blob,
};
use secrecy::zeroize::Zeroizing;

use crate::{
    domain::{
        ids::AccountId,
        ports::{SealError, TokenSealer},
        secrets::{SealedTokens, TokenSet, decode_plaintext, encode_plaintext},
    },
    env::{ConfigError, Env},
};

/// The KMS key tokens are sealed with (`TOKEN_KEY_ID`: an id, ARN or alias).
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

/// The KMS encryption context binding a ciphertext to its account.
pub fn encryption_context(account: &AccountId) -> [(&'static str, String); 2] {
    [
        ("purpose", "tiktok-oauth-tokens".to_owned()),
        ("account_id", account.as_ref().to_owned()),
    ]
}

/// Seals and opens token sets with a KMS key.
#[derive(Clone)]
pub struct KmsSealer {
    client: aws_sdk_kms::Client,
    key_id: KeyId,
}

impl KmsSealer {
    pub fn new(client: aws_sdk_kms::Client, key_id: KeyId) -> Self {
        Self { client, key_id }
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
        let mut request = self
            .client
            .encrypt()
            .key_id(self.key_id.as_ref())
            .plaintext(Blob::new(plaintext.as_bytes()));
        for (k, v) in encryption_context(account) {
            request = request.encryption_context(k, v);
        }
        let output = request
            .send()
            .await
            .map_err(|e| SealError::Unavailable(anyhow::Error::new(e).context("KMS Encrypt")))?;
        let blob = output.ciphertext_blob.ok_or_else(|| {
            SealError::Unavailable(anyhow::anyhow!("KMS Encrypt returned no ciphertext"))
        })?;
        Ok(SealedTokens::from_bytes(blob.into_inner()))
    }

    #[tracing::instrument(name = "tokens.open", skip_all, fields(account_id = %account))]
    async fn open(
        &self,
        account: &AccountId,
        sealed: &SealedTokens,
    ) -> Result<TokenSet, SealError> {
        let mut request = self
            .client
            .decrypt()
            .key_id(self.key_id.as_ref())
            .ciphertext_blob(Blob::new(sealed.as_bytes()));
        for (k, v) in encryption_context(account) {
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
        let plaintext = Zeroizing::new(output.plaintext.ok_or(SealError::Rejected)?.into_inner());
        decode_plaintext(&plaintext).ok_or(SealError::Rejected)
    }
}
