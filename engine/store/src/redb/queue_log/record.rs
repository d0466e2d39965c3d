//! The records of the queue log and their framing: `[length u32][CRC-32 u32][body]`, little-endian, the
//! checksum over the body. A record is appended once and never rewritten; replaying them in order rebuilds
//! every queue.
//!
//! A message is written whole once (`Message`); what happens to it afterwards is a small record naming its id
//! (`Leased` with the delivery count, `Nacked`, `Unleased`, `Removed`). Compaction writes a live message again,
//! whole and with its current state, as a `Message` record in a newer segment: the later record of an id
//! replaces the earlier one, so the old segment can be deleted.

use crate::message::Visibility;
use crate::time::Timestamp;
use crc32fast::hash as crc32;

/// Bytes before a record's body: its length and its checksum.
pub(super) const FRAME: usize = 8;

const MESSAGE: u8 = 1;
const LEASED: u8 = 2;
const REMOVED: u8 = 3;
const NACKED: u8 = 4;
const UNLEASED: u8 = 5;

/// One change of the queues, as it is appended to the log.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Record<'a> {
    /// A message and its whole state: enqueued (no delivery yet, ready) or carried forward by compaction.
    Message {
        id: u64,
        queue: &'a str,
        enqueued_at: Timestamp,
        deliveries: u32,
        first_failure: Option<Timestamp>,
        visibility: Visibility,
        /// The message's JSON header (`records::MessageHeader`): media type, attributes, correlation id, trace.
        header: &'a [u8],
        payload: &'a [u8],
    },
    /// Delivered (again): the count that guards `max_deliveries`, and the lease's expiry.
    Leased { id: u64, deliveries: u32, until: Timestamp },
    /// Acked, or moved to the dead letters: gone from its queue.
    Removed { id: u64 },
    /// A failed delivery, visible again at `visible_at`.
    Nacked { id: u64, visible_at: Timestamp, first_failure: Timestamp },
    /// Given back unstarted: ready, its delivery not counted.
    Unleased { id: u64 },
}

impl Record<'_> {
    /// The message the record is about.
    pub(super) fn id(&self) -> u64 {
        match self {
            Record::Message { id, .. }
            | Record::Leased { id, .. }
            | Record::Removed { id }
            | Record::Nacked { id, .. }
            | Record::Unleased { id } => *id,
        }
    }

    /// Appends the framed record to `out`, returning how many bytes it took.
    pub(super) fn append_to(&self, out: &mut Vec<u8>) -> usize {
        let start = out.len();
        out.extend_from_slice(&[0; FRAME]);
        match self {
            Record::Message { id, queue, enqueued_at, deliveries, first_failure, visibility, header, payload } => {
                out.push(MESSAGE);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&enqueued_at.as_millis().to_le_bytes());
                out.extend_from_slice(&deliveries.to_le_bytes());
                out.extend_from_slice(&first_failure.map_or(u64::MAX, Timestamp::as_millis).to_le_bytes());
                let (kind, at) = match visibility {
                    Visibility::Ready => (0u8, 0),
                    Visibility::Delayed(at) => (1, at.as_millis()),
                    Visibility::Leased(at) => (2, at.as_millis()),
                };
                out.push(kind);
                out.extend_from_slice(&at.to_le_bytes());
                put_bytes(out, queue.as_bytes());
                put_bytes(out, header);
                out.extend_from_slice(payload);
            }
            Record::Leased { id, deliveries, until } => {
                out.push(LEASED);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&deliveries.to_le_bytes());
                out.extend_from_slice(&until.as_millis().to_le_bytes());
            }
            Record::Removed { id } => {
                out.push(REMOVED);
                out.extend_from_slice(&id.to_le_bytes());
            }
            Record::Nacked { id, visible_at, first_failure } => {
                out.push(NACKED);
                out.extend_from_slice(&id.to_le_bytes());
                out.extend_from_slice(&visible_at.as_millis().to_le_bytes());
                out.extend_from_slice(&first_failure.as_millis().to_le_bytes());
            }
            Record::Unleased { id } => {
                out.push(UNLEASED);
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
        let body = &out[start + FRAME..];
        // A body longer than 4 GiB cannot be framed; payloads are bounded far below that by the listeners'
        // body limits, and the length is checked here anyway so such a record reads back as damaged, never
        // as another record.
        let length = u32::try_from(body.len()).unwrap_or(u32::MAX);
        let checksum = crc32(body);
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
        out[start + 4..start + FRAME].copy_from_slice(&checksum.to_le_bytes());
        out.len() - start
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// What reading the record at the start of some bytes found.
#[derive(Debug, PartialEq)]
pub(super) enum Read<'a> {
    /// A whole record with a matching checksum, and the bytes it took.
    Record(Record<'a>, usize),
    /// The bytes end inside the frame or the body: a write cut short.
    Truncated,
    /// The checksum does not match, or the body does not decode.
    Damaged(String),
}

/// Reads the framed record at the start of `bytes`.
pub(super) fn read(bytes: &[u8]) -> Read<'_> {
    let Some(frame) = bytes.get(..FRAME) else { return Read::Truncated };
    let length = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    let checksum = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Some(body) = bytes.get(FRAME..FRAME.saturating_add(length)) else { return Read::Truncated };
    if crc32(body) != checksum {
        return Read::Damaged(format!("checksum mismatch in a record of {length} bytes"));
    }
    match decode(body) {
        Ok(record) => Read::Record(record, FRAME + length),
        Err(why) => Read::Damaged(why),
    }
}

/// A cursor over a record's body.
struct Body<'a>(&'a [u8]);

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("a record ends {} bytes early", n - self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let length = self.u32()? as usize;
        self.take(length)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }

    fn end(&self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(format!("{} unexpected bytes after a record", self.0.len()))
        }
    }
}

fn decode(body: &[u8]) -> Result<Record<'_>, String> {
    let mut body = Body(body);
    let kind = body.u8()?;
    let id = body.u64()?;
    let record = match kind {
        MESSAGE => {
            let enqueued_at = Timestamp::from_millis(body.u64()?);
            let deliveries = body.u32()?;
            let first_failure = Some(body.u64()?).filter(|at| *at != u64::MAX).map(Timestamp::from_millis);
            let (kind, at) = (body.u8()?, Timestamp::from_millis(body.u64()?));
            let visibility = match kind {
                0 => Visibility::Ready,
                1 => Visibility::Delayed(at),
                2 => Visibility::Leased(at),
                other => return Err(format!("unknown visibility {other}")),
            };
            let queue = std::str::from_utf8(body.bytes()?).map_err(|_| "a queue name that is not UTF-8".to_string())?;
            let header = body.bytes()?;
            let payload = body.rest();
            Record::Message { id, queue, enqueued_at, deliveries, first_failure, visibility, header, payload }
        }
        LEASED => Record::Leased { id, deliveries: body.u32()?, until: Timestamp::from_millis(body.u64()?) },
        REMOVED => Record::Removed { id },
        NACKED => Record::Nacked {
            id,
            visible_at: Timestamp::from_millis(body.u64()?),
            first_failure: Timestamp::from_millis(body.u64()?),
        },
        UNLEASED => Record::Unleased { id },
        other => return Err(format!("unknown record kind {other}")),
    };
    body.end()?;
    Ok(record)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The on-disk format names the checksum: the standard CRC-32 (IEEE, reflected 0xEDB88320), whatever crate
    /// computes it, so that files written by one build are read by the next.
    #[test]
    fn records_are_framed_with_the_standard_crc32() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    fn samples() -> Vec<Record<'static>> {
        vec![
            Record::Message {
                id: 7,
                queue: "orders",
                enqueued_at: Timestamp::from_millis(1_000),
                deliveries: 2,
                first_failure: Some(Timestamp::from_millis(1_500)),
                visibility: Visibility::Delayed(Timestamp::from_millis(2_000)),
                header: br#"{"media_type":"application/json"}"#,
                payload: b"{\"id\":1}",
            },
            Record::Message {
                id: 8,
                queue: "q",
                enqueued_at: Timestamp::from_millis(1),
                deliveries: 0,
                first_failure: None,
                visibility: Visibility::Ready,
                header: b"{}",
                payload: b"",
            },
            Record::Leased { id: 7, deliveries: 3, until: Timestamp::from_millis(9_000) },
            Record::Removed { id: 7 },
            Record::Nacked { id: 8, visible_at: Timestamp::from_millis(5), first_failure: Timestamp::from_millis(4) },
            Record::Unleased { id: 8 },
        ]
    }

    #[test]
    fn every_record_reads_back_as_written_one_after_the_other() {
        let mut bytes = Vec::new();
        for record in samples() {
            record.append_to(&mut bytes);
        }
        let mut at = 0;
        for expected in samples() {
            match read(&bytes[at..]) {
                Read::Record(record, used) => {
                    assert_eq!(record, expected);
                    at += used;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(at, bytes.len());
        assert_eq!(read(&bytes[at..]), Read::Truncated);
    }

    #[test]
    fn a_record_cut_anywhere_reads_as_truncated() {
        let mut bytes = Vec::new();
        samples()[0].append_to(&mut bytes);
        for cut in 0..bytes.len() {
            assert_eq!(read(&bytes[..cut]), Read::Truncated, "cut at {cut}");
        }
    }

    #[test]
    fn a_flipped_byte_in_a_record_reads_as_damaged() {
        let mut bytes = Vec::new();
        samples()[0].append_to(&mut bytes);
        for at in FRAME..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            assert!(matches!(read(&damaged), Read::Damaged(_)), "flip at {at}");
        }
    }

    #[test]
    fn a_record_of_an_unknown_kind_with_a_good_checksum_is_damaged_not_a_panic() {
        let body = [9u8, 1, 0, 0, 0, 0, 0, 0, 0];
        let mut bytes = (body.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&crc32(&body).to_le_bytes());
        bytes.extend_from_slice(&body);
        assert_eq!(read(&bytes), Read::Damaged("unknown record kind 9".to_string()));
    }
}
