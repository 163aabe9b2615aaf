//! The OAuth connect flow: [`start`] (a single-use state and TikTok's
//! authorize URL) and [`callback`] (consume the state, exchange the code,
//! fetch the profile, seal the tokens, upsert the account), with their pure
//! decisions in `rules`.

pub mod callback;
pub mod rules;
pub mod start;
