//! What one WebSocket connection has yet to send, newest state per key. A client that reads
//! slowly holds at most one pending message per space (plus stats), never an unbounded queue.

use std::collections::HashMap;
use std::time::Instant;

use bytestring::ByteString;
use parking_lot::Mutex;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Snapshot,
    Slot(i64),
    Camera(String),
    Stats,
    Database,
}

pub struct Outbox {
    inner: Mutex<Inner>,
}

struct Inner {
    pending: HashMap<Key, (u64, ByteString)>,
    /// Since when a wake-up is on its way to the connection (no need to send another); the
    /// oldest message waiting is that old.
    woken_at: Option<Instant>,
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox { inner: Mutex::new(Inner { pending: HashMap::new(), woken_at: None }) }
    }
}

impl Outbox {
    /// Queues `frame` in place of any older one under the same key; true when the connection
    /// must be woken to send it.
    pub fn put(&self, key: Key, seq: u64, frame: ByteString) -> bool {
        let mut inner = self.inner.lock();
        inner.pending.insert(key, (seq, frame));
        inner.wake()
    }

    /// Replaces everything pending with a snapshot: the state of the lot as of now.
    pub fn reset(&self, seq: u64, snapshot: ByteString) -> bool {
        let mut inner = self.inner.lock();
        inner.pending.clear();
        inner.pending.insert(Key::Snapshot, (seq, snapshot));
        inner.wake()
    }

    /// Takes every pending message in the order it was produced.
    pub fn drain(&self) -> Vec<ByteString> {
        let mut inner = self.inner.lock();
        inner.woken_at = None;
        let mut items: Vec<(u64, ByteString)> = inner.pending.drain().map(|(_, v)| v).collect();
        drop(inner);
        items.sort_unstable_by_key(|(seq, _)| *seq);
        items.into_iter().map(|(_, f)| f).collect()
    }

    /// Messages have waited since this instant without being taken (None when nothing waits).
    pub fn stalled_since(&self) -> Option<Instant> {
        let inner = self.inner.lock();
        inner.woken_at.filter(|_| !inner.pending.is_empty())
    }

    pub fn len(&self) -> usize {
        self.inner.lock().pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// True when this put is the one that must wake the connection.
    fn wake(&mut self) -> bool {
        if self.woken_at.is_some() {
            return false;
        }
        self.woken_at = Some(Instant::now());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_state_per_key_wins_in_order() {
        let o = Outbox::default();
        assert!(o.put(Key::Slot(1), 1, "a1".into()), "first message wakes");
        assert!(!o.put(Key::Slot(2), 2, "b1".into()), "no second wake while one is pending");
        assert!(!o.put(Key::Slot(1), 3, "a2".into()));
        assert_eq!(o.len(), 2);
        assert_eq!(o.drain(), vec![ByteString::from("b1"), ByteString::from("a2")]);
        assert!(o.is_empty());
        assert!(o.put(Key::Stats, 4, "s".into()), "wakes again after a drain");
        assert!(!o.reset(5, "snap".into()));
        assert_eq!(o.drain(), vec![ByteString::from("snap")]);
    }

    #[test]
    fn waiting_is_counted_from_the_oldest_message_not_the_last_drain() {
        let o = Outbox::default();
        assert_eq!(o.stalled_since(), None);
        o.put(Key::Stats, 1, "s".into());
        o.drain();
        std::thread::sleep(std::time::Duration::from_millis(20)); // a client idle between changes
        let before = Instant::now();
        o.put(Key::Slot(1), 2, "a".into());
        o.put(Key::Slot(2), 3, "b".into());
        assert!(o.stalled_since().is_some_and(|t| t >= before), "an idle client is not a stalled one");
        o.drain();
        assert_eq!(o.stalled_since(), None);
    }

    #[test]
    fn a_slow_reader_holds_one_message_per_space() {
        let o = Outbox::default();
        for seq in 0..10_000u64 {
            o.put(Key::Slot((seq % 40) as i64), seq, format!("m{seq}").into());
        }
        assert_eq!(o.len(), 40);
        assert!(o.stalled_since().is_some());
    }
}
