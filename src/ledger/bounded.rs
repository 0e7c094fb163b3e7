//! A map with a capacity and a time to live, evicted oldest first, for state
//! that must stay bounded whatever services send.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct BoundedMap<K, V> {
    entries: HashMap<K, (V, Instant)>,
    order: VecDeque<(K, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl<K: Eq + Hash + Clone, V> BoundedMap<K, V> {
    pub fn new(capacity: usize, ttl: Duration) -> BoundedMap<K, V> {
        BoundedMap {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    /// Inserts or replaces an entry, then evicts expired entries and, past
    /// the capacity, the oldest ones.
    pub fn insert(&mut self, key: K, value: V, now: Instant) {
        self.entries.insert(key.clone(), (value, now));
        self.order.push_back((key, now));
        self.evict(now);
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(value, _)| value)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(value, _)| value)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn evict(&mut self, now: Instant) {
        while let Some((key, inserted)) = self.order.front() {
            let expired = now.saturating_duration_since(*inserted) >= self.ttl;
            if !expired && self.entries.len() <= self.capacity {
                break;
            }
            // The queue keeps one record per insert; only the record that
            // matches the entry's latest insert time removes the entry.
            if self.entries.get(key).is_some_and(|(_, at)| at == inserted) {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
        if self.order.len() > self.capacity.saturating_mul(4).max(64) {
            let entries = &self.entries;
            self.order
                .retain(|(key, inserted)| entries.get(key).is_some_and(|(_, at)| at == inserted));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_evicts_oldest() {
        let now = Instant::now();
        let mut map = BoundedMap::new(2, Duration::from_secs(60));
        map.insert("a", 1, now);
        map.insert("b", 2, now);
        map.insert("c", 3, now);
        assert_eq!(map.get(&"a"), None);
        assert_eq!(map.get(&"b"), Some(&2));
        assert_eq!(map.get(&"c"), Some(&3));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn ttl_expires_entries() {
        let start = Instant::now();
        let mut map = BoundedMap::new(10, Duration::from_secs(5));
        map.insert("a", 1, start);
        map.insert("b", 2, start + Duration::from_secs(6));
        assert_eq!(map.get(&"a"), None);
        assert_eq!(map.get(&"b"), Some(&2));
    }

    #[test]
    fn reinsert_refreshes_entry() {
        let start = Instant::now();
        let mut map = BoundedMap::new(10, Duration::from_secs(5));
        map.insert("a", 1, start);
        map.insert("a", 2, start + Duration::from_secs(4));
        map.evict(start + Duration::from_secs(6));
        assert_eq!(map.get(&"a"), Some(&2));
    }
}
