//! Connections opened and closed: what setting one up costs.

use std::io;
use std::time::Instant;

use super::{Ctx, Mark, Measured, micros_since};
use crate::client::BenchClient;
use crate::rt::BenchRuntime;

/// Connections made before measuring (the server's first accept, the
/// client's configuration and the runtimes warm up).
const WARMUP: usize = 20;

/// `tasks` tasks at once, each making `per_task` connections one after the
/// other: TCP connect, then the TLS 1.3 handshake (TLS rows and the rustls
/// baseline; a full one every time, as there is no resumption), then the
/// Veltix handshake (Veltix rows in a dialect that has one), then a close.
/// The headline is handshakes per second; the CPU column is per handshake
/// (both processes), and each connect's time, until the client could send,
/// is its latency.
pub(crate) async fn handshakes<C: BenchClient, R: BenchRuntime>(
    ctx: Ctx,
    tasks: usize,
    per_task: usize,
) -> io::Result<Measured> {
    for _ in 0..WARMUP {
        C::connect(ctx.target.clone()).await?.close().await;
    }
    let mark = Mark::start(&ctx)?;
    let latencies = if tasks == 1 {
        connect_and_close::<C>(&ctx, per_task).await?
    } else {
        let running: Vec<_> = (0..tasks)
            .map(|_| {
                let ctx = ctx.clone();
                R::spawn(async move { connect_and_close::<C>(&ctx, per_task).await })
            })
            .collect();
        let mut all = Vec::with_capacity(tasks * per_task);
        for task in running {
            all.extend(
                task.await
                    .map_err(|_| io::Error::other("a connecting task ended without an answer"))??,
            );
        }
        all
    };
    let total = latencies.len() as u64;
    let mut measured = mark.finish(total)?;
    measured.value = total as f64 / measured.wall_s;
    measured.unit = "hs/s";
    measured.higher_is_better = true;
    measured.latencies_us = latencies;
    Ok(measured)
}

/// `count` connections in turn, each closed once established; how long each
/// took to establish, µs.
async fn connect_and_close<C: BenchClient>(ctx: &Ctx, count: usize) -> io::Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let client = C::connect(ctx.target.clone()).await?;
        latencies.push(micros_since(started));
        client.close().await;
    }
    Ok(latencies)
}
