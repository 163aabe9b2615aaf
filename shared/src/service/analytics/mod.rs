//! Analytics over time: one snapshot per account per day of its counts and
//! its recent videos' counts, and what the API reads of them.
//!
//! | file | what |
//! |---|---|
//! | `settings` | videos per account, retention, the app-wide cap |
//! | `snapshot` | one account's snapshot of a day, exactly once |
//! | `fanout` | the daily plan, and a worker's slice of a shard |
//! | `history` | what the API reads: points, changes, videos, a summary |

mod fanout;
mod history;
mod settings;
mod snapshot;

pub use fanout::{SliceReport, SnapshotSlice};
pub use history::{
    AccountStats, History, HistoryError, MAX_VIDEO_PAGE, Summary, VideoListing, VideoStats,
    top_video,
};
pub use settings::AnalyticsSettings;
pub use snapshot::{SnapshotError, SnapshotOutcome, Snapshots};
