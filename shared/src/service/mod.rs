//! The use cases, one module each: connecting accounts (`oauth`), what a
//! user does with accounts (`accounts`) and uploads (`uploads`), keeping
//! tokens alive (`refresh`), publishing exactly once (`publish`) and
//! TikTok's webhooks (`webhooks`); `limits` counts what our users may do.
//! Each owns its settings (`Settings::from_env`), and keeps its decisions
//! in pure functions beside the I/O that carries them out.

pub mod accounts;
pub mod analytics;
pub mod limits;
pub mod media;
pub mod oauth;
pub mod posts;
pub mod publish;
pub mod refresh;
pub mod uploads;
pub mod webhooks;
