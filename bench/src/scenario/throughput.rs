//! One connection, many messages in flight: how fast bytes move.

use std::io;

use super::{Ctx, Mark, Measured};
use crate::client::BenchClient;
use crate::wire::payload;

/// `count` one-way messages of `size` bytes, then one request whose answer
/// proves the server has received (and hash-checked) them all. The headline
/// is messages per second for small sizes and MiB/s for large ones.
pub(crate) async fn one_way<C: BenchClient>(
    ctx: Ctx,
    size: usize,
    count: u64,
) -> io::Result<Measured> {
    let mut client = C::connect(ctx.target.clone()).await?;
    let body = payload(7, size);
    // Warm up with a tenth of the run (buffers grow to their working size).
    for _ in 0..count / 10 {
        client.send(body.clone()).await?;
    }
    client.request(payload(8, 8)).await?;

    let mark = Mark::start(&ctx)?;
    for _ in 0..count {
        client.send(body.clone()).await?;
    }
    client.request(payload(9, 8)).await?;
    let mut measured = mark.finish(count)?;
    client.close().await;
    if size >= 1 << 20 {
        measured.value = (count as f64 * size as f64) / f64::from(1 << 20) / measured.wall_s;
        measured.unit = "MiB/s";
    } else {
        measured.value = count as f64 / measured.wall_s;
        measured.unit = "msg/s";
    }
    measured.higher_is_better = true;
    Ok(measured)
}
