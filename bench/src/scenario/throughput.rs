//! One connection, many messages in flight: how fast bytes move, and how
//! many cross the wire.

use std::io;

use bytes::Bytes;

use super::{Ctx, Mark, Measured};
use crate::client::BenchClient;
use crate::wire::payload;

/// `count` one-way messages carrying `body`, then one request whose answer
/// proves the server has received (and hash-checked) them all. The headline
/// is messages per second for small bodies and MiB/s for large ones.
///
/// Bytes on the wire are what the client's socket sent and received
/// between the start of the measured part and the answer to its last
/// request (the request and its answer included: 2 × 70 bytes or so), when
/// the client counts them.
pub(crate) async fn one_way<C: BenchClient>(
    ctx: Ctx,
    body: Bytes,
    count: u64,
) -> io::Result<Measured> {
    let size = body.len();
    let mut client = C::connect(ctx.target.clone()).await?;
    // Warm up with a tenth of the run (buffers grow to their working size).
    for _ in 0..count / 10 {
        client.send(body.clone()).await?;
    }
    client.request(payload(8, 8)).await?;

    let wire_before = client.wire();
    let mark = Mark::start(&ctx)?;
    for _ in 0..count {
        client.send(body.clone()).await?;
    }
    client.request(payload(9, 8)).await?;
    let mut measured = mark.finish(count)?;
    measured.wire = client
        .wire()
        .zip(wire_before)
        .map(|(after, before)| after.since(before));
    client.close().await;
    measured.payload_bytes = Some(count * size as u64);
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
