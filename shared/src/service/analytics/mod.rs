//! Analytics over time: one snapshot per account per day of its counts and
//! its recent videos' counts, and what the API reads of them.
//!
//! | file | what |
//! |---|---|
//! | `settings` | videos per account, retention, the app-wide cap |
//! | `snapshot` | one account's snapshot of a day, exactly once |
//! | `history` | what the API reads: points, changes, videos, a summary |

mod history;
mod settings;
mod snapshot;

pub use history::{
    AccountStats, History, HistoryError, MAX_VIDEO_PAGE, Summary, VideoListing, VideoStats,
    top_video,
};
pub use settings::AnalyticsSettings;
pub use snapshot::{SnapshotError, SnapshotOutcome, Snapshots};
