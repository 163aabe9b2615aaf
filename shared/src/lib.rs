//! Everything the functions share: the domain, its ports, and the adapters
//! that speak to DynamoDB, KMS and TikTok.

pub mod account;
pub mod accounts;
pub mod auth;
pub mod aws;
pub mod config;
pub mod error;
pub mod http;
pub mod oauth;
pub mod ratelimit;
pub mod refresh;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tiktok;
pub mod tokens;
