//! The TikTok adapter: one HTTP client, TikTok's wire formats mapped to
//! [`TikTokError`](crate::domain::tiktok::TikTokError), Login Kit (OAuth,
//! user info, revoke), the Content Posting API and the media transfer.

pub mod client;
pub mod display;
#[cfg(test)]
mod fuzz;
pub mod oauth;
pub mod posting;
pub mod settings;
pub mod transfer;
pub mod wire;
