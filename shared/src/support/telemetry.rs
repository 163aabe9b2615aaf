//! Tracing set-up: the Lambda runtime's default subscriber, which honours
//! `AWS_LAMBDA_LOG_FORMAT` (JSON) and `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`.

use std::{io::Write, sync::Mutex};

pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}

/// The same subscriber as [`init`], writing to `writer` instead of stdout
/// (benchmarks, which count what formatting the logs costs).
pub fn init_with_writer<W: Write + Send + 'static>(writer: W) {
    lambda_http::tracing::init_default_subscriber_with_writer(Mutex::new(writer));
}
