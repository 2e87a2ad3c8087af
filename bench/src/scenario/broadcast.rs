//! The server broadcasts to a fleet: how long one message takes to reach
//! every one of many idle peers.

use std::io;
use std::time::{Duration, Instant};

use super::fleet::Fleet;
use super::memory::fleet_room;
use super::{Ctx, Mark, Measured, median};
use crate::rt::BenchRuntime;

/// Opens `n` [`Fleet`] clients (capped as `idle-100k` is, by the
/// open-file limit), then `rounds` times has one of them cue the server,
/// which broadcasts one 64-byte message to every peer; reports the median
/// time from the cue to the arrival at the last client, in milliseconds.
/// CPU per message is per copy delivered.
pub(crate) async fn fleet<R: BenchRuntime>(
    ctx: Ctx,
    n: usize,
    rounds: usize,
) -> io::Result<Measured> {
    let n = n.min(fleet_room());
    let fleet = Fleet::open(&ctx.target, n).await?;
    // The last handshakes' work (the server's and the fleet's) is done.
    R::sleep_until(Instant::now() + Duration::from_millis(ctx.size(500, 100))).await;
    let mark = Mark::start(&ctx)?;
    let mut times_ms = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        times_ms.push(fleet.broadcast().await?.as_secs_f64() * 1e3);
    }
    let measured = mark.finish((n * rounds) as u64)?;
    drop(fleet);
    Ok(Measured {
        value: median(&mut times_ms),
        unit: "ms",
        higher_is_better: false,
        ..measured
    })
}
