//! The behaviour every backend must have, written once against `&dyn StateStore` and instantiated per backend by
//! [`behaviour_suite!`] (in `memory.rs`, `redb.rs` and `postgres.rs`), so they cannot drift apart.

// Each test crate uses the suite through the macro, so rustc checks the helpers once per crate. The suite's
// functions are tests called from `#[test]`s, where a failed unwrap is a failed test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod concurrency;
pub mod dead_letters;
pub mod leases;
pub mod objects;
pub mod queues;

use relais_store::{DeadLetter, Failure, Message, Timestamp};
use serde_json::json;
use std::time::Duration;

/// An arbitrary start instant (2023-11-14), far from the epoch so nothing relies on small numbers.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

/// `T0` plus some milliseconds.
pub fn at(millis: u64) -> Timestamp {
    Timestamp::from_millis(T0.as_millis() + millis)
}

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A message whose payload is `text`.
pub fn message(text: &str) -> Message {
    Message {
        payload: text.as_bytes().to_vec(),
        media_type: "text/plain".to_string(),
        attributes: json!({ "headers": { "x-test": text } }),
        correlation_id: format!("corr-{text}"),
        trace: None,
    }
}

/// The failure of a flow's step.
pub fn failure(flow: &str, error_type: &str) -> Failure {
    Failure {
        flow: flow.to_string(),
        step: Some("call_crm".to_string()),
        location: Some("flows/orders.flow:12:5".to_string()),
        error_type: error_type.to_string(),
        error_description: format!("{error_type} while calling the CRM"),
        ..Failure::default()
    }
}

/// A dead letter of `flow` whose payload is `text`.
pub fn dead_letter(flow: &str, text: &str, queue: Option<&str>) -> DeadLetter {
    DeadLetter {
        flow: flow.to_string(),
        step: None,
        location: None,
        payload: text.as_bytes().to_vec(),
        media_type: "application/json".to_string(),
        attributes: json!({ "method": "POST" }),
        correlation_id: format!("corr-{text}"),
        error_type: "HTTP:TIMEOUT".to_string(),
        error_description: "no answer in 5s".to_string(),
        attempts: 1,
        first_failure: T0,
        last_failure: T0,
        queue: queue.map(str::to_string),
        sub_flow: None,
        payload_at_failure: None,
        media_type_at_failure: None,
        trace: None,
    }
}

/// One `#[test]` per behaviour, each calling `$make()` for a fresh store. `$make` returns anything that derefs to
/// a `StateStore` (a fixture can keep its temporary directory alive that way).
#[macro_export]
macro_rules! behaviour_suite {
    // `stream_keys`: how many keys the stream tests write (each write is a durable commit on redb, so its
    // suite writes fewer).
    ($make:expr, stream_keys: $keys:expr) => {
        #[test]
        fn expired_entries_stay_bounded_under_a_stream_of_new_keys() {
            let store = $make;
            behaviour::objects::expired_entries_stay_bounded_under_a_stream_of_new_keys(&*store, $keys);
        }
        $crate::behaviour_suite!(@tests $make;
            objects::an_entry_is_visible_until_its_ttl_and_gone_from_then_on,
            objects::an_entry_without_a_ttl_never_expires,
            objects::put_replaces_the_value_and_the_ttl,
            objects::store_names_keep_keys_apart,
            objects::put_if_absent_claims_a_key_only_once,
            objects::an_expired_key_can_be_claimed_again,
            objects::remove_reports_whether_a_live_entry_was_removed,
            objects::compare_and_set_changes_a_value_only_while_it_is_the_expected_one,
            objects::compare_and_set_never_matches_an_absent_or_expired_entry,
            objects::a_sweep_deletes_exactly_the_expired_entries,
            queues::messages_are_leased_in_fifo_order,
            queues::a_leased_message_is_hidden_from_other_consumers,
            queues::an_acked_message_is_gone_for_good,
            queues::a_nacked_message_comes_back_after_its_delay_with_one_more_delivery,
            queues::a_message_whose_lease_expired_is_delivered_again,
            queues::a_message_is_dead_lettered_with_its_error_after_max_deliveries,
            queues::a_redelivered_message_keeps_its_place_before_newer_messages,
            queues::a_nack_of_a_message_that_is_not_leased_changes_nothing,
            queues::queues_are_independent_and_ids_unique_across_them,
            queues::stats_count_ready_delayed_and_in_flight_messages,
            queues::released_leases_are_delivered_again_at_once_in_order_and_delayed_messages_stay_delayed,
            queues::a_message_keeps_its_payload_media_type_attributes_and_correlation_id,
            queues::ack_and_lease_acks_then_leases_a_batch_in_fifo_order,
            queues::a_batch_lease_that_is_never_acked_is_delivered_again_after_its_visibility_timeout,
            queues::unlease_gives_messages_back_without_counting_a_delivery,
            queues::the_oldest_ready_message_is_the_next_a_consumer_gets_with_its_enqueue_time,
            dead_letters::dead_letters_are_listed_oldest_first_and_filtered_by_flow_and_queue,
            dead_letters::listings_page_with_after_and_limit,
            dead_letters::get_returns_a_dead_letter_with_its_payload,
            dead_letters::take_removes_a_dead_letter_and_returns_it_only_once,
            dead_letters::purge_removes_the_matching_dead_letters_and_counts_them,
            dead_letters::replay_takes_a_letter_and_queues_its_message_once,
            dead_letters::concurrent_replays_publish_each_letter_once,
            dead_letters::a_letter_keeps_its_sub_flow_and_its_payload_at_failure_beside_its_message,
            dead_letters::letters_are_listed_and_purged_by_error_type,
            dead_letters::a_letter_keeps_its_trace_context_and_its_replay_carries_it,
            leases::a_lease_is_exclusive_until_it_expires,
            leases::the_holder_renews_its_own_lease,
            leases::release_frees_a_lease_only_for_its_holder,
            concurrency::concurrent_consumers_ack_every_message_exactly_once,
            concurrency::concurrent_claims_of_one_key_succeed_exactly_once,
            concurrency::batching_consumers_ack_every_message_exactly_once,
            queues::a_message_keeps_its_trace_context_and_one_without_stays_without,
        );
    };
    (@tests $make:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let store = $make;
                behaviour::$module::$name(&*store);
            }
        )*
    };
}
