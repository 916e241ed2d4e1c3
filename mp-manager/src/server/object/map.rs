//! Dicts and namespaces: a map from key bytes to items that keeps
//! insertion order.

use std::collections::{BTreeMap, HashMap, hash_map};

use serde_bytes::ByteBuf;

use super::refs_of;
use crate::number;
use crate::server::Caller;
use crate::wire::{Answer, Fault, Item, Op};

/// A map that keeps insertion order (Python dicts do).
#[derive(Default)]
pub(super) struct Map {
    entries: HashMap<Vec<u8>, (u64, Item)>,
    order: BTreeMap<u64, Vec<u8>>,
    next: u64,
}

impl Map {
    pub(super) fn from_pairs(pairs: Vec<(ByteBuf, Item)>) -> Map {
        let mut map = Map::default();
        for (k, v) in pairs {
            map.insert(k.into_vec(), v);
        }
        map
    }

    fn get(&self, key: &[u8]) -> Option<&Item> {
        self.entries.get(key).map(|(_, item)| item)
    }

    /// Inserts or replaces (an existing key keeps its position); returns the old item.
    fn insert(&mut self, key: Vec<u8>, item: Item) -> Option<Item> {
        match self.entries.entry(key) {
            hash_map::Entry::Occupied(mut entry) => {
                Some(std::mem::replace(&mut entry.get_mut().1, item))
            }
            hash_map::Entry::Vacant(entry) => {
                let seq = self.next;
                self.next += 1;
                self.order.insert(seq, entry.key().clone());
                entry.insert((seq, item));
                None
            }
        }
    }

    fn remove(&mut self, key: &[u8]) -> Option<Item> {
        let (seq, item) = self.entries.remove(key)?;
        self.order.remove(&seq);
        Some(item)
    }

    fn pop_last(&mut self) -> Option<(Vec<u8>, Item)> {
        let (_, key) = self.order.pop_last()?;
        let (_, item) = self.entries.remove(&key).expect("order and entries agree");
        Some((key, item))
    }

    /// The entries from insertion number `seq` on, in order, with their numbers.
    pub(super) fn entries_from(&self, seq: u64) -> impl Iterator<Item = (u64, &Vec<u8>, &Item)> {
        self.order
            .range(seq..)
            .map(|(&seq, key)| (seq, key, &self.entries[key].1))
    }

    fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Item)> {
        self.order.values().map(|key| (key, &self.entries[key].1))
    }

    pub(super) fn clear(&mut self) -> Vec<Item> {
        self.order.clear();
        self.entries.drain().map(|(_, (_, item))| item).collect()
    }
}

// The operations clients send.
impl Map {
    /// Runs an operation on a dict or a namespace.
    pub(super) fn execute(&mut self, op: Op, caller: &Caller<'_>) -> Result<Answer, Fault> {
        match op {
            Op::MapGet(_)
            | Op::MapContains(_)
            | Op::MapKeys
            | Op::MapValues
            | Op::MapItems
            | Op::MapLen => Ok(self.read(op, caller)),
            Op::MapUpdate(pairs) => self.update(pairs, caller),
            Op::MapSetDefault(key, item) => self.set_default(key, item, caller),
            Op::MapCompareSwap { key, expected, new } => {
                self.compare_swap(key, expected.as_deref(), new, caller)
            }
            op => self.write(op, caller),
        }
    }

    /// Answers an operation that changes nothing.
    fn read(&self, op: Op, caller: &Caller<'_>) -> Answer {
        match op {
            Op::MapGet(key) => {
                let item = self.get(&key).cloned();
                if let Some(item) = &item {
                    caller.grant(&item.refs);
                }
                Answer::MaybeItem(item)
            }
            Op::MapContains(key) => Answer::Bool(self.entries.contains_key(&key)),
            Op::MapKeys => Answer::Keys(self.iter().map(|(k, _)| k.clone().into()).collect()),
            Op::MapValues => {
                let items: Vec<Item> = self.iter().map(|(_, v)| v.clone()).collect();
                caller.grant(&refs_of(&items));
                Answer::Items(items)
            }
            Op::MapItems => {
                let pairs: Vec<(ByteBuf, Item)> = self
                    .iter()
                    .map(|(k, v)| (k.clone().into(), v.clone()))
                    .collect();
                caller.grant(&refs_of(pairs.iter().map(|(_, v)| v)));
                Answer::Pairs(pairs)
            }
            Op::MapLen => Answer::Count(self.entries.len() as u64),
            _ => unreachable!("dispatched by execute"),
        }
    }

    /// Runs an operation that sets or removes one entry, or all of them.
    fn write(&mut self, op: Op, caller: &Caller<'_>) -> Result<Answer, Fault> {
        Ok(match op {
            Op::MapInsert(key, item) => {
                caller.hold(&item.refs)?;
                let old = self.insert(key, item);
                if let Some(old) = &old {
                    hand_over(old, caller);
                }
                Answer::MaybeItem(old)
            }
            Op::MapSet(key, item) => {
                caller.hold(&item.refs)?;
                match self.entries.get_mut(&key) {
                    Some((_, slot)) => {
                        let old = std::mem::replace(slot, item);
                        caller.release(old.refs);
                        caller.discard(old.bytes);
                        caller.discard(key);
                    }
                    None => {
                        self.insert(key, item);
                    }
                }
                Answer::Unit
            }
            Op::MapRemove(key) => {
                let item = self.remove(&key);
                if let Some(item) = &item {
                    hand_over(item, caller);
                }
                Answer::MaybeItem(item)
            }
            Op::MapClear => {
                caller.release(refs_of(&self.clear()));
                Answer::Unit
            }
            Op::MapPopItem => {
                let pair = self.pop_last();
                if let Some((_, item)) = &pair {
                    hand_over(item, caller);
                }
                Answer::MaybePair(pair.map(|(k, v)| (k.into(), v)))
            }
            Op::MapArith(key, arith) => {
                let (old, new) = number::apply(self.get(&key).map(|i| i.bytes.as_slice()), &arith)?;
                self.insert(
                    key,
                    Item {
                        bytes: new,
                        refs: Vec::new(),
                    },
                );
                Answer::Item(Item {
                    bytes: old,
                    refs: Vec::new(),
                })
            }
            _ => unreachable!("dispatched by execute"),
        })
    }

    /// Sets every pair (Python's `dict.update`).
    fn update(
        &mut self,
        pairs: Vec<(ByteBuf, Item)>,
        caller: &Caller<'_>,
    ) -> Result<Answer, Fault> {
        caller.hold(&refs_of(pairs.iter().map(|(_, v)| v)))?;
        let mut released = Vec::new();
        for (k, v) in pairs {
            if let Some(old) = self.insert(k.into_vec(), v) {
                released.extend(old.refs);
            }
        }
        caller.release(released);
        Ok(Answer::Unit)
    }

    /// Answers the entry `key`, setting it to `item` first if it is missing.
    fn set_default(
        &mut self,
        key: Vec<u8>,
        item: Item,
        caller: &Caller<'_>,
    ) -> Result<Answer, Fault> {
        if let Some(existing) = self.get(&key) {
            let existing = existing.clone();
            caller.grant(&existing.refs);
            return Ok(Answer::Item(existing));
        }
        caller.hold(&item.refs)?;
        caller.grant(&item.refs);
        self.insert(key, item.clone());
        Ok(Answer::Item(item))
    }

    /// Sets (or with `None` removes) the entry `key` if it is still encoded
    /// as `expected` (`None`: absent); else answers what it is now.
    fn compare_swap(
        &mut self,
        key: Vec<u8>,
        expected: Option<&[u8]>,
        new: Option<Item>,
        caller: &Caller<'_>,
    ) -> Result<Answer, Fault> {
        let current = self.get(&key);
        if current.map(|i| i.bytes.as_slice()) != expected {
            let current = current.cloned();
            if let Some(item) = &current {
                caller.grant(&item.refs);
            }
            return Ok(Answer::Swapped(Err(current)));
        }
        let old = match new {
            Some(item) => {
                caller.hold(&item.refs)?;
                self.insert(key, item)
            }
            None => self.remove(&key),
        };
        if let Some(old) = &old {
            hand_over(old, caller);
        }
        Ok(Answer::Swapped(Ok(old)))
    }
}

/// An item handed back to the caller moves its holds to the caller.
fn hand_over(item: &Item, caller: &Caller<'_>) {
    caller.grant(&item.refs);
    caller.release(item.refs.iter().copied());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(b: u8) -> Item {
        Item {
            bytes: vec![b],
            refs: Vec::new(),
        }
    }

    #[test]
    fn map_keeps_insertion_order_and_replaces_in_place() {
        let mut map = Map::default();
        assert!(map.insert(b"b".to_vec(), item(1)).is_none());
        assert!(map.insert(b"a".to_vec(), item(2)).is_none());
        assert_eq!(map.insert(b"b".to_vec(), item(3)), Some(item(1)));
        let keys: Vec<&[u8]> = map.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, [&b"b"[..], b"a"]);
        assert_eq!(map.pop_last(), Some((b"a".to_vec(), item(2))));
        assert_eq!(map.remove(b"b"), Some(item(3)));
        assert!(map.remove(b"b").is_none());
        assert!(map.pop_last().is_none());
        assert_eq!(map.iter().count(), 0);
    }
}
