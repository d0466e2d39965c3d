//! The base protocol of `relais lsp`: `Content-Length` framed JSON-RPC messages on stdin and stdout.
//!
//! Framing is ours rather than lsp-server's stdio transport, which ends the connection on the first message
//! that is not valid JSON: here a malformed message becomes [`Incoming::Malformed`], answered with a JSON-RPC
//! error, and the next message is read as usual. A body is never read past [`MAX_MESSAGE`] bytes into memory.

use lsp_server::{ErrorCode, Message, RequestId};
use std::io::{BufRead, Read};

/// The largest message body read; a larger one is skipped and answered with an error (no editor sends
/// documents this large: flow files are refused above 8 MiB).
pub const MAX_MESSAGE: usize = 32 * 1024 * 1024;

/// A header line longer than this is not a header (garbage without a newline is not read into memory whole).
const MAX_HEADER_LINE: u64 = 4096;

/// What one read from the client gave.
#[derive(Debug)]
pub enum Incoming {
    /// A well-formed message.
    Message(Message),
    /// Something that is not a message: answered with `code`, for the request `id` when it could be read.
    Malformed {
        /// The request's id, when the body was a JSON object holding one.
        id: Option<RequestId>,
        /// `ParseError` (not JSON, bad framing) or `InvalidRequest` (JSON, but not a JSON-RPC message).
        code: ErrorCode,
        /// What was wrong, for the client's log.
        message: String,
    },
    /// The client closed its end.
    Closed,
}

/// Reads the next message (or the next thing that should have been one). Garbage glued before a header is
/// answered on its own, before the message that follows it, so two results may come from one read.
pub fn read(input: &mut dyn BufRead) -> std::io::Result<Vec<Incoming>> {
    let mut glued: Option<Incoming> = None;
    let next = read_one(input, &mut glued)?;
    Ok(glued.into_iter().chain(std::iter::once(next)).collect())
}

fn read_one(input: &mut dyn BufRead, glued: &mut Option<Incoming>) -> std::io::Result<Incoming> {
    let mut length: Option<usize> = None;
    let mut bad_header: Option<String> = None;
    let mut any_header = false;
    loop {
        let mut line = String::new();
        let n = Read::take(&mut *input, MAX_HEADER_LINE).read_line(&mut line);
        let n = match n {
            Ok(n) => n,
            // A header that is not UTF-8: the bytes are consumed, so the next line is read as usual.
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                bad_header = Some("a header line that is not UTF-8".into());
                continue;
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(if any_header {
                malformed(None, ErrorCode::ParseError, "the input ended inside a header")
            } else {
                Incoming::Closed
            });
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            if any_header {
                break;
            }
            continue; // blank lines between messages
        }
        any_header = true;
        // A `Content-Length` anywhere in the line: after a body that was not what its length said, the next
        // header may be glued to the end of the garbage, and this finds the way back into the stream.
        let lower = trimmed.to_ascii_lowercase();
        match lower.rfind("content-length:") {
            Some(at) => match trimmed[at + "content-length:".len()..].trim().parse::<usize>() {
                Ok(len) => {
                    length = Some(len);
                    if at > 0 {
                        let why = format!("text before a header: {:?}", preview(&trimmed[..at]));
                        *glued = Some(malformed(None, ErrorCode::ParseError, &why));
                    }
                }
                Err(_) => bad_header = Some(format!("a Content-Length that is not a number: {:?}", preview(trimmed))),
            },
            None if trimmed.contains(':') => {} // another header (Content-Type): nothing to do
            None => bad_header = Some(format!("not a header: {:?}", preview(trimmed))),
        }
    }
    let Some(length) = length else {
        let why = bad_header.unwrap_or_else(|| "a message without a Content-Length header".into());
        return Ok(malformed(None, ErrorCode::ParseError, &why));
    };
    if length > MAX_MESSAGE {
        std::io::copy(&mut Read::take(&mut *input, length as u64), &mut std::io::sink())?;
        return Ok(malformed(
            None,
            ErrorCode::InvalidRequest,
            &format!("a message of {length} bytes, over the {MAX_MESSAGE}-byte limit"),
        ));
    }
    let mut body = vec![0; length];
    if let Err(e) = input.read_exact(&mut body) {
        return if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Ok(malformed(None, ErrorCode::ParseError, "the input ended inside a message"))
        } else {
            Err(e)
        };
    }
    if let Some(why) = bad_header {
        return Ok(malformed(None, ErrorCode::ParseError, &why));
    }
    Ok(parse(&body))
}

/// A message body: JSON first (else `ParseError`), then a JSON-RPC message (else `InvalidRequest`, with the
/// request's id when it has one, so the client can match the error to what it sent).
pub fn parse(body: &[u8]) -> Incoming {
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return malformed(None, ErrorCode::ParseError, &format!("the message is not JSON: {e}")),
    };
    let id = value.get("id").cloned().and_then(|id| serde_json::from_value::<RequestId>(id).ok());
    match serde_json::from_value::<Message>(value) {
        Ok(message) => Incoming::Message(message),
        Err(e) => {
            malformed(id, ErrorCode::InvalidRequest, &format!("not a JSON-RPC request, response or notification: {e}"))
        }
    }
}

/// Writes one message (a JSON object; `"jsonrpc": "2.0"` is added) with its `Content-Length` header.
pub fn write(out: &mut dyn std::io::Write, mut message: serde_json::Value) -> std::io::Result<()> {
    if let Some(object) = message.as_object_mut() {
        object.insert("jsonrpc".into(), serde_json::Value::from("2.0"));
    }
    let body = serde_json::to_string(&message)?;
    write!(out, "Content-Length: {}\r\n\r\n{body}", body.len())?;
    out.flush()
}

fn malformed(id: Option<RequestId>, code: ErrorCode, message: &str) -> Incoming {
    Incoming::Malformed { id, code, message: message.to_string() }
}

fn preview(text: &str) -> String {
    text.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &str) -> Vec<String> {
        let mut reader = std::io::BufReader::new(input.as_bytes());
        let mut out = Vec::new();
        loop {
            let Ok(items) = read(&mut reader) else { return out };
            for item in items {
                match item {
                    Incoming::Closed => return out,
                    Incoming::Message(Message::Request(r)) => out.push(format!("request {}", r.method)),
                    Incoming::Message(m) => out.push(format!("{m:?}")),
                    Incoming::Malformed { code, .. } => out.push(format!("malformed {}", code as i32)),
                }
            }
        }
    }

    fn framed(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[test]
    fn a_body_that_is_not_json_is_a_parse_error_and_the_next_message_is_read() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let input = format!("{}{}", framed("not json"), framed(ok));
        assert_eq!(read_all(&input), ["malformed -32700", "request shutdown"]);
    }

    #[test]
    fn json_that_is_not_a_message_is_an_invalid_request_with_its_id() {
        match parse(br#"{"id":7,"method":42}"#) {
            Incoming::Malformed { id, code, .. } => {
                assert_eq!(id, Some(RequestId::from(7)));
                assert_eq!(code as i32, ErrorCode::InvalidRequest as i32);
            }
            other => panic!("expected an invalid request, got {other:?}"),
        }
    }

    #[test]
    fn garbage_lines_glued_to_the_next_header_do_not_lose_the_stream() {
        let ok = r#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#;
        let input = format!("garbage without length\r\n\r\nmore garbage{}", framed(ok));
        assert_eq!(read_all(&input), ["malformed -32700", "malformed -32700", "request shutdown"]);
    }

    #[test]
    fn a_huge_length_is_refused_without_reading_it_into_memory() {
        let input = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE + 1);
        assert_eq!(read_all(&input), ["malformed -32600"]);
    }
}
