//! Per-thread buffers for reading and for coalescing small writes: what is
//! read is handed to the connection at once, and what is coalesced is
//! written at once, so a buffer is free again before any other task runs on
//! the thread. An idle connection then costs no buffer at all.

use std::cell::RefCell;

/// Bytes written at once when coalescing small frames.
pub(crate) const WRITE_CHUNK: usize = 64 * 1024;

thread_local! {
    static READ: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    static WRITE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's read buffer of `len` bytes (a fresh one if
/// it is somehow in use already).
pub(crate) fn with_read_scratch<T>(len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    with(&READ, len, f)
}

/// Runs `f` with this thread's [`WRITE_CHUNK`]-byte coalescing buffer.
pub(crate) fn with_write_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    with(&WRITE, WRITE_CHUNK, f)
}

fn with<T>(
    key: &'static std::thread::LocalKey<RefCell<Vec<u8>>>,
    len: usize,
    f: impl FnOnce(&mut [u8]) -> T,
) -> T {
    key.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0; len]),
    })
}
