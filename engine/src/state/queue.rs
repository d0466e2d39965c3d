//! In-process queues between flows (`queue.publish` -> `queue.listener`): bounded, so a slow consumer
//! slows its publishers down (back-pressure) instead of growing memory without limit.
//!
//! Messages live in memory: they survive a hot reload (the queue belongs to [`super::State`], not
//! to a program) but not a restart; `persistent: true` queues come with the durable state store.

use crate::event::error::FlowError;
use crate::event::payload::Payload;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Mutex};

/// Default bound of a queue when no listener sets `capacity`.
pub const DEFAULT_CAPACITY: usize = 1000;

/// One queued message: what the consumer flow's event starts from.
#[derive(Debug, Clone)]
pub struct Message {
    /// The publisher's payload (shared, not copied).
    pub payload: Arc<Payload>,
    /// The publisher's correlation id, so that one business transaction keeps one id across flows.
    pub correlation_id: Arc<str>,
    /// The flow that published it.
    pub published_by: String,
    /// RFC 3339 time of publication.
    pub published_at: String,
    /// The span of the publish (`crate::trace`), the parent of the consumer's; `None` when tracing is off.
    pub trace: Option<crate::trace::TraceContext>,
}

/// A bounded multi-producer, multi-consumer queue.
pub struct Queue {
    name: String,
    capacity: usize,
    sender: mpsc::Sender<Message>,
    /// Consumers take turns on the receiver: one waits for the next message while the others process
    /// theirs, which makes several listener flows (or a new generation after a reload) compete fairly.
    receiver: Mutex<mpsc::Receiver<Message>>,
    /// Messages taken by a consumer and not finished yet (for the shutdown drain and metrics).
    in_flight: AtomicUsize,
    /// When the waiting messages were published, oldest first: the channel cannot be peeked, so the age
    /// of its head is kept beside it (see [`Queue::oldest_age`]).
    published: std::sync::Mutex<std::collections::VecDeque<Instant>>,
}

impl Queue {
    /// An empty queue holding at most `capacity` messages.
    pub fn new(name: &str, capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        Queue {
            name: name.to_string(),
            capacity: capacity.max(1),
            sender,
            receiver: Mutex::new(receiver),
            in_flight: AtomicUsize::new(0),
            published: std::sync::Mutex::default(),
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its bound.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Messages waiting for a consumer.
    pub fn depth(&self) -> usize {
        self.capacity - self.sender.capacity()
    }

    /// Messages being processed by a consumer.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// How long the oldest waiting message has waited (`None`: none waits). A publish and a take racing
    /// can record their instants out of step; the record is cut back to the depth here, so the answer is
    /// off by at most that race, never by more.
    pub fn oldest_age(&self) -> Option<Duration> {
        let depth = self.depth();
        let mut times = self.times();
        while times.len() > depth {
            times.pop_front();
        }
        if depth == 0 {
            return None;
        }
        times.front().map(|t| t.elapsed())
    }

    fn times(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<Instant>> {
        // Single pushes and pops: a poisoned lock is still consistent.
        self.published.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends a message, waiting while the queue is full; fails with `QUEUE:TIMEOUT` when no room
    /// appeared within `timeout`, so a publisher never hangs on a queue nobody reads.
    pub async fn publish(&self, message: Message, timeout: Duration) -> Result<(), FlowError> {
        match self.sender.send_timeout(message, timeout).await {
            Ok(()) => {
                self.times().push_back(Instant::now());
                Ok(())
            }
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(FlowError::new(
                "QUEUE:TIMEOUT",
                format!(
                    "queue `{}` stayed full ({} messages) for {timeout:?}: its consumers do not keep up",
                    self.name, self.capacity
                ),
            )),
            // The queue owns its receiver, so the channel cannot be closed while `self` exists.
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {
                Err(FlowError::new("QUEUE:CLOSED", format!("queue `{}` is closed", self.name)))
            }
        }
    }

    /// Waits for the next message and counts it in flight until the returned guard is dropped.
    /// Cancel-safe: dropping the future before it resolves loses no message.
    pub async fn take(self: &Arc<Self>) -> Option<(Message, InFlight)> {
        let message = self.receiver.lock().await.recv().await?;
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.times().pop_front();
        Some((message, InFlight(self.clone())))
    }
}

/// Marks a message as being processed; dropping it (done, or dead-lettered) ends that.
pub struct InFlight(Arc<Queue>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(n: i64) -> Message {
        Message {
            payload: Arc::new(Payload::value(serde_json::json!(n))),
            correlation_id: "c".into(),
            published_by: "f".into(),
            published_at: String::new(),
            trace: None,
        }
    }

    #[tokio::test]
    async fn a_full_queue_makes_its_publisher_wait_then_time_out() {
        let queue = Arc::new(Queue::new("q", 2));
        queue.publish(message(1), Duration::from_millis(10)).await.unwrap();
        queue.publish(message(2), Duration::from_millis(10)).await.unwrap();
        assert_eq!(queue.depth(), 2);
        let err = queue.publish(message(3), Duration::from_millis(20)).await.unwrap_err();
        assert_eq!(err.error_type.to_string(), "QUEUE:TIMEOUT");
        let (first, guard) = queue.take().await.unwrap();
        assert_eq!(first.payload.to_bytes(), b"1");
        assert_eq!((queue.depth(), queue.in_flight()), (1, 1));
        assert!(queue.oldest_age().is_some(), "one message still waits");
        drop(guard);
        assert_eq!(queue.in_flight(), 0);
        queue.publish(message(3), Duration::from_millis(10)).await.unwrap();
        let _ = queue.take().await.unwrap();
        let _ = queue.take().await.unwrap();
        assert_eq!(queue.oldest_age(), None, "nothing waits");
    }
}
