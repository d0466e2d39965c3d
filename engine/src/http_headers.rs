//! HTTP headers as flows see them, the same for a listener's request and a client's answer: the media type
//! (with the side's default when none is sent) and every header as a JSON map of strings.

use hyper::header::HeaderName;
use hyper::HeaderMap;
use serde_json::{Map, Value as Json};

/// `X-Correlation-ID`, read from requests and written on answers and outbound calls. A constant because a
/// header name given as `&str` is parsed again at every use (3 % of a fixed answer's instructions).
pub const X_CORRELATION_ID: HeaderName = HeaderName::from_static("x-correlation-id");

/// The `content-type` header of a media type (`None` if it cannot be one), for a listener's answers and a
/// client's requests: the usual ones are built and checked once, at compile time, and cloned without a copy
/// (a value parsed per message checks and copies every byte; `from_static` called per message checks them).
pub fn content_type_value(media_type: &str) -> Option<hyper::header::HeaderValue> {
    use hyper::header::HeaderValue;
    static JSON: HeaderValue = HeaderValue::from_static("application/json");
    static PROBLEM: HeaderValue = HeaderValue::from_static("application/problem+json");
    static TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
    match media_type {
        "application/json" => Some(JSON.clone()),
        "application/problem+json" => Some(PROBLEM.clone()),
        "text/plain; charset=utf-8" => Some(TEXT.clone()),
        _ => media_type.parse().ok(),
    }
}

/// The `content-type` sent, or `default` when there is none or it is not text.
pub fn media_type(headers: &HeaderMap, default: &str) -> String {
    headers.get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or(default).to_string()
}

/// Every header by its lower-case name; a value that is not text becomes the empty string (a flow reads
/// headers as text, and such a value cannot be one).
pub fn to_json(headers: &HeaderMap) -> Map<String, Json> {
    headers.iter().map(|(k, v)| (k.as_str().to_string(), Json::String(v.to_str().unwrap_or("").to_string()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_content_type_value_reads_as_the_media_type_it_was_made_from() {
        for media_type in ["application/json", "application/problem+json", "text/plain; charset=utf-8", "text/csv"] {
            let value = content_type_value(media_type).map(|v| v.to_str().map(str::to_string));
            assert!(matches!(value, Some(Ok(ref v)) if v == media_type), "{media_type}: {value:?}");
        }
        assert!(content_type_value("text/plain\nx-injected: 1").is_none(), "not a header value");
    }

    #[test]
    fn a_missing_content_type_is_the_default_and_every_header_is_text() {
        let mut headers = HeaderMap::new();
        headers.insert("x-from", "listener".parse().unwrap_or_else(|_| unreachable!("a valid header value")));
        assert_eq!(media_type(&headers, "application/json"), "application/json");
        assert_eq!(to_json(&headers)["x-from"], "listener");
    }
}
