//! Failpoints: named places at the dangerous moments of the event flow, where a test makes the
//! code stop as a crash would there (the transaction is dropped, nothing more is sent or acked)
//! and then checks that nothing is lost or doubled once it runs again. Unarmed, a failpoint
//! costs one atomic load.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// After the outbox rows are read, before any is published (a state change is committed, its
/// event not yet sent).
pub const RELAY_BEFORE_PUBLISH: &str = "relay.before_publish";
/// After JetStream acknowledged the events, before their rows are marked sent.
pub const RELAY_BEFORE_MARK_SENT: &str = "relay.before_mark_sent";
/// After a message's effect and inbox row are committed, before it is acked.
pub const CONSUMER_BEFORE_ACK: &str = "consumer.before_ack";
/// In matching, after a group's place is taken, before the offer and its event are written.
pub const MATCHER_AFTER_TAKE: &str = "matcher.after_take";

static ANY: AtomicBool = AtomicBool::new(false);
static ARMED: Mutex<Option<HashMap<&'static str, u32>>> = Mutex::new(None);

/// Makes `name` fire the next `times` times it is reached.
pub fn arm(name: &'static str, times: u32) {
    let mut armed = ARMED.lock().unwrap();
    armed.get_or_insert_with(HashMap::new).insert(name, times);
    ANY.store(true, Ordering::SeqCst);
}

/// Whether the failpoint `name` fires here (and counts it).
pub fn fires(name: &str) -> bool {
    if !ANY.load(Ordering::Relaxed) {
        return false;
    }
    let mut armed = ARMED.lock().unwrap();
    let Some(left) = armed.as_mut().and_then(|m| m.get_mut(name)) else {
        return false;
    };
    if *left == 0 {
        return false;
    }
    *left -= 1;
    tracing::warn!(failpoint = name, "failpoint fired");
    true
}

/// An error for code that stops at a failpoint.
pub fn crash(name: &str) -> anyhow::Error {
    anyhow::anyhow!("stopped at failpoint {name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failpoint_fires_as_often_as_it_was_armed() {
        assert!(!fires("test.point"));
        arm("test.point", 2);
        assert!(fires("test.point"));
        assert!(fires("test.point"));
        assert!(!fires("test.point"));
        assert!(!fires("test.other"));
    }
}
