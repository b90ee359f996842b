//! The AWS adapters: the guardrail's ports over the real AWS SDK for Rust — KMS
//! ([`kms::KmsKeyPolicies`]), SNS ([`sns::SnsAlerts`]), DynamoDB
//! ([`dynamodb::DynamoBaselines`], also the organization sweep's ledger), SQS (the
//! organization sweep's queue, [`sqs`]), Security Hub ([`securityhub::SecurityHubFindings`])
//! — the rules document from SSM Parameter Store
//! ([`ssm`]), and member accounts reached through an assumed role ([`member`]). Every SDK
//! failure is classified once, in [`classify`].

pub mod clients;
pub mod dynamodb;
pub mod kms;
pub mod member;
pub mod securityhub;
pub mod sns;
pub mod sqs;
pub mod ssm;

use crate::guardrail::ports::{ErrorClass, PortError, THROTTLING};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// Error codes AWS documents as worth retrying besides the throttling ones.
const TRANSIENT: [&str; 8] = [
    "ProvisionedThroughputExceededException",
    "DependencyTimeoutException",
    "KMSInternalException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ServiceUnavailable",
    "KMSInvalidMacException",
];

/// Maps an SDK failure to what the guardrail does about it.
pub fn classify<E: ProvideErrorMetadata + std::fmt::Debug>(
    err: &SdkError<E, HttpResponse>,
) -> PortError {
    match err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown").to_owned();
            let message = e.message().unwrap_or_default().to_owned();
            let status = ctx.raw().status().as_u16();
            let class = if THROTTLING.contains(&code.as_str())
                || TRANSIENT.contains(&code.as_str())
                || status >= 500
            {
                ErrorClass::Transient
            } else {
                match code.as_str() {
                    "NotFoundException"
                    | "ResourceNotFoundException"
                    | "ParameterNotFound"
                    | "NotFound" => ErrorClass::NotFound,
                    "KMSInvalidStateException" | "DisabledException" => ErrorClass::InvalidState,
                    "AccessDeniedException"
                    | "AccessDenied"
                    | "AuthorizationError"
                    | "AuthorizationErrorException"
                    | "UnrecognizedClientException" => ErrorClass::AccessDenied,
                    _ => ErrorClass::Rejected,
                }
            };
            PortError::new(class, code, message)
        }
        // No usable answer from the service: timeouts, connection failures, garbled
        // responses. Retrying may succeed.
        SdkError::TimeoutError(_) => {
            PortError::new(ErrorClass::Transient, "Timeout", "the call timed out")
        }
        SdkError::DispatchFailure(f) => {
            // Credentials are resolved before the request is sent: a member role that could
            // not be assumed fails the call here.
            let mut cause = f
                .as_connector_error()
                .map(|c| c as &(dyn std::error::Error + 'static));
            while let Some(e) = cause {
                if let Some(credentials) = e.downcast_ref::<CredentialsError>() {
                    return classify_credentials(credentials);
                }
                cause = e.source();
            }
            PortError::new(ErrorClass::Transient, "DispatchFailure", format!("{f:?}"))
        }
        SdkError::ResponseError(r) => {
            PortError::new(ErrorClass::Transient, "ResponseError", format!("{r:?}"))
        }
        other => PortError::new(
            ErrorClass::Rejected,
            "ConstructionFailure",
            format!("{other:?}"),
        ),
    }
}

/// Maps a failure to obtain credentials: STS's own answer when there is one (throttling and
/// faults stay transient; a refusal means the member account is not covered), else by kind.
fn classify_credentials(err: &CredentialsError) -> PortError {
    let mut cause = std::error::Error::source(err);
    while let Some(e) = cause {
        if let Some(sts) = e.downcast_ref::<SdkError<AssumeRoleError, HttpResponse>>() {
            let answer = classify(sts);
            if answer.class.is_transient() {
                return answer;
            }
            return PortError::new(
                ErrorClass::NotCovered,
                answer.code,
                format!("the member role could not be assumed: {}", answer.message),
            );
        }
        cause = e.source();
    }
    match err {
        CredentialsError::CredentialsNotLoaded(_) | CredentialsError::InvalidConfiguration(_) => {
            PortError::new(
                ErrorClass::NotCovered,
                "CredentialsNotLoaded",
                format!("no credentials for the account: {err}"),
            )
        }
        _ => PortError::new(
            ErrorClass::Transient,
            "CredentialsUnavailable",
            err.to_string(),
        ),
    }
}
