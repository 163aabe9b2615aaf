//! The TikTok client secret, read at cold start from AWS Secrets Manager
//! when the environment names the secret (`TIKTOK_CLIENT_SECRET_ARN`)
//! instead of holding it (`TIKTOK_CLIENT_SECRET`, for local runs). The
//! template never sees the value; only the functions' roles may read it.

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;

use crate::env::{ConfigError, Env};

pub const SECRET_VALUE: &str = "TIKTOK_CLIENT_SECRET";
pub const SECRET_ARN: &str = "TIKTOK_CLIENT_SECRET_ARN";

/// `env` with `TIKTOK_CLIENT_SECRET` filled in from Secrets Manager when
/// only `TIKTOK_CLIENT_SECRET_ARN` is set. The secret is the plain secret
/// string. Errors name the variable and the AWS error code, never a value.
pub async fn resolve(env: &Env, sdk: &SdkConfig) -> Result<Env, ConfigError> {
    if env.get(SECRET_VALUE).is_some() {
        return Ok(env.clone());
    }
    let Some(arn) = env.get(SECRET_ARN) else {
        return Ok(env.clone());
    };
    let malformed = |reason: String| ConfigError::Malformed {
        name: SECRET_ARN,
        reason,
    };
    let output = aws_sdk_secretsmanager::Client::new(sdk)
        .get_secret_value()
        .secret_id(arn.trim())
        .send()
        .await
        .map_err(|e| {
            malformed(format!(
                "could not read the secret ({})",
                e.code().unwrap_or("no answer from Secrets Manager")
            ))
        })?;
    let value = output
        .secret_string
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| malformed("the secret has no string value".into()))?;
    let mut resolved = env.clone();
    resolved.set(SECRET_VALUE, value);
    Ok(resolved)
}
