//! One connection, one thing in flight: round-trip times.

use std::io;
use std::time::Instant;

use super::{Ctx, Mark, Measured, median, micros_since};
use crate::client::BenchClient;
use crate::wire::payload;

/// Rounds before measuring: connections, buffers and caches warm up.
const WARMUP: usize = 200;

/// Sequential pings; the headline is the median RTT.
pub(crate) async fn ping<C: BenchClient>(ctx: Ctx) -> io::Result<Measured> {
    let mut client = C::connect(ctx.target.clone()).await?;
    for _ in 0..WARMUP {
        client.ping().await?;
    }
    let count = ctx.size(20_000, 300);
    let mut latencies = Vec::with_capacity(count);
    let mark = Mark::start(&ctx)?;
    for _ in 0..count {
        let sent = Instant::now();
        client.ping().await?;
        latencies.push(micros_since(sent));
    }
    let mut measured = mark.finish(count as u64)?;
    client.close().await;
    measured.value = median(&mut latencies.clone());
    measured.unit = "µs p50";
    measured.higher_is_better = false;
    measured.latencies_us = latencies;
    Ok(measured)
}

/// Sequential 64-byte echo requests; the headline is requests per second.
pub(crate) async fn request<C: BenchClient>(ctx: Ctx) -> io::Result<Measured> {
    let mut client = C::connect(ctx.target.clone()).await?;
    let body = payload(1, 64);
    for _ in 0..WARMUP {
        client.request(body.clone()).await?;
    }
    let count = ctx.size(30_000, 300);
    let mut latencies = Vec::with_capacity(count);
    let mark = Mark::start(&ctx)?;
    for _ in 0..count {
        let sent = Instant::now();
        let answer = client.request(body.clone()).await?;
        latencies.push(micros_since(sent));
        check_echo(&answer, &body)?;
    }
    let mut measured = mark.finish(count as u64)?;
    client.close().await;
    measured.value = count as f64 / measured.wall_s;
    measured.unit = "req/s";
    measured.higher_is_better = true;
    measured.latencies_us = latencies;
    Ok(measured)
}

/// An echo must come back unchanged.
pub(crate) fn check_echo(answer: &[u8], sent: &[u8]) -> io::Result<()> {
    if answer == sent {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "echo of {} bytes came back as {} bytes that differ",
                sent.len(),
                answer.len()
            ),
        ))
    }
}
