//! The per-thread read buffer: what is read is handed to the connection at
//! once, so the buffer is free again before any other task runs on the
//! thread. An idle connection then costs no read buffer at all.

use std::cell::RefCell;

thread_local! {
    static READ: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's read buffer of `len` bytes (a fresh one if
/// it is somehow in use already).
pub(crate) fn with_read_scratch<T>(len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    READ.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0; len]),
    })
}
