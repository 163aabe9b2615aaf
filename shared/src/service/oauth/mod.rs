//! The OAuth connect flow, in three steps: [`start`] (a single-use state and
//! TikTok's authorize URL), [`callback`] (consume the state, keep the code,
//! hand the browser a ticket) and [`complete`] (the signed-in user who
//! started it exchanges the ticket for a connected account). The decisions
//! are pure functions in `rules`.

pub mod callback;
pub mod complete;
pub mod errors;
pub mod rules;
pub mod start;
