use lambda_http::{Error, run, service_fn};
use shared::{env::Env, startup};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::support::telemetry::init();
    let app = startup::upload_presign(&Env::from_process())
        .await
        .unwrap_or_else(|e| startup::exit_on_error(e));
    run(service_fn(|request| upload_presign::handle(&app, request))).await
}
