//! The Lambda function: configuration, SDK clients and rules are built once per cold start
//! (an invalid configuration fails the init), then every event is served by `App::invoke`.

use kms_guardrail::app::{App, MetricsOut, init_logs};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logs(std::io::stdout);
    let app = App::from_env(MetricsOut::Stdout).await.inspect_err(|e| {
        tracing::error!(error = %e, "start-up failed");
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        app.invoke(&event.payload).await
    }))
    .await
}
