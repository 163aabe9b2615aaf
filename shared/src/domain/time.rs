//! The one time format we emit.

use chrono::{DateTime, SecondsFormat, Utc};

/// RFC 3339 UTC with millisecond precision.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn utc_with_milliseconds() {
        let t = Utc.timestamp_millis_opt(1_800_000_000_123).unwrap();
        assert_eq!(rfc3339(t), "2027-01-15T08:00:00.123Z");
    }
}
