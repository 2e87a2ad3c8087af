//! Hand-written tokio baselines, the yardsticks every Veltix figure is
//! divided by. Both are the code an experienced tokio user would write for
//! the same job — one task per connection, `tokio_util` framing, answers
//! written in batches — and share nothing with Veltix's driver or core.
//!
//! - [`ld`]: `LengthDelimitedCodec`, no integrity check: the floor of what
//!   framing over tokio costs. Veltix does more work per message (a 62-byte
//!   header and SHA-256 of every payload), so it is expected to be slower on
//!   throughput; the targets compare round trips, where the hop counts matter.
//! - [`sha`]: Veltix's own 62-byte header and SHA-256 of every payload,
//!   checked on receipt: the same hashing work as Veltix, so the difference
//!   to Veltix is the library's own overhead.

mod ld;
mod serve;
mod sha;

pub(crate) use ld::{LdClient, serve_ld};
pub(crate) use sha::{ShaClient, serve_sha};
