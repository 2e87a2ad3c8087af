//! Many connections at once: a saturating request load, and a paced one.

use std::io;
use std::time::{Duration, Instant};

use super::latency::check_echo;
use super::{Ctx, Mark, Measured, micros_since};
use crate::client::BenchClient;
use crate::report::percentile;
use crate::rt::BenchRuntime;
use crate::wire::payload;

/// Connects `n` clients, a few hundred at a time (the listen backlog is finite).
pub(crate) async fn connect_many<C: BenchClient, R: BenchRuntime>(
    ctx: &Ctx,
    n: usize,
) -> io::Result<Vec<C>> {
    const WAVE: usize = 250;
    let mut clients = Vec::with_capacity(n);
    while clients.len() < n {
        let wave: Vec<_> = (0..WAVE.min(n - clients.len()))
            .map(|_| R::spawn(C::connect(ctx.target.clone())))
            .collect();
        for connecting in wave {
            clients.push(connecting.await.map_err(|_| lost_task())??);
        }
    }
    Ok(clients)
}

fn lost_task() -> io::Error {
    io::Error::other("a client task ended without an answer")
}

/// Waits for every task's latencies and pools them.
async fn gather(
    tasks: Vec<futures::channel::oneshot::Receiver<io::Result<Vec<f64>>>>,
) -> io::Result<Vec<f64>> {
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.map_err(|_| lost_task())??);
    }
    Ok(all)
}

/// 100 connections, each doing sequential 64-byte echo requests as fast as
/// it can; the headline is requests per second over all of them.
pub(crate) async fn stress<C: BenchClient, R: BenchRuntime>(ctx: Ctx) -> io::Result<Measured> {
    let connections = ctx.size(100, 10);
    let per_connection = ctx.size(2_000, 30);
    let clients = connect_many::<C, R>(&ctx, connections).await?;
    let mark = Mark::start(&ctx)?;
    let tasks = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            R::spawn(async move {
                let body = payload(i as u64, 64);
                let mut latencies = Vec::with_capacity(per_connection);
                for _ in 0..per_connection {
                    let sent = Instant::now();
                    let answer = client.request(body.clone()).await?;
                    latencies.push(micros_since(sent));
                    check_echo(&answer, &body)?;
                }
                client.close().await;
                Ok(latencies)
            })
        })
        .collect();
    let latencies = gather(tasks).await?;
    let total = latencies.len() as u64;
    let mut measured = mark.finish(total)?;
    measured.value = total as f64 / measured.wall_s;
    measured.unit = "req/s";
    measured.higher_is_better = true;
    measured.latencies_us = latencies;
    Ok(measured)
}

/// A game-server tick: 100 clients each send a 64-byte request 60 times a
/// second (spread evenly over the period) and wait for its echo. The load is
/// fixed, so the headline is the p99 round trip; CPU per message shows the cost.
pub(crate) async fn tick<C: BenchClient, R: BenchRuntime>(ctx: Ctx) -> io::Result<Measured> {
    const HZ: u32 = 60;
    let clients_n = ctx.size(100, 10);
    let ticks = ctx.size(300, 15); // 5 s at 60 Hz
    let period = Duration::from_secs(1) / HZ;
    let clients = connect_many::<C, R>(&ctx, clients_n).await?;
    let start = Instant::now() + Duration::from_millis(50);
    let mark = Mark::start(&ctx)?;
    let tasks = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| {
            let offset = period * i as u32 / clients_n as u32;
            R::spawn(async move {
                let body = payload(i as u64, 64);
                let mut latencies = Vec::with_capacity(ticks);
                for tick in 0..ticks {
                    R::sleep_until(start + offset + period * tick as u32).await;
                    let sent = Instant::now();
                    let answer = client.request(body.clone()).await?;
                    latencies.push(micros_since(sent));
                    check_echo(&answer, &body)?;
                }
                client.close().await;
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = gather(tasks).await?;
    let total = latencies.len() as u64;
    let mut measured = mark.finish(total)?;
    latencies.sort_by(f64::total_cmp);
    measured.value = percentile(&latencies, 99.0);
    measured.unit = "µs p99";
    measured.higher_is_better = false;
    measured.latencies_us = latencies;
    Ok(measured)
}
