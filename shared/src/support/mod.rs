//! What every layer may use and nothing in it knows the business: error
//! chains, backoff, the clock, deadlines, back-pressure, metrics and tracing set-up.

pub mod backoff;
pub mod clock;
pub mod deadline;
pub mod errors;
pub mod init_steps;
pub mod metrics;
pub mod pressure;
pub mod telemetry;
