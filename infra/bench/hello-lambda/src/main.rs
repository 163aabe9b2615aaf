//! lambda_runtime's hello world, as its basic example writes it: the
//! runtime's default tracing subscriber, one handler that answers a fixed
//! JSON. `infra/bench/coldstart.sh` measures every function's cold start
//! against this one's, built the same way.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(hello)).await
}

async fn hello(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({"message": "Hello, world!"}))
}
