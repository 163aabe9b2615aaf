use lambda_runtime::{Error, run, service_fn};
use shared::{env::Env, startup};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::support::telemetry::init();
    let app = startup::analytics_snapshot(&Env::from_process())
        .await
        .unwrap_or_else(|e| startup::exit_on_error(e));
    run(service_fn(|event| analytics_snapshot::handle(&app, event))).await
}
