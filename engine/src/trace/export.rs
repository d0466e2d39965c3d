//! The export of spans: configured by the standard environment variables, batched through a bounded queue
//! that never makes a flow wait, sent over OTLP/HTTP (protobuf) by opentelemetry-otlp through our hyper
//! client ([`super::client`]).
//!
//! A span ends into [`Bounded`] with a `try_send`: a full queue (collector slow or down) drops the span,
//! counts it in `relais_trace_spans_dropped_total` and says so once in the log; so do spans whose export
//! failed. One task on the daemon's runtime takes batches off the queue and exports them one at a time,
//! each within its timeout.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithHttpConfig as _;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;

/// Spans dropped since the process started: queue full, export failed, or ended after shutdown.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Spans dropped since the process started (`relais_trace_spans_dropped_total`).
pub fn spans_dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// What the environment asks of the export.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    /// Where the spans go, for the log lines (the exporter reads the variables itself).
    endpoint: String,
    /// `OTEL_BSP_MAX_QUEUE_SIZE` (2048): spans waiting for export at most.
    queue: usize,
    /// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` (512): spans per export at most.
    batch: usize,
    /// `OTEL_BSP_SCHEDULE_DELAY` (5000 ms): how long spans wait for a batch to fill.
    delay: Duration,
    /// `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT` or `OTEL_EXPORTER_OTLP_TIMEOUT` (10000 ms): one export at most.
    timeout: Duration,
    /// `OTEL_SERVICE_NAME` (`relais`).
    service: String,
    /// The values of `OTEL_EXPORTER_OTLP_TRACES_HEADERS` or `OTEL_EXPORTER_OTLP_HEADERS` (a collector's
    /// API key, typically): registered with the scrubber as secrets, so no log line shows one.
    header_values: Vec<String>,
}

/// The environment as the settings read it: a variable's value, `None` when unset or empty (the
/// specification reads an empty value as unset).
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// A count or a number of milliseconds from `name`, or `default`; a value that is not a positive
    /// integer is refused, naming the variable.
    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.var(name) {
            None => Ok(default),
            Some(text) => match text.parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name}=`{text}` is not a positive whole number")),
            },
        }
    }
}

impl Settings {
    /// The settings from the process's environment.
    fn from_env() -> Result<Option<Settings>, String> {
        Settings::read(&Env(&|name| std::env::var(name).ok()))
    }

    /// The settings, `None` when no endpoint is set (tracing off) or the SDK is disabled.
    fn read(env: &Env<'_>) -> Result<Option<Settings>, String> {
        if env.var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || env.var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return Ok(None);
        }
        let endpoint = match (env.var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), env.var("OTEL_EXPORTER_OTLP_ENDPOINT")) {
            (Some(traces), _) => traces,
            (None, Some(base)) => format!("{}/v1/traces", base.trim_end_matches('/')),
            (None, None) => return Ok(None),
        };
        if let Some(exporter) = env.var("OTEL_TRACES_EXPORTER").filter(|v| !v.eq_ignore_ascii_case("otlp")) {
            return Err(format!("OTEL_TRACES_EXPORTER=`{exporter}`: relais exports traces over OTLP only (`otlp`)"));
        }
        for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
            if let Some(protocol) = env.var(name).filter(|p| p != "http/protobuf") {
                return Err(format!(
                    "{name}=`{protocol}`: relais exports traces over OTLP/HTTP in protobuf only (`http/protobuf`)"
                ));
            }
        }
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!("the OTLP endpoint `{endpoint}` is not an http:// or https:// URL"));
        }
        let queue = env.number("OTEL_BSP_MAX_QUEUE_SIZE", 2048)?;
        let batch = env.number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)?.min(queue);
        let delay = Duration::from_millis(env.number("OTEL_BSP_SCHEDULE_DELAY", 5000)?);
        let timeout = match env.var("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") {
            Some(_) => env.number("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", 10_000)?,
            None => env.number("OTEL_EXPORTER_OTLP_TIMEOUT", 10_000)?,
        };
        Ok(Some(Settings {
            endpoint,
            queue: usize::try_from(queue).unwrap_or(usize::MAX),
            batch: usize::try_from(batch).unwrap_or(usize::MAX),
            delay,
            timeout: Duration::from_millis(timeout),
            service: env.var("OTEL_SERVICE_NAME").unwrap_or_else(|| "relais".to_string()),
            header_values: env
                .var("OTEL_EXPORTER_OTLP_TRACES_HEADERS")
                .or_else(|| env.var("OTEL_EXPORTER_OTLP_HEADERS"))
                .map(|headers| header_values(&headers))
                .unwrap_or_default(),
        }))
    }
}

/// The values of a `key1=value1,key2=value2` headers variable, percent-decoded as the specification says.
fn header_values(headers: &str) -> Vec<String> {
    headers
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(_, value)| percent_encoding::percent_decode_str(value.trim()).decode_utf8_lossy().into_owned())
        .filter(|value| !value.is_empty())
        .collect()
}

/// The running export: hold it for the life of the daemon and [`Tracing::shutdown`] it at the end, which
/// exports what is still queued.
pub struct Tracing {
    provider: SdkTracerProvider,
    task: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

impl Tracing {
    /// Starts the export on the current tokio runtime when the environment names an endpoint
    /// (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`), `None` when
    /// it names none. A setting that cannot work (another protocol, a bad number, a bad URL) is an error.
    /// Once per process: a second start is refused.
    pub fn start() -> Result<Option<Tracing>, String> {
        let Some(settings) = Settings::from_env()? else { return Ok(None) };
        for value in &settings.header_values {
            crate::scrub::known::remember_secret(value);
        }
        let client = super::client::ExportClient::new(settings.timeout)?;
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .build()
            .map_err(|e| format!("the OTLP exporter cannot be built: {e}"))?;
        let resource = opentelemetry_sdk::Resource::builder().with_service_name(settings.service.clone()).build();
        exporter.set_resource(&resource);
        let (sender, receiver) = mpsc::channel(settings.queue.max(1));
        let processor = Bounded { sender: Mutex::new(Some(sender)), full_said: AtomicBool::new(false) };
        // The sampler comes from `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (the SDK reads them;
        // default: parent-based, always on).
        let provider = SdkTracerProvider::builder().with_resource(resource).with_span_processor(processor).build();
        if super::TRACER.set(provider.tracer("relais")).is_err() {
            return Err("tracing was started twice in one process".to_string());
        }
        tracing::info!(
            endpoint = %crate::scrub::Scrub::secrets().text(&settings.endpoint),
            service = %settings.service,
            "exporting traces over OTLP/HTTP"
        );
        let timeout = settings.timeout;
        let task = tokio::spawn(export_loop(exporter, receiver, settings));
        Ok(Some(Tracing { provider, task, timeout }))
    }

    /// Stops taking spans and exports those still queued, waiting at most one export timeout.
    pub async fn shutdown(self) {
        // Closes the queue (our processor's shutdown only drops its sender); spans ending later are dropped.
        let _ = self.provider.shutdown();
        if tokio::time::timeout(self.timeout + Duration::from_secs(1), self.task).await.is_err() {
            tracing::warn!("the last spans were not exported before the timeout");
        }
    }
}

/// The span processor: ended spans go into a bounded queue without waiting; what does not fit is dropped
/// and counted.
#[derive(Debug)]
struct Bounded {
    /// `None` once shut down.
    sender: Mutex<Option<mpsc::Sender<SpanData>>>,
    /// Whether the log said the queue was full (once until it has room again).
    full_said: AtomicBool,
}

impl Bounded {
    fn sender(&self) -> Option<mpsc::Sender<SpanData>> {
        // Only taken or cloned under the lock: a poisoned lock still holds a usable value.
        self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl SpanProcessor for Bounded {
    fn on_start(&self, _: &mut Span, _: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        let Some(sender) = self.sender() else {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match sender.try_send(span) {
            Ok(()) => {
                if self.full_said.load(Ordering::Relaxed) && sender.capacity() * 2 > sender.max_capacity() {
                    self.full_said.store(false, Ordering::Relaxed);
                }
            }
            Err(_) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                if !self.full_said.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the span export queue is full (the collector is slow or down): spans are dropped, \
                         counted in relais_trace_spans_dropped_total; flows are not held up"
                    );
                }
            }
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        match self.sender.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            Some(_) => Ok(()),
            None => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

/// Takes batches off the queue (full, or after `delay` since the last export) and exports them one at a
/// time; ends once the queue is closed and emptied.
async fn export_loop(
    exporter: opentelemetry_otlp::SpanExporter,
    mut receiver: mpsc::Receiver<SpanData>,
    settings: Settings,
) {
    let mut batch: Vec<SpanData> = Vec::with_capacity(settings.batch);
    let mut failing = false;
    let mut next = tokio::time::Instant::now() + settings.delay;
    loop {
        let room = settings.batch - batch.len();
        let closed = tokio::select! {
            taken = receiver.recv_many(&mut batch, room) => taken == 0,
            _ = tokio::time::sleep_until(next) => false,
        };
        let due = batch.len() >= settings.batch || tokio::time::Instant::now() >= next || closed;
        if due {
            if !batch.is_empty() {
                let spans = std::mem::replace(&mut batch, Vec::with_capacity(settings.batch));
                failing = export(&exporter, spans, &settings, failing).await;
            }
            next = tokio::time::Instant::now() + settings.delay;
        }
        if closed {
            return;
        }
    }
}

/// Exports one batch within the timeout; a failure drops its spans (counted) and is logged when the export
/// starts failing, and again when it works anew. Returns whether it failed.
async fn export(
    exporter: &opentelemetry_otlp::SpanExporter,
    spans: Vec<SpanData>,
    settings: &Settings,
    was_failing: bool,
) -> bool {
    let count = spans.len() as u64;
    let outcome = match tokio::time::timeout(settings.timeout, exporter.export(spans)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", settings.timeout)),
    };
    let endpoint = crate::scrub::Scrub::secrets().text(&settings.endpoint).into_owned();
    match outcome {
        Ok(()) => {
            if was_failing {
                tracing::info!(endpoint = %endpoint, "spans are exported again");
            }
            false
        }
        Err(why) => {
            DROPPED.fetch_add(count, Ordering::Relaxed);
            if !was_failing {
                tracing::warn!(
                    endpoint = %endpoint,
                    "cannot export spans: {}; they are dropped while this lasts (counted in \
                     relais_trace_spans_dropped_total), flows are not held up",
                    crate::scrub::Scrub::secrets().text(&why)
                );
            }
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(vars: &[(&str, &str)]) -> Result<Option<Settings>, String> {
        let lookup = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string());
        Settings::read(&Env(&lookup))
    }

    #[test]
    fn tracing_is_off_without_an_endpoint_or_when_disabled() {
        assert_eq!(with_env(&[]), Ok(None));
        assert_eq!(with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]), Ok(None));
        assert_eq!(
            with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_SDK_DISABLED", "true")]),
            Ok(None)
        );
        assert_eq!(
            with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_TRACES_EXPORTER", "none")]),
            Ok(None)
        );
    }

    #[test]
    fn the_traces_endpoint_wins_and_the_base_endpoint_gets_the_traces_path() {
        let base = with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).unwrap().unwrap();
        assert_eq!(base.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(
            (base.queue, base.batch, base.delay, base.timeout),
            (2048, 512, Duration::from_secs(5), Duration::from_secs(10))
        );
        assert_eq!(base.service, "relais");
        let traces = with_env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example/in"),
            ("OTEL_SERVICE_NAME", "games-relais"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "50"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(traces.endpoint, "https://traces.example/in");
        assert!(traces.header_values.is_empty());
        let keyed = with_env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cr%3Dt, x-team = games"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(keyed.header_values, ["s3cr=t", "games"], "values percent-decoded, to be scrubbed");
        assert_eq!(traces.service, "games-relais");
        assert_eq!((traces.queue, traces.batch), (10, 10), "a batch is never larger than the queue");
    }

    #[test]
    fn settings_that_cannot_work_are_refused_naming_the_variable() {
        let endpoint = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318");
        for (bad, named) in [
            (("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), "OTEL_EXPORTER_OTLP_PROTOCOL"),
            (("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
            (("OTEL_TRACES_EXPORTER", "zipkin"), "OTEL_TRACES_EXPORTER"),
            (("OTEL_BSP_MAX_QUEUE_SIZE", "lots"), "OTEL_BSP_MAX_QUEUE_SIZE"),
            (("OTEL_BSP_SCHEDULE_DELAY", "0"), "OTEL_BSP_SCHEDULE_DELAY"),
            (("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"), "OTEL_EXPORTER_OTLP_TIMEOUT"),
        ] {
            let error = with_env(&[endpoint, bad]).unwrap_err();
            assert!(error.contains(named), "{error}");
        }
        let error = with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).unwrap_err();
        assert!(error.contains("not an http:// or https:// URL"), "{error}");
    }
}
