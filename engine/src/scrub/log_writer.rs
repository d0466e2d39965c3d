//! The log exit: every line `relais run` writes to standard error passes through [`LogWriter`], which takes
//! out every known secret (in all its forms) whatever the call site formatted. Lines about an event are
//! scrubbed of its sensitive values before they are formatted (`Runtime::scrub`); this writer is the net
//! under every other line.

use std::io::Write;

/// A `tracing_subscriber` writer to standard error that scrubs each line of the secrets known.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The formatter hands over one whole line per call, so a secret is never split across two writes.
        let text = String::from_utf8_lossy(buf);
        let scrubbed = super::Scrub::secrets().text(&text).into_owned();
        std::io::stderr().lock().write_all(scrubbed.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter
    }
}
