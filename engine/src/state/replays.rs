//! The replay queues of broker listeners. A message an `amqp.listener` or `nats.listener` flow gave up on
//! is kept as a dead letter whose queue is its flow's replay queue (`relais.replay.FLOW`), a persistent
//! queue in the state store that the listener consumes beside its broker. Replaying the letter
//! (`relais dlq replay`, `POST /dead-letters/ID/replay`) moves it there in one change of the store, the
//! letter taken and the message queued together, so it runs once across replicas and survives a restart;
//! the listener then runs its flow on the message as the broker delivered it (body, headers, properties,
//! trace context), never publishing it to the broker again, where every other consumer of the stream or
//! exchange would get it a second time.

/// What every replay queue's name starts with: names under `relais.` belong to the engine.
const PREFIX: &str = "relais.replay.";

/// The replay queue of the broker listener of `flow`.
pub fn queue_of(flow: &str) -> String {
    format!("{PREFIX}{flow}")
}

/// Whether `queue` is a broker listener's replay queue (a persistent queue, whether or not a listener of
/// the running program consumes it).
pub fn is_replay_queue(queue: &str) -> bool {
    queue.strip_prefix(PREFIX).is_some_and(|flow| !flow.is_empty())
}

/// The flow a replay queue feeds.
pub fn flow_of(queue: &str) -> Option<&str> {
    queue.strip_prefix(PREFIX).filter(|flow| !flow.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_s_replay_queue_names_the_flow_and_nothing_else_is_one() {
        let queue = queue_of("orders_in");
        assert_eq!(queue, "relais.replay.orders_in");
        assert!(is_replay_queue(&queue));
        assert_eq!(flow_of(&queue), Some("orders_in"));
        for other in ["orders", "relais.replay.", "relais.scheduler.ticks", "replay.orders_in"] {
            assert!(!is_replay_queue(other), "{other}");
            assert_eq!(flow_of(other), None);
        }
    }
}
