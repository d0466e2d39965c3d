//! Measured volumes for the map: a running daemon's `/metrics` (fetched from its admin URL) or a saved
//! scrape, read for the counters the daemon exports (`runtime/metrics.rs`, `daemon/admin.rs`).
//!
//! The daemon counts per flow, not per step: events that finished the flow
//! (`relais_flow_events_total`), those that ended in an unhandled error (`relais_flow_errors_total`), the
//! bytes its HTTP source received and answered (`relais_flow_bytes_in_total`, `..._out_total`), and since
//! when (`relais_uptime_seconds`). So the figures go on each flow's **source edge** (the system it
//! receives from), the one exchange every event of the flow crosses exactly once; calls a flow makes are
//! not counted per system, and their edges carry none.

use super::model::Map;
use crate::component::Direction;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Where the volumes came from.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsInfo {
    /// The file or URL read.
    pub source: String,
    /// How long the daemon had been counting (`relais_uptime_seconds`); without it no rate is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<f64>,
}

/// What one flow's counters say, put on its source edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Volume {
    /// Events that finished the flow since the daemon started.
    pub events: u64,
    /// Of those, events that ended in an unhandled error.
    pub errors: u64,
    /// `errors / events` (absent with no event).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_share: Option<f64>,
    /// Events per hour over the uptime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages_per_hour: Option<f64>,
    /// Bytes received and answered by the flow's HTTP source (other sources count none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Those bytes per day over the uptime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_per_day: Option<f64>,
}

/// Why the metrics could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The file could not be read.
    #[error("cannot read the metrics file `{path}`: {why}")]
    File {
        /// The path given.
        path: String,
        /// The I/O error.
        why: String,
    },
    /// The daemon could not be reached or answered badly.
    #[error("cannot fetch `{url}`: {why}")]
    Fetch {
        /// The URL fetched.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// What was read is not a relais `/metrics` exposition.
    #[error("`{source_name}` is not a relais /metrics scrape: {why}")]
    Invalid {
        /// The file or URL.
        source_name: String,
        /// Which line, and why.
        why: String,
    },
}

impl MetricsError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            MetricsError::File { .. } => "save a scrape with `curl -s http://127.0.0.1:9464/metrics > metrics.txt`",
            MetricsError::Fetch { .. } => {
                "give the admin address of a running daemon (`relais run --admin ADDR`; default http://127.0.0.1:9464), or a saved scrape file"
            }
            MetricsError::Invalid { .. } => "the Prometheus text a relais daemon's admin port answers on /metrics",
        }
    }
}

/// One sample of the exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Value.
    pub value: f64,
}

/// Reads `--metrics`: an `http://` URL is a daemon's admin address (`/metrics` appended when it names
/// no path), anything else a file.
pub fn read(arg: &str) -> Result<(MetricsInfo, Vec<Sample>), MetricsError> {
    let (source, text) = if arg.starts_with("http://") || arg.starts_with("https://") {
        let url = if arg.trim_end_matches('/').matches('/').count() <= 2 {
            format!("{}/metrics", arg.trim_end_matches('/'))
        } else {
            arg.to_string()
        };
        let text = fetch(&url)?;
        (url, text)
    } else {
        let text = std::fs::read_to_string(arg)
            .map_err(|e| MetricsError::File { path: arg.to_string(), why: e.to_string() })?;
        (arg.to_string(), text)
    };
    let samples = parse(&text).map_err(|why| MetricsError::Invalid { source_name: source.clone(), why })?;
    if !samples.iter().any(|s| s.name.starts_with("relais_")) {
        return Err(MetricsError::Invalid { source_name: source, why: "it holds no `relais_` metric".into() });
    }
    let uptime = samples.iter().find(|s| s.name == "relais_uptime_seconds").map(|s| s.value);
    Ok((MetricsInfo { source, uptime_seconds: uptime }, samples))
}

/// The Prometheus text format's samples (`name{label="value",...} value [timestamp]`); comments skipped.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(sample(line).map_err(|why| format!("line {}: {why}: `{}`", n + 1, truncate(line)))?);
    }
    Ok(out)
}

fn truncate(line: &str) -> String {
    line.chars().take(80).collect()
}

fn sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace()).ok_or("no value")?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err("not a metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices();
        let mut key = String::new();
        let end = loop {
            let Some((i, c)) = chars.next() else { return Err("unclosed `{`".into()) };
            match c {
                '}' => break i + 1,
                ',' | ' ' => {}
                '=' => {
                    if chars.next().map(|(_, c)| c) != Some('"') {
                        return Err("a label value must be quoted".into());
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next().map(|(_, c)| c) {
                            Some('"') => break,
                            Some('\\') => match chars.next().map(|(_, c)| c) {
                                Some('n') => value.push('\n'),
                                Some(c) => value.push(c),
                                None => return Err("unclosed label value".into()),
                            },
                            Some(c) => value.push(c),
                            None => return Err("unclosed label value".into()),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                c => key.push(c),
            }
        };
        rest = &after[end..];
    }
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse::<f64>().map_err(|_| format!("`{v}` is not a number"))?,
    };
    Ok(Sample { name: name.to_string(), labels, value })
}

/// GETs `url` (plain HTTP: the admin port), at most 10 s and 64 MiB.
fn fetch(url: &str) -> Result<String, MetricsError> {
    let err = |why: String| MetricsError::Fetch { url: url.to_string(), why };
    if url.starts_with("https://") {
        return Err(err("the admin port speaks plain HTTP; use http://".into()));
    }
    let uri: hyper::Uri = url.parse().map_err(|e| err(format!("not a URL: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| err(e.to_string()))?;
    runtime.block_on(async {
        use http_body_util::BodyExt;
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<http_body_util::Empty<hyper::body::Bytes>>();
        let call = async {
            let response = client.get(uri).await.map_err(|e| err(connect_error(&e)))?;
            let status = response.status();
            let body = http_body_util::Limited::new(response.into_body(), 64 * 1024 * 1024)
                .collect()
                .await
                .map_err(|e| err(format!("reading the answer: {e}")))?
                .to_bytes();
            if !status.is_success() {
                return Err(err(format!("the daemon answered {status}")));
            }
            String::from_utf8(body.to_vec()).map_err(|_| err("the answer is not UTF-8 text".into()))
        };
        tokio::time::timeout(Duration::from_secs(10), call).await.map_err(|_| err("no answer within 10 s".into()))?
    })
}

/// The cause of a client error, which hyper-util wraps ("client error (Connect)").
fn connect_error(e: &hyper_util::client::legacy::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Rounds a figure for display and stable output.
fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Puts each flow's counters on its source edge (see the module's doc).
pub fn attach(map: &mut Map, info: MetricsInfo, samples: &[Sample]) {
    let mut events: BTreeMap<&str, u64> = BTreeMap::new();
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    let mut bytes: BTreeMap<&str, u64> = BTreeMap::new();
    for s in samples {
        let Some(flow) = s.labels.get("flow") else { continue };
        let n = if s.value.is_finite() && s.value > 0.0 { s.value as u64 } else { 0 };
        match s.name.as_str() {
            "relais_flow_events_total" => *events.entry(flow).or_default() += n,
            "relais_flow_errors_total" => *errors.entry(flow).or_default() += n,
            "relais_flow_bytes_in_total" | "relais_flow_bytes_out_total" => *bytes.entry(flow).or_default() += n,
            _ => {}
        }
    }
    let uptime = info.uptime_seconds.filter(|u| *u > 0.0);
    for edge in &mut map.edges {
        if edge.direction != Direction::Receives {
            continue;
        }
        let flow = edge.flow.trim_start_matches("flow:");
        let Some(&n) = events.get(flow) else { continue };
        let failed = errors.get(flow).copied().unwrap_or(0);
        let b = bytes.get(flow).copied();
        edge.volume = Some(Volume {
            events: n,
            errors: failed,
            error_share: (n > 0).then(|| round(failed as f64 / n as f64)),
            messages_per_hour: uptime.map(|u| round(n as f64 * 3600.0 / u)),
            bytes: b,
            bytes_per_day: b.zip(uptime).map(|(b, u)| round(b as f64 * 86400.0 / u)),
        });
    }
    map.metrics = Some(info);
}

/// A volume as an edge label: `120/h · 3.1 MB/day · 2% errors`.
pub fn label(v: &Volume) -> String {
    let mut parts = Vec::new();
    match v.messages_per_hour {
        Some(rate) => parts.push(format!("{}/h", number(rate))),
        None => parts.push(format!("{} events", v.events)),
    }
    if let Some(per_day) = v.bytes_per_day {
        parts.push(format!("{}/day", size(per_day)));
    }
    if let Some(share) = v.error_share {
        parts.push(format!("{}% errors", number(share * 100.0)));
    }
    parts.join(" · ")
}

fn number(x: f64) -> String {
    if x >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn size(bytes: f64) -> String {
    for (unit, scale) in [("GB", 1e9), ("MB", 1e6), ("kB", 1e3)] {
        if bytes >= scale {
            return format!("{} {unit}", number(bytes / scale));
        }
    }
    format!("{} B", number(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_escaped_labels_and_special_values_parse() {
        let text = "# HELP x\nrelais_flow_events_total{flow=\"a \\\"b\\\"\",le=\"+Inf\"} 12\nrelais_async_errors_total 3 1700000000\nx_bucket{le=\"+Inf\"} +Inf\n";
        let s = parse(text).unwrap();
        assert_eq!(s[0].labels["flow"], "a \"b\"");
        assert_eq!(s[0].value, 12.0);
        assert_eq!(s[1].name, "relais_async_errors_total");
        assert!(s[2].value.is_infinite());
    }

    #[test]
    fn a_bad_line_is_named_with_its_number() {
        let err = parse("relais_x 1\nrelais_y{flow=\"a} 2\n").unwrap_err();
        assert!(err.starts_with("line 2: unclosed label value"), "{err}");
        assert!(parse("relais_x one\n").unwrap_err().contains("`one` is not a number"));
    }

    #[test]
    fn labels_read_as_rates_sizes_and_shares() {
        let v = Volume {
            events: 10,
            errors: 1,
            error_share: Some(0.1),
            messages_per_hour: Some(1200.0),
            bytes: Some(5),
            bytes_per_day: Some(3_100_000.0),
        };
        assert_eq!(label(&v), "1200/h · 3.1 MB/day · 10% errors");
    }
}
