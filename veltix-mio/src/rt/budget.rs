//! Cooperative scheduling: how much socket work one poll of a task may do.
//!
//! One task (a connection flooded with small frames, say) could otherwise
//! keep the only loop thread busy for a long time in a single poll, and every
//! other connection would wait. Each socket operation costs one unit plus
//! one per 16 KiB moved; once a poll has spent its units, socket operations
//! return `Pending` after waking the task, which then runs again after the
//! others have had their turn. Outside task polls (a caller blocked in
//! `block_on`), nothing is counted.

use std::cell::Cell;
use std::io;

/// Units per task poll: about six full 64 KiB reads.
const UNITS: u32 = 32;
const BYTES_PER_UNIT: usize = 16 * 1024;

thread_local! {
    static LEFT: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Runs one task poll with a fresh budget.
pub(crate) fn scope<R>(poll: impl FnOnce() -> R) -> R {
    LEFT.with(|left| left.set(Some(UNITS)));
    let result = poll();
    LEFT.with(|left| left.set(None));
    result
}

/// Whether the current poll may make one more socket operation.
pub(crate) fn take() -> bool {
    LEFT.with(|left| left.get() != Some(0))
}

/// Charges an operation's cost.
pub(crate) fn charge<T: Transferred>(result: &io::Result<T>) {
    let cost = 1 + result.as_ref().map_or(0, |t| t.bytes() / BYTES_PER_UNIT);
    let cost = u32::try_from(cost).unwrap_or(u32::MAX);
    LEFT.with(|left| {
        if let Some(units) = left.get() {
            left.set(Some(units.saturating_sub(cost)));
        }
    });
}

/// What an operation moved, for the task budget.
pub(crate) trait Transferred {
    /// Bytes read or written.
    fn bytes(&self) -> usize {
        0
    }
}

impl Transferred for usize {
    fn bytes(&self) -> usize {
        *self
    }
}

impl Transferred for () {}

impl<T> Transferred for (T, std::net::SocketAddr) {}
