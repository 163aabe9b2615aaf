use lambda_http::{Error, run, service_fn};
use shared::{env::Env, startup, support::init_steps};

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_steps::begin();
    shared::support::telemetry::init();
    init_steps::mark("tracing");
    let app = startup::oauth_start(&Env::from_process())
        .await
        .unwrap_or_else(|e| startup::exit_on_error(e));
    init_steps::finish();
    run(service_fn(|request| oauth_start::handle(&app, request))).await
}
