//! The HTTP client the OTLP exporter sends through: hyper-util's pooled client (the one `http.request`
//! uses), HTTP or HTTPS with the public roots, so that the export brings no second HTTP stack (reqwest).

use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use std::time::Duration;

/// The largest collector answer read (the exporters of opentelemetry-http stop at the same 4 MiB).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// How long a connection to the collector may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sends each export, whole answer read, within `timeout`.
pub(super) struct ExportClient {
    client: hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for ExportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportClient").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

impl ExportClient {
    /// A client with a small pool (one export runs at a time).
    pub(super) fn new(timeout: Duration) -> Result<ExportClient, String> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT.min(timeout)));
        connector.set_nodelay(true);
        connector.enforce_http(false);
        let tls = crate::tls::client_config(None, "OTLP export")?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(connector);
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(2)
            .build(connector);
        Ok(ExportClient { client, timeout })
    }
}

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let exchange = async {
            let response = self.client.request(request.map(Full::new)).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER).collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("the collector did not answer within {:?}", self.timeout).into()),
        }
    }
}
