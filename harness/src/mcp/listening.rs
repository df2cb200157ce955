//! Notification streams held open for a whole run: the GET stream with
//! `resources/subscribe` before 2026-07-28, `subscriptions/listen` in 2026-07-28 (over a
//! stream transport, the connection itself). Counts what arrives, the streams that broke,
//! and, where the server stamps its notifications with the time it sent them
//! ([`SENT_AT_KEY`] in their `_meta`), how long each took to arrive.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{Value, json};

use super::jsonrpc::RequestTemplate;

/// The `_meta` key of a notification's send time, microseconds since the Unix epoch (the
/// reference server's; other servers' notifications are counted without a delivery time).
pub const SENT_AT_KEY: &str = "erlmcp-perf/sentAtUs";

/// What the sessions of a run listen to, and what they heard.
#[derive(Debug)]
pub struct Listening {
    /// The resource each session subscribes to.
    pub uri: String,
    opened: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    /// Delivery latency of stamped notifications, microseconds.
    delivery: Mutex<Histogram<u64>>,
}

/// What the notification streams of a run saw.
#[derive(Debug, Clone, PartialEq)]
pub struct Heard {
    /// Streams opened (again after a drop, too).
    pub opened: u64,
    /// Streams that ended while their session was still in use.
    pub dropped: u64,
    /// `notifications/resources/updated` received.
    pub received: u64,
    /// Their delivery latency, where the server stamped them.
    pub delivery: Histogram<u64>,
}

impl Listening {
    /// Listening to `uri`.
    pub fn new(uri: impl Into<String>) -> Self {
        let mut delivery = Histogram::new(3).expect("3 significant digits");
        delivery.auto(true);
        Self {
            uri: uri.into(),
            opened: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            received: AtomicU64::new(0),
            delivery: Mutex::new(delivery),
        }
    }

    /// The request that subscribes in the generation `version` speaks:
    /// `resources/subscribe`, or (2026-07-28) `subscriptions/listen`.
    pub fn subscribe(&self, version: &str) -> RequestTemplate {
        if super::is_modern(version) {
            let params = json!({"notifications": {"resourceSubscriptions": [self.uri]}});
            RequestTemplate::modern("subscriptions/listen", Some(&params), None)
        } else {
            RequestTemplate::new("resources/subscribe", Some(&json!({"uri": self.uri})))
        }
    }

    pub(super) fn opened(&self) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn dropped(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Looks at a message from the server: an update of the resource is counted, and its
    /// delivery timed if the server stamped it.
    pub(super) fn observe(&self, message: &[u8]) {
        #[derive(Deserialize)]
        struct Note {
            method: Option<String>,
            #[serde(default)]
            params: Value,
        }
        let Ok(Note {
            method: Some(method),
            params,
        }) = serde_json::from_slice::<Note>(message)
        else {
            return;
        };
        if method != "notifications/resources/updated" {
            return;
        }
        self.received.fetch_add(1, Ordering::Relaxed);
        let Some(sent) = params
            .pointer("/_meta")
            .and_then(|m| m.get(SENT_AT_KEY))
            .and_then(Value::as_u64)
        else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let mut delivery = self.delivery.lock().unwrap_or_else(|e| e.into_inner());
        let _ = delivery.record(now.saturating_sub(sent).max(1));
    }

    /// What was heard so far.
    pub fn heard(&self) -> Heard {
        Heard {
            opened: self.opened.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
            delivery: self
                .delivery
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_are_counted_and_stamped_ones_timed() {
        let listening = Listening::new("ref://clock");
        let sent = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_micros() as u64
            - 2_000;
        let stamped = json!({"jsonrpc": "2.0", "method": "notifications/resources/updated",
            "params": {"uri": "ref://clock", "_meta": {SENT_AT_KEY: sent}}});
        listening.observe(stamped.to_string().as_bytes());
        listening.observe(
            br#"{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"x"}}"#,
        );
        listening.observe(br#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#);
        let heard = listening.heard();
        assert_eq!(heard.received, 2);
        assert_eq!(heard.delivery.len(), 1);
        assert!(heard.delivery.max() >= 2_000);
        let listen: Value =
            serde_json::from_slice(&listening.subscribe("2026-07-28").body(1)).unwrap();
        assert_eq!(listen["method"], "subscriptions/listen");
        assert_eq!(
            listen["params"]["notifications"]["resourceSubscriptions"][0],
            "ref://clock"
        );
    }
}
