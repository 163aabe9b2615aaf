//! The HTTP edge: the caller's identity, the routes a function serves,
//! error bodies (every service error mapped to a status and a stable code
//! in one place), JSON and redirect responses, and the correlation id that
//! ties a request's log lines together.

pub mod auth;
pub mod correlation;
pub mod errors;
pub mod responses;
pub mod routes;
