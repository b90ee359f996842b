//! The Lambda function: configuration, SDK clients and rules are built once per cold start
//! (an invalid configuration fails the init), then every input — an event, the schedule's
//! sweep request, or the organization sweep queue's messages — is served by `App::handle`.

use kms_guardrail::app::{App, MetricsOut, init_logs, stop_time};
use kms_guardrail::sweep::Limits;
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
        let limits = Limits {
            deadline: Some(stop_time(event.context.deadline)),
            max_keys: None,
        };
        app.handle(&event.payload, limits).await
    }))
    .await
}
