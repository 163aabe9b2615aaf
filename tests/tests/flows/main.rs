//! Whole flows against the local emulator (moto) and the TikTok sandbox.

mod accounts_api;
mod analytics;
mod audit;
mod fuzz;
mod helpers;
mod leaks;
mod oauth_callback;
mod oauth_start;
mod observability;
mod openapi;
mod posts;
mod publishing;
mod refresh;
mod refresh_fanout;
mod sealing;
mod stack;
mod template;
mod tiktok_client;
mod uploads;
mod webhooks;
