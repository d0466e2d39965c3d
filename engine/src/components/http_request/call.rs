//! `http.request` at run time: the pooled client an `http.client` config builds once per program (keep-alive
//! connections reused across events and across every step naming the config), and the step calling through
//! it: templated path, query, headers and body, connect and response timeouts, basic, bearer and OAuth2
//! authentication, response status mapped to typed errors, response body read under a size limit. HTTPS
//! through rustls (`tls`: a CA bundle instead of the public roots, a client certificate for mutual TLS); a
//! failed handshake is `HTTP:CONNECTIVITY` with the TLS reason.

use super::{Auth, ClientConfig, RequestParams};
use crate::component::{CallFuture, ComponentNode, Context, Resource, StepContext};
use crate::connectors::secrets;
use crate::event::{Event, FlowError, Payload};
use crate::metrics::OutboundMetrics;
use crate::script::{compile_template_text, TemplatePart, TemplatePlan};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Map, Value as Json};
use std::sync::Arc;
use std::time::Duration;

/// OAuth2 client credentials: a token fetched on first use, reused until shortly before it expires
/// (10 % of its lifetime, at most 30 s early), and fetched again after a 401.
///
/// The cached token sits behind a plain mutex that is only held to copy or replace it, never across the
/// network. Fetches are single-flight: the first request that finds no valid token fetches one while holding
/// `refresh`; the others wait for that fetch and then reuse its token. Every wait and the fetch itself end at
/// the deadline of the request that waits (the client's response timeout), so a token endpoint that never
/// answers fails each request with `HTTP:TIMEOUT` and holds no one forever.
///
/// Each fetch is an outbound call of its own: a client span under the span of the run that needed the
/// token (its `traceparent` sent to the token endpoint), and counted in the outbound metrics under
/// `<config>.oauth2`, apart from the partner's own calls.
struct OAuth2 {
    token_url: String,
    form: String,
    /// `<config>.oauth2`: the metrics' `config` label and the span's `relais.system`.
    system: String,
    cached: std::sync::Mutex<Option<(String, std::time::Instant)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl OAuth2 {
    fn new(config: &str, token_url: String, form: String) -> Self {
        OAuth2 {
            token_url,
            form,
            system: format!("{config}.oauth2"),
            cached: std::sync::Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    /// The cached token while it is valid. A poisoned lock only means a panic elsewhere while copying a
    /// token; the value is still whole, so it is used.
    fn valid(&self) -> Option<String> {
        let cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cached.as_ref().filter(|(_, refresh_at)| std::time::Instant::now() < *refresh_at).map(|(t, _)| t.clone())
    }

    fn timed_out(&self, timeout: Duration) -> FlowError {
        FlowError::new("HTTP:TIMEOUT", format!("no OAuth2 token from {} within {timeout:?}", shown(&self.token_url)))
    }

    /// A valid token, fetched if needed (counted in `metrics`, traced under `trace`, the span of the run
    /// that needs it), by `deadline` at the latest.
    async fn token(
        &self,
        client: &HttpClient,
        deadline: tokio::time::Instant,
        timeout: Duration,
        metrics: &crate::metrics::Metrics,
        trace: Option<&crate::trace::TraceContext>,
    ) -> Result<String, FlowError> {
        if let Some(token) = self.valid() {
            return Ok(token);
        }
        let _flight =
            tokio::time::timeout_at(deadline, self.refresh.lock()).await.map_err(|_| self.timed_out(timeout))?;
        // The fetch this request waited for may have brought a token.
        if let Some(token) = self.valid() {
            return Ok(token);
        }
        let (token, refresh_at) = self.fetch(client, deadline, timeout, &metrics.outbound(&self.system), trace).await?;
        *self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((token.clone(), refresh_at));
        Ok(token)
    }

    /// One fetch from the token endpoint, by `deadline`: a client span, and the answer's status, latency
    /// and failure counted in `metrics`, whatever the outcome (a timeout included).
    async fn fetch(
        &self,
        client: &HttpClient,
        deadline: tokio::time::Instant,
        timeout: Duration,
        metrics: &OutboundMetrics,
        trace: Option<&crate::trace::TraceContext>,
    ) -> Result<(String, std::time::Instant), FlowError> {
        let span = self.span(trace);
        let started = std::time::Instant::now();
        let outcome = match tokio::time::timeout_at(deadline, self.exchange(client, span.as_ref())).await {
            Ok(outcome) => outcome,
            Err(_) => Err(TokenFailure { error_type: "HTTP:TIMEOUT", status: None, error: self.timed_out(timeout) }),
        };
        let status = match &outcome {
            Ok((_, _, status)) => Some(*status),
            Err(failure) => failure.status,
        };
        metrics.exchange(started.elapsed(), status);
        if let Err(failure) = &outcome {
            metrics.error(failure.error_type, failure.status);
        }
        if let Some(span) = span {
            end_span(span, status, outcome.as_ref().err().map(|failure| failure.error_type));
        }
        outcome.map(|(token, refresh_at, _)| (token, refresh_at)).map_err(|failure| failure.error)
    }

    /// The client span of a fetch (`None` when tracing is off), under the span of the run that needs the
    /// token. Its attributes come from the config: the token URL with its secrets scrubbed, never a payload.
    fn span(&self, trace: Option<&crate::trace::TraceContext>) -> Option<crate::trace::Span> {
        use crate::trace::KeyValue;
        if !crate::trace::is_on() {
            return None;
        }
        let attributes = vec![
            KeyValue::new("http.request.method", "POST"),
            KeyValue::new("relais.system", self.system.clone()),
            KeyValue::new("server.address", crate::scrub::Scrub::secrets().text(&shown(&self.token_url)).into_owned()),
        ];
        crate::trace::Span::start("POST oauth2 token", crate::trace::SpanKind::Client, trace, attributes)
    }

    /// The token request and its answer read: the token, when to refresh it, and the answer's status. A
    /// 2xx answer without a token fails with its status (what the metrics count it under).
    async fn exchange(
        &self,
        client: &HttpClient,
        span: Option<&crate::trace::Span>,
    ) -> Result<(String, std::time::Instant, u16), TokenFailure> {
        let fail = |why: String| {
            FlowError::new("HTTP:UNAUTHORIZED", format!("OAuth2 token from {}: {why}", shown(&self.token_url)))
        };
        let mut request = hyper::Request::post(&self.token_url)
            .header(hyper::header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in span.map(|s| s.context().headers()).unwrap_or_default() {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(self.form.clone())))
            .map_err(|e| TokenFailure::new("HTTP:BAD_REQUEST", None, fail(e.to_string())))?;
        let response = client
            .request(request)
            .await
            .map_err(|e| TokenFailure::new("HTTP:CONNECTIVITY", None, fail(format!("unreachable: {}", chain(&e)))))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|e| TokenFailure::new("HTTP:RESPONSE_TOO_LARGE", Some(status), fail(e.to_string())))?
            .to_bytes();
        if !(200..300).contains(&status) {
            return Err(TokenFailure::new(status_error(status), Some(status), fail(format!("answered {status}"))));
        }
        let unusable = |why: String| TokenFailure::new("HTTP:UNAUTHORIZED", Some(status), fail(why));
        let answer: Json = serde_json::from_slice(&body).map_err(|e| unusable(format!("not JSON: {e}")))?;
        let token = answer["access_token"].as_str().ok_or_else(|| unusable("no access_token".into()))?.to_string();
        crate::scrub::known::remember_token(&token);
        let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(300));
        let early = (lifetime / 10).min(Duration::from_secs(30));
        Ok((token, std::time::Instant::now() + lifetime - early, status))
    }

    /// Drops the cached token after the partner refused it, unless another request already replaced it.
    fn forget(&self, refused: &str) {
        let mut cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cached.as_ref().is_some_and(|(token, _)| token == refused) {
            *cached = None;
        }
    }
}

/// Why a token fetch failed: what the `.oauth2` metrics and span count it as (the token endpoint's own
/// failure: `HTTP:CONNECTIVITY`, its status, `HTTP:TIMEOUT`), and the error the step fails with (the
/// partner's call had no token: `HTTP:UNAUTHORIZED`, or `HTTP:TIMEOUT`).
struct TokenFailure {
    error_type: &'static str,
    /// The token endpoint's answer, `None` when none came.
    status: Option<u16>,
    error: FlowError,
}

impl TokenFailure {
    fn new(error_type: &'static str, status: Option<u16>, error: FlowError) -> Self {
        TokenFailure { error_type, status, error }
    }
}

/// Ends the client span of an HTTP exchange (a partner's call or a token fetch): the answer's status when
/// one came, and what failed (`error.type`) when something did.
fn end_span(mut span: crate::trace::Span, status: Option<u16>, failure: Option<&str>) {
    if let Some(status) = status {
        span.set(crate::trace::KeyValue::new("http.response.status_code", i64::from(status)));
    }
    crate::trace::end(Some(span), failure);
}

/// The pooled client of a step: plain HTTP and HTTPS.
type HttpClient = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An error and its causes, `a: b: c`: a TLS failure is only readable in the innermost cause.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `url` as error descriptions show it: its userinfo (a password, often) withheld. Secrets elsewhere in it
/// are taken out by the scrubber.
fn shown(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else { return url.into() };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}://{}@{}", &url[..scheme_end], crate::scrub::REDACTED, &rest[at + 1..]).into(),
        None => url.into(),
    }
}

/// What an `http.client` config builds, shared by every step naming it: the pool, the base URL, the
/// authentication (with its OAuth2 token cache), the config's headers and limits.
pub struct Client {
    /// The config's name, named in what a caller is told of its failures and in the per-system metrics.
    name: Arc<str>,
    client: HttpClient,
    base_url: String,
    headers: Vec<(String, TemplatePlan)>,
    authorization: Option<String>,
    oauth2: Option<Arc<OAuth2>>,
    timeout: Duration,
    max_response: usize,
    /// A `partner` client's calls go through the guard (`scrub::guard`).
    partner: bool,
}

impl Resource for Client {}

/// A built `http.request` step.
struct HttpRequest {
    client: Arc<Client>,
    method: hyper::Method,
    path: TemplatePlan,
    /// The path as the flow writes it (`/contacts/#[payload.id]`): what the span shows, never the path
    /// rendered with the payload's values.
    path_template: String,
    query: Vec<(String, TemplatePlan)>,
    /// The config's headers, then the step's.
    headers: Vec<(String, TemplatePlan)>,
    body: Option<TemplatePlan>,
    target: Option<String>,
    timeout: Duration,
    success: Vec<u16>,
    /// The body's outbound contract, checked before sending.
    contract: Option<super::contract::Contract>,
}

/// The typed error of a response status.
pub fn status_error(status: u16) -> &'static str {
    const EXACT: &[(u16, &str)] = &[
        (400, "HTTP:BAD_REQUEST"),
        (401, "HTTP:UNAUTHORIZED"),
        (403, "HTTP:FORBIDDEN"),
        (404, "HTTP:NOT_FOUND"),
        (405, "HTTP:METHOD_NOT_ALLOWED"),
        (409, "HTTP:CONFLICT"),
        (429, "HTTP:TOO_MANY_REQUESTS"),
        (500, "HTTP:INTERNAL_SERVER_ERROR"),
        (502, "HTTP:BAD_GATEWAY"),
        (503, "HTTP:SERVICE_UNAVAILABLE"),
        (504, "HTTP:GATEWAY_TIMEOUT"),
    ];
    match EXACT.iter().find(|(s, _)| *s == status) {
        Some((_, t)) => t,
        None if (400..500).contains(&status) => "HTTP:CLIENT_ERROR",
        None => "HTTP:SERVER_ERROR",
    }
}

/// The client of config `name`.
pub(super) fn client(name: &str, zone: &str, config: &ClientConfig, engine: &rhai::Engine) -> Result<Client, String> {
    let mut oauth2 = None;
    let authorization = match &config.auth {
        None => None,
        Some(Auth::Bearer { token }) => Some(format!("Bearer {}", secrets::resolve(token)?)),
        Some(Auth::Basic { username, password }) => {
            use base64::Engine as _;
            let (username, password) = (secrets::resolve(username)?, secrets::resolve(password)?);
            crate::scrub::known::remember_basic_pair(&username, &password);
            let pair = format!("{username}:{password}");
            Some(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
        }
        Some(Auth::Oauth2 { token_url, client_id, client_secret, scopes }) => {
            let mut form = format!(
                "grant_type=client_credentials&client_id={}&client_secret={}",
                encode(&secrets::resolve(client_id)?),
                encode(&secrets::resolve(client_secret)?)
            );
            if !scopes.is_empty() {
                form.push_str(&format!("&scope={}", encode(&scopes.join(" "))));
            }
            oauth2 = Some(Arc::new(OAuth2::new(name, secrets::resolve(token_url)?, form)));
            None
        }
    };
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(config.connect_timeout.0));
    connector.set_nodelay(true);
    connector.enforce_http(false);
    let tls = crate::tls::client_config(config.tls.as_ref(), name)?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(connector);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(config.max_idle_connections as usize)
        .build(connector);
    let headers = config
        .headers
        .iter()
        .map(|(k, v)| Ok((k.clone(), compile_template_text(engine, &secrets::resolve(v)?)?)))
        .collect::<Result<_, String>>()?;
    Ok(Client {
        name: name.into(),
        client,
        base_url: secrets::resolve(config.base_url.trim_end_matches('/'))?,
        headers,
        authorization,
        oauth2,
        timeout: config.timeout.0,
        max_response: usize::try_from(config.max_response_size).unwrap_or(usize::MAX),
        partner: zone == "partner",
    })
}

/// The node of an `http.request` step, calling through its config's client.
pub(super) fn step(params: &RequestParams, cx: &StepContext<'_>) -> Result<Arc<dyn ComponentNode>, String> {
    let client = cx.resource_as::<Client>()?;
    let template = |t: &str| compile_template_text(cx.engine, t);
    let mut headers = client.headers.clone();
    for (k, v) in &params.headers {
        headers.push((k.clone(), template(v)?));
    }
    Ok(Arc::new(HttpRequest {
        method: hyper::Method::from_bytes(params.method.as_str().as_bytes()).map_err(|e| e.to_string())?,
        path: template(&params.path)?,
        path_template: params.path.clone(),
        query: params.query.iter().map(|(k, v)| Ok((k.clone(), template(v)?))).collect::<Result<_, String>>()?,
        headers,
        body: params.body.as_deref().map(template).transpose()?,
        target: params.target.clone(),
        timeout: params.timeout.map_or(client.timeout, |d| d.0),
        success: params.success_statuses.clone(),
        contract: match &params.contract {
            Some(path) => Some(super::contract::Contract::new(path.clone(), cx.read_schema(path)?)),
            None => None,
        },
        client,
    }))
}

/// What a call checks before it connects: the partner guard on the path and query, the body and each
/// header (to a `partner` config only), then the outbound contract on the body.
fn screen(
    event: &Event,
    system: &str,
    partner: bool,
    url: &str,
    body: &[u8],
    headers: &[(String, String)],
    contract: Option<&super::contract::Contract>,
) -> Result<(), FlowError> {
    if partner {
        let body_text = String::from_utf8_lossy(body);
        let mut parts: Vec<(String, &str)> = vec![("path and query".into(), url), ("body".into(), &body_text)];
        parts.extend(headers.iter().map(|(k, v)| (format!("header `{k}`"), v.as_str())));
        let parts: Vec<(&str, &str)> = parts.iter().map(|(w, t)| (w.as_str(), *t)).collect();
        crate::scrub::guard::check(event, system, &parts)?;
    }
    match contract {
        Some(contract) => contract.check(system, body),
        None => Ok(()),
    }
}

/// A mocked `http.request` in a flow test: the request rendered as the call renders it (the path, the
/// query, the step's own headers, the body; the config's base URL and headers are not known without its
/// resource) and [`screen`]ed, so the mock answers only what the real call would have sent.
struct MockedScreen {
    system: String,
    partner: bool,
    method: hyper::Method,
    path: TemplatePlan,
    query: Vec<(String, TemplatePlan)>,
    headers: Vec<(String, TemplatePlan)>,
    body: Option<TemplatePlan>,
    contract: Option<super::contract::Contract>,
}

/// The checks of a mocked `http.request` (`Step::mocked`): `None` when the config is not `partner` and the
/// step has no contract (nothing would be checked).
pub(super) fn mocked(params: &RequestParams, cx: &StepContext<'_>) -> Result<Option<Arc<dyn ComponentNode>>, String> {
    let partner = cx.config_zone == Some("partner");
    if !partner && params.contract.is_none() {
        return Ok(None);
    }
    let template = |t: &str| compile_template_text(cx.engine, t);
    Ok(Some(Arc::new(MockedScreen {
        system: cx.config_name.unwrap_or_default().to_string(),
        partner,
        method: hyper::Method::from_bytes(params.method.as_str().as_bytes()).map_err(|e| e.to_string())?,
        path: template(&params.path)?,
        query: params.query.iter().map(|(k, v)| Ok((k.clone(), template(v)?))).collect::<Result<_, String>>()?,
        headers: params.headers.iter().map(|(k, v)| Ok((k.clone(), template(v)?))).collect::<Result<_, String>>()?,
        body: params.body.as_deref().map(template).transpose()?,
        contract: match &params.contract {
            Some(path) => Some(super::contract::Contract::new(path.clone(), cx.read_schema(path)?)),
            None => None,
        },
    })))
}

impl ComponentNode for MockedScreen {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let mut url = render_path(cx, &self.path, &event)?;
            for (i, (k, v)) in self.query.iter().enumerate() {
                url.push(if i == 0 { '?' } else { '&' });
                url.push_str(&format!("{}={}", encode(k), encode(&cx.render(v, &event)?)));
            }
            let body = match &self.body {
                Some(t) => Bytes::from(cx.render(t, &event)?),
                None if matches!(self.method, hyper::Method::GET | hyper::Method::HEAD | hyper::Method::DELETE) => {
                    Bytes::new()
                }
                None => event.payload.to_body(),
            };
            let mut headers = Vec::with_capacity(self.headers.len());
            for (k, v) in &self.headers {
                headers.push((k.clone(), cx.render(v, &event)?));
            }
            screen(&event, &self.system, self.partner, &url, &body, &headers, self.contract.as_ref())?;
            Ok(event)
        })
    }
}

/// Every byte but RFC 3986's unreserved ones (`A-Z a-z 0-9 - . _ ~`) is escaped: a value can then never
/// end a path segment (`/`), start a query (`?`) or fragment (`#`), or split a query pair (`&`, `=`, `+`).
const COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A value as one URL component (a query key or value, a form field).
fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, COMPONENT).to_string()
}

/// A value as one path segment: [`encode`], and `.` / `..` written `%2E` so that a value cannot climb out
/// of the path the flow wrote, even at a partner that resolves dot segments.
fn encode_segment(s: &str) -> String {
    match s {
        "." => "%2E".to_string(),
        ".." => "%2E%2E".to_string(),
        _ => encode(s),
    }
}

/// The path template with each `#[...]` value encoded as one path segment; the literal text is the flow
/// author's and is sent as written.
fn render_path(cx: &dyn Context, template: &TemplatePlan, event: &Event) -> Result<String, FlowError> {
    let mut out = String::new();
    for part in &template.parts {
        match part {
            TemplatePart::Literal(text) => out.push_str(text),
            TemplatePart::Expr(script) => {
                let one = TemplatePlan { parts: vec![TemplatePart::Expr(script.clone())] };
                out.push_str(&encode_segment(&cx.render(&one, event)?));
            }
        }
    }
    Ok(out)
}

/// One answer: status, media type, headers (as received: most flows never read them, so they become
/// `attributes.headers` only when a flow does), body.
type Answer = (u16, String, hyper::HeaderMap, Bytes);

impl HttpRequest {
    /// One request and its whole answer, by `deadline` (the response timeout from when the exchange, its
    /// OAuth2 token included, began), counted in the config's `metrics` (status and latency).
    #[allow(clippy::too_many_arguments)] // one exchange's parts, all borrowed from the call
    async fn exchange(
        &self,
        metrics: &OutboundMetrics,
        url: &str,
        content_type: &str,
        event: &Event,
        headers: &[(String, String)],
        body: Bytes,
        token: Option<&str>,
        deadline: tokio::time::Instant,
    ) -> Result<Answer, FlowError> {
        let mut request = hyper::Request::builder().method(self.method.clone()).uri(url);
        let content_type_given = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if !content_type.is_empty() && !content_type_given {
            // A media type that cannot be a header value fails the build below, as before.
            request = match crate::http_headers::content_type_value(content_type) {
                Some(value) => request.header(hyper::header::CONTENT_TYPE, value),
                None => request.header(hyper::header::CONTENT_TYPE, content_type),
            };
        }
        request = request.header(crate::http_headers::X_CORRELATION_ID, &*event.correlation_id);
        let mut span = self.client_span(event);
        if let Some(span) = &span {
            for (name, value) in span.context().headers() {
                request = request.header(name, value);
            }
        }
        if let Some(auth) = &self.client.authorization {
            request = request.header(hyper::header::AUTHORIZATION, auth);
        }
        if let Some(token) = token {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (k, v) in headers {
            request = request.header(k.as_str(), v.as_str());
        }
        let request = request.body(Full::new(body)).map_err(|e| {
            FlowError::new("HTTP:BAD_REQUEST", format!("cannot build the request to {}: {e}", shown(url)))
        })?;
        let exchange = async {
            let response = self.client.client.request(request).await.map_err(|e| {
                FlowError::new(
                    "HTTP:CONNECTIVITY",
                    format!("cannot reach {}: {}", shown(&self.client.base_url), chain(&e)),
                )
            })?;
            let status = response.status().as_u16();
            let media_type = crate::http_headers::media_type(response.headers(), "application/octet-stream");
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, self.client.max_response).collect().await.map_err(|e| {
                FlowError::new(
                    "HTTP:RESPONSE_TOO_LARGE",
                    format!("response from {} over {} bytes or unreadable: {e}", shown(url), self.client.max_response),
                )
            })?;
            Ok::<_, FlowError>((status, media_type, parts.headers, bytes.to_bytes()))
        };
        let started = std::time::Instant::now();
        let answer = match tokio::time::timeout_at(deadline, exchange).await {
            Ok(answer) => answer,
            Err(_) => {
                Err(FlowError::new("HTTP:TIMEOUT", format!("{} did not answer within {:?}", shown(url), self.timeout)))
            }
        };
        metrics.exchange(started.elapsed(), answer.as_ref().ok().map(|a| a.0));
        if let Some(span) = span.take() {
            let (status, failure) = match &answer {
                Ok((status, ..)) => (Some(*status), (*status >= 400).then(|| status.to_string())),
                Err(error) => (None, Some(error.error_type.to_string())),
            };
            end_span(span, status, failure.as_deref());
        }
        answer
    }

    /// The client span of one exchange (`None` when tracing is off), under the span the event is in; its
    /// context goes out as `traceparent`. Its attributes come from the config and the flow file: the path
    /// template, not the path rendered with the payload's values.
    fn client_span(&self, event: &Event) -> Option<crate::trace::Span> {
        use crate::trace::KeyValue;
        if !crate::trace::is_on() {
            return None;
        }
        let attributes = vec![
            KeyValue::new("http.request.method", self.method.as_str().to_string()),
            KeyValue::new("url.template", self.path_template.clone()),
            KeyValue::new("relais.system", self.client.name.to_string()),
            KeyValue::new(
                "server.address",
                crate::scrub::Scrub::secrets().text(&shown(&self.client.base_url)).into_owned(),
            ),
        ];
        let name = format!("{} {}", self.method, self.path_template);
        crate::trace::Span::start(name, crate::trace::SpanKind::Client, event.trace.as_ref(), attributes)
    }

    /// `error`, made while calling the partner (no answer, or one that could not be read), counted in the
    /// config's `metrics` and marked with what an HTTP caller is told instead of its description (which
    /// may quote the partner's answer or address): the config and what went wrong.
    fn upstream(&self, metrics: &OutboundMetrics, error: FlowError) -> FlowError {
        metrics.error(&error.error_type.to_string(), None);
        let error = error.through(&self.client.name);
        if error.upstream_summary.is_some() {
            return error;
        }
        let config = &self.client.name;
        let summary = match error.error_type.to_string().as_str() {
            "HTTP:TIMEOUT" => format!("the upstream call to config `{config}` timed out"),
            "HTTP:CONNECTIVITY" => {
                format!("the upstream call to config `{config}` failed: the partner could not be reached")
            }
            "HTTP:RESPONSE_TOO_LARGE" => {
                format!("the upstream call to config `{config}` failed: the answer was too large")
            }
            "HTTP:UNAUTHORIZED" => format!("the upstream call to config `{config}` failed: no OAuth2 token"),
            "HTTP:BAD_REQUEST" => format!("the request of config `{config}` could not be built"),
            _ => format!("the upstream call to config `{config}` failed"),
        };
        error.from_upstream(summary)
    }
}

impl ComponentNode for HttpRequest {
    fn call<'a>(&'a self, cx: &'a dyn Context, event: Event) -> CallFuture<'a> {
        Box::pin(async move {
            let metrics = cx.metrics().outbound(&self.client.name);
            let metrics = metrics.as_ref();
            let mut url = format!("{}{}", self.client.base_url, render_path(cx, &self.path, &event)?);
            for (i, (k, v)) in self.query.iter().enumerate() {
                url.push(if i == 0 && !url.contains('?') { '?' } else { '&' });
                url.push_str(&format!("{}={}", encode(k), encode(&cx.render(v, &event)?)));
            }
            // The payload's bytes are shared with the event (a received body is sent on without a copy).
            let (body, content_type) = match &self.body {
                Some(t) => (Bytes::from(cx.render(t, &event)?), "text/plain"),
                None if matches!(self.method, hyper::Method::GET | hyper::Method::HEAD | hyper::Method::DELETE) => {
                    (Bytes::new(), "")
                }
                None => (event.payload.to_body(), event.payload.media_type()),
            };
            let mut headers = Vec::with_capacity(self.headers.len());
            for (k, v) in &self.headers {
                headers.push((k.clone(), cx.render(v, &event)?));
            }
            let partner = self.client.partner;
            screen(&event, &self.client.name, partner, &url, &body, &headers, self.contract.as_ref())?;
            let content_type = content_type.to_string();
            let deadline = tokio::time::Instant::now() + self.timeout;
            let token = match &self.client.oauth2 {
                Some(oauth2) => Some(
                    oauth2
                        .token(&self.client.client, deadline, self.timeout, cx.metrics(), event.trace.as_ref())
                        .await
                        .map_err(|e| self.upstream(metrics, e))?,
                ),
                None => None,
            };
            let mut answer = self
                .exchange(metrics, &url, &content_type, &event, &headers, body.clone(), token.as_deref(), deadline)
                .await
                .map_err(|e| self.upstream(metrics, e))?;
            if let (401, Some(oauth2), Some(refused)) = (answer.0, &self.client.oauth2, &token) {
                // A token the partner no longer accepts: fetch a new one and try once more, with a
                // timeout of its own.
                oauth2.forget(refused);
                let deadline = tokio::time::Instant::now() + self.timeout;
                let token = oauth2
                    .token(&self.client.client, deadline, self.timeout, cx.metrics(), event.trace.as_ref())
                    .await
                    .map_err(|e| self.upstream(metrics, e))?;
                answer = self
                    .exchange(metrics, &url, &content_type, &event, &headers, body, Some(&token), deadline)
                    .await
                    .map_err(|e| self.upstream(metrics, e))?;
            }
            let (status, media_type, headers, bytes) = answer;
            if !(200..300).contains(&status) && !self.success.contains(&status) {
                let text = String::from_utf8_lossy(&bytes);
                let excerpt: String = text.chars().take(200).collect();
                let config = &self.client.name;
                metrics.error(status_error(status), Some(status));
                return Err(FlowError::new(
                    status_error(status),
                    format!("{} {} answered {status}: {excerpt}", self.method, shown(&url)),
                )
                .through(config)
                .from_upstream(format!("the upstream call to config `{config}` failed with status {status}")));
            }
            let mut ev = event;
            let payload = Payload::bytes(bytes, &media_type);
            match &self.target {
                Some(var) => {
                    // The payload and the source's attributes are kept; the answer's status and headers go
                    // to `attributes.response`, beside them.
                    let value = cx.read(&payload).map_err(|e| {
                        metrics.error(&e.error_type.to_string(), Some(status));
                        e.through(&self.client.name)
                            .from_upstream(format!("the answer of config `{}` could not be read", self.client.name))
                    })?;
                    let value = value.clone();
                    ev.set_var(var, value);
                    let mut attributes = match ev.attributes.as_ref() {
                        Json::Object(map) => map.clone(),
                        _ => Map::new(),
                    };
                    attributes.insert("response".into(), answer_attributes(status, &headers));
                    ev.attributes = Json::Object(attributes).into();
                }
                None => {
                    ev.set_payload(payload);
                    ev.attributes = crate::event::Attributes::lazy(move || answer_attributes(status, &headers));
                }
            }
            Ok(ev)
        })
    }
}

/// What a flow reads of an answer in `attributes` (or `attributes.response` beside a `target`).
fn answer_attributes(status: u16, headers: &hyper::HeaderMap) -> Json {
    json!({ "status": status, "headers": crate::http_headers::to_json(headers) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_in_an_error_is_shown_without_its_userinfo() {
        assert_eq!(shown("http://relais:pw@crm.example/api?k=1"), "http://[redacted]@crm.example/api?k=1");
        assert_eq!(shown("https://crm.example/a@b"), "https://crm.example/a@b");
        assert_eq!(shown("not a url"), "not a url");
    }
}
