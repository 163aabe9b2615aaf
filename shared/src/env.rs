//! The environment, read once at cold start, and the one error that
//! reading it can give.
//!
//! A missing or malformed variable is reported as one line naming it; a
//! value is never echoed. Each module reads its own variables through the
//! typed getters here (see `config` for what each function reads).

use std::{collections::HashMap, time::Duration};

use url::Url;

/// A snapshot of environment variables. Tests build one from pairs instead of
/// touching the process environment.
#[derive(Clone, Debug, Default)]
pub struct Env(HashMap<String, String>);

/// Why configuration could not be loaded. Display is the one line printed at
/// init; it names the variable and never includes its value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("configuration error: {name} is required but not set")]
    Missing { name: &'static str },
    #[error("configuration error: {name} is malformed: {reason}")]
    Malformed { name: &'static str, reason: String },
}

impl ConfigError {
    pub fn malformed(name: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            name,
            reason: reason.into(),
        }
    }
}

impl Env {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.insert(key.into(), value.into());
    }

    pub fn remove(&mut self, key: &str) {
        self.0.remove(key);
    }

    /// A set, non-blank value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// A set, non-blank value, or `Missing`.
    pub fn required(&self, name: &'static str) -> Result<&str, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing { name })
    }

    /// An absolute http(s) URL without a fragment, or `default` when unset
    /// (`None`: required).
    pub fn url(&self, name: &'static str, default: Option<&str>) -> Result<Url, ConfigError> {
        let raw = match (self.get(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => d,
            (None, None) => return Err(ConfigError::Missing { name }),
        };
        parse_http_url(raw).map_err(|reason| ConfigError::malformed(name, reason))
    }

    /// Whole seconds within `range` (inclusive), or `default` when unset.
    pub fn seconds(
        &self,
        name: &'static str,
        default: u64,
        range: (u64, u64),
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_secs)
    }

    /// Whole milliseconds within `range` (inclusive), or `default` when unset.
    pub fn millis(
        &self,
        name: &'static str,
        default: u64,
        range: (u64, u64),
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_millis)
    }

    /// `true` or `false`, or `default` when unset.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(str::trim) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(_) => Err(ConfigError::malformed(name, "expected true or false")),
        }
    }

    /// A whole number within `range` (inclusive), or `default` when unset.
    pub fn number(
        &self,
        name: &'static str,
        default: u64,
        range: (u64, u64),
    ) -> Result<u64, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let value: u64 = raw
            .trim()
            .parse()
            .map_err(|_| ConfigError::malformed(name, "expected a whole number"))?;
        if value < range.0 || value > range.1 {
            return Err(ConfigError::malformed(
                name,
                format!("expected {} to {}", range.0, range.1),
            ));
        }
        Ok(value)
    }
}

fn parse_http_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("expected an http or https URL".into());
    }
    if url.fragment().is_some() {
        return Err("must not contain a fragment".into());
    }
    if url.host_str().is_none() {
        return Err("has no host".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_counts_as_missing() {
        let env = Env::from_pairs([("A", "  ")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.required("A"), Err(ConfigError::Missing { name: "A" }));
    }

    #[test]
    fn numbers_have_defaults_and_bounds_and_never_echo_the_value() {
        let env = Env::from_pairs([("N", "7"), ("BAD", "secret-value"), ("BIG", "99")]);
        assert_eq!(env.number("N", 1, (1, 10)), Ok(7));
        assert_eq!(env.number("UNSET", 3, (1, 10)), Ok(3));
        assert_eq!(env.millis("N", 1, (1, 10)), Ok(Duration::from_millis(7)));
        let err = env.number("BAD", 1, (1, 10)).unwrap_err();
        assert!(!err.to_string().contains("secret-value"), "{err}");
        let err = env.seconds("BIG", 1, (1, 10)).unwrap_err();
        assert_eq!(err, ConfigError::malformed("BIG", "expected 1 to 10"));
    }

    #[test]
    fn urls_are_absolute_http_without_fragments() {
        let env = Env::from_pairs([
            ("OK", "https://x.example/path"),
            ("FTP", "ftp://x.example/"),
            ("FRAG", "https://x.example/#f"),
            ("REL", "/relative"),
        ]);
        assert!(env.url("OK", None).is_ok());
        assert_eq!(
            env.url("UNSET", Some("https://d.example/"))
                .unwrap()
                .as_str(),
            "https://d.example/"
        );
        for name in ["FTP", "FRAG", "REL"] {
            assert!(matches!(
                env.url(name, None),
                Err(ConfigError::Malformed { .. })
            ));
        }
        assert_eq!(
            env.url("UNSET", None),
            Err(ConfigError::Missing { name: "UNSET" })
        );
    }
}
