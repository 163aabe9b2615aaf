//! Tracing set-up: the Lambda runtime's default subscriber, which honours
//! `AWS_LAMBDA_LOG_FORMAT` (JSON) and `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG`.

pub fn init() {
    lambda_http::tracing::init_default_subscriber();
}
