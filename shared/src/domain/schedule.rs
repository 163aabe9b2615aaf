//! When the sweep refreshes an account, and which due-index partition it
//! lives in: computed when tokens are written.

use chrono::{DateTime, Duration, Utc};

use super::ids::AccountId;

/// How many partitions the sparse `due` index spreads accounts over, so that
/// no one partition runs hot. Part of the stored data: changing it needs a
/// backfill of `due_shard`.
pub const DUE_SHARDS: u32 = 16;

/// The sweep runs every 30 minutes; an account becomes due early enough that
/// at least two sweeps see it before its access token expires, plus a margin
/// for a sweep that runs long.
pub const SWEEP_INTERVAL: Duration = Duration::minutes(30);
pub const SWEEPS_BEFORE_EXPIRY: i32 = 2;
pub const DUE_MARGIN: Duration = Duration::minutes(15);

/// When the sweep should refresh an account whose access token expires at
/// `access_expires_at`: never before `issued_at`.
pub fn due_at(issued_at: DateTime<Utc>, access_expires_at: DateTime<Utc>) -> DateTime<Utc> {
    let lead = SWEEP_INTERVAL * SWEEPS_BEFORE_EXPIRY + DUE_MARGIN;
    (access_expires_at - lead).max(issued_at)
}

/// The due-index partition an account lives in: a stable FNV-1a hash.
pub fn due_shard(account: &AccountId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in account.as_ref().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % DUE_SHARDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_time_leaves_two_sweeps_for_both_documented_lifetimes() {
        let issued = Utc::now();
        for lifetime in [Duration::hours(2), Duration::hours(24)] {
            let expires = issued + lifetime;
            let due = due_at(issued, expires);
            // The worst case: a sweep ran just before `due`; the next two
            // sweeps run at most one and two intervals after it.
            let second_sweep = due + SWEEP_INTERVAL * 2;
            assert!(second_sweep < expires, "lifetime {lifetime}");
            assert!(due >= issued);
        }
        // A lifetime shorter than the lead makes the account due at once.
        assert_eq!(due_at(issued, issued + Duration::minutes(10)), issued);
    }

    #[test]
    fn due_shards_are_stable_and_spread() {
        let id = AccountId::parse("open-42").unwrap();
        assert_eq!(due_shard(&id), due_shard(&id));
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000 {
            let shard = due_shard(&AccountId::parse(format!("open-{i}")).unwrap());
            assert!(shard < DUE_SHARDS);
            seen.insert(shard);
        }
        assert_eq!(seen.len(), DUE_SHARDS as usize);
    }
}
