use lambda_runtime::{Error, run, service_fn};
use shared::{env::Env, startup, support::init_steps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_steps::begin();
    shared::support::telemetry::init();
    init_steps::mark("tracing");
    let app = startup::refresh_worker(&Env::from_process())
        .await
        .unwrap_or_else(|e| startup::exit_on_error(e));
    init_steps::finish();
    run(service_fn(|event| refresh_worker::handle(&app, event))).await
}
