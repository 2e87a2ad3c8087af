//! The table of requests and pings awaiting an answer, with their deadlines.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::RequestId;

/// What kind of answer an entry awaits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Awaiting {
    /// Any frame with the id (the reply to `request`).
    Reply,
    /// A PONG with the id; the ping left at `sent_at`.
    Pong { sent_at: Instant },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    awaiting: Awaiting,
    deadline: Option<Instant>,
}

/// Bounded; ordered maps only, so iteration order never depends on a hasher
/// seeded from OS randomness.
#[derive(Debug, Default)]
pub(crate) struct PendingTable {
    entries: BTreeMap<RequestId, Entry>,
    deadlines: BTreeSet<(Instant, RequestId)>,
}

impl PendingTable {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn contains(&self, id: RequestId) -> bool {
        self.entries.contains_key(&id)
    }

    pub(crate) fn insert(&mut self, id: RequestId, awaiting: Awaiting, deadline: Option<Instant>) {
        if let Some(Entry {
            deadline: Some(old),
            ..
        }) = self.entries.insert(id, Entry { awaiting, deadline })
        {
            self.deadlines.remove(&(old, id));
        }
        if let Some(d) = deadline {
            self.deadlines.insert((d, id));
        }
    }

    /// Removes and returns the entry for `id` if it awaits what `accepts` allows.
    pub(crate) fn take_if(
        &mut self,
        id: RequestId,
        accepts: impl FnOnce(Awaiting) -> bool,
    ) -> Option<Awaiting> {
        let entry = self.entries.get(&id)?;
        if !accepts(entry.awaiting) {
            return None;
        }
        self.remove(id)
    }

    pub(crate) fn remove(&mut self, id: RequestId) -> Option<Awaiting> {
        let entry = self.entries.remove(&id)?;
        if let Some(d) = entry.deadline {
            self.deadlines.remove(&(d, id));
        }
        Some(entry.awaiting)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|&(d, _)| d)
    }

    /// Removes one entry whose deadline is at or before `now`.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<RequestId> {
        let &(deadline, id) = self.deadlines.first()?;
        if deadline > now {
            return None;
        }
        self.remove(id);
        Some(id)
    }

    /// Removes every entry, earliest deadline first, then those without one.
    pub(crate) fn drain(&mut self) -> Vec<RequestId> {
        let mut ids: Vec<RequestId> = self.deadlines.iter().map(|&(_, id)| id).collect();
        ids.extend(
            self.entries
                .iter()
                .filter(|(_, e)| e.deadline.is_none())
                .map(|(&id, _)| id),
        );
        self.entries.clear();
        self.deadlines.clear();
        ids
    }
}
