//! An HTTP client in front of moto that answers some requests itself, as AWS would refuse
//! them (STS `AssumeRole` into an account without the role, KMS `GetKeyPolicy` denied), and
//! sends everything else on: fault paths moto cannot produce, through the real SDK.

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;

/// Decides whether to answer a request itself (the request and its body as text).
type Answer = fn(&HttpRequest, &str) -> Option<HttpResponse>;

/// An HTTP client that answers what `answer` says and sends the rest to moto.
#[derive(Debug)]
pub(super) struct Refusing {
    inner: SharedHttpClient,
    answer: Answer,
}

#[derive(Debug)]
struct RefusingConnector {
    inner: SharedHttpConnector,
    answer: Answer,
}

impl Refusing {
    /// The client, over plain HTTP (moto speaks it on loopback).
    pub(super) fn client(answer: Answer) -> SharedHttpClient {
        SharedHttpClient::new(Refusing {
            inner: aws_smithy_http_client::Builder::new().build_http(),
            answer,
        })
    }

    /// A response with `status` and `body`.
    pub(super) fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).expect("status"),
            SdkBody::from(body.to_owned()),
        )
    }
}

impl HttpClient for Refusing {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(RefusingConnector {
            inner: self.inner.http_connector(settings, components),
            answer: self.answer,
        })
    }
}

impl HttpConnector for RefusingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let body = String::from_utf8_lossy(request.body().bytes().unwrap_or_default()).into_owned();
        match (self.answer)(&request, &body) {
            Some(response) => HttpConnectorFuture::ready(Ok(response)),
            None => self.inner.call(request),
        }
    }
}
