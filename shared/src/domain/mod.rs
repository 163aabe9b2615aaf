//! The domain: values that parse, the rules over them, and the ports the
//! services reach the outside through. Pure: it imports nothing above it
//! (no adapter, no service, no SDK).

pub mod account;
pub mod analytics;
pub mod creator;
pub mod ids;
pub mod ports;
pub mod post;
pub mod ratelimit;
pub mod schedule;
pub mod secrets;
pub mod tiktok;
pub mod time;
pub mod upload;
