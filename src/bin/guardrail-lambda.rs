//! The Lambda function: configuration, SDK clients and rules are built once per cold start
//! (an invalid configuration fails the init), then every input — an event, or the
//! schedule's sweep request — is served by `App::handle`.

use kms_guardrail::app::{App, MetricsOut, init_logs, stop_time};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_logs(std::io::stdout, "info");
    let app = App::from_env(MetricsOut::Stdout).await.inspect_err(|e| {
        tracing::error!(error = %e, "start-up failed");
    })?;
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        tracing::debug!(deadline_ms = event.context.deadline, "invoked");
        app.handle(&event.payload, Some(stop_time(event.context.deadline)))
            .await
    }))
    .await
}
