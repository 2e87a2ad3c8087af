//! Idle connections: what each one costs the server in resident memory.

use std::io;
use std::time::{Duration, Instant};

use super::fleet::Fleet;
use super::stress::connect_many;
use super::{Ctx, Measured};
use crate::client::BenchClient;
use crate::procfs;
use crate::rt::BenchRuntime;

/// Opens `n` connections (each through the handshake), lets the server
/// settle, and reports the growth of its RSS divided by `n`, KiB per connection.
pub(crate) async fn idle<C: BenchClient, R: BenchRuntime>(
    ctx: Ctx,
    n: usize,
) -> io::Result<Measured> {
    let server_pid = server_pid(&ctx)?;
    // One connection first, so one-time costs (the first accept, the
    // runtime's worker stacks touched) are not counted per connection.
    let warm = connect_many::<C, R>(&ctx, 1).await?;
    R::sleep_until(Instant::now() + Duration::from_millis(200)).await;
    let before = procfs::rss_kib(server_pid)?;
    let started = Instant::now();
    let clients = connect_many::<C, R>(&ctx, n).await?;
    let wall_s = started.elapsed().as_secs_f64();
    R::sleep_until(Instant::now() + Duration::from_millis(ctx.size(1_000, 200))).await;
    let after = procfs::rss_kib(server_pid)?;
    // Dropping a handle closes its connection.
    drop(clients);
    drop(warm);
    Ok(Measured {
        value: after.saturating_sub(before) as f64 / n as f64,
        unit: "KiB/conn",
        higher_is_better: false,
        wall_s,
        ..Measured::default()
    })
}

/// As [`idle`], with `n` [`Fleet`] clients (bare core connections from
/// several source addresses, so `n` may pass the ephemeral port range).
/// `wall_s` is the time to open them all, through the handshake.
/// Where the open-file limit (each side holds `n` descriptors) is under
/// `n` + a margin, `n` is capped to fit; the run's notes say so.
pub(crate) async fn idle_fleet<R: BenchRuntime>(ctx: Ctx, n: usize) -> io::Result<Measured> {
    let server_pid = server_pid(&ctx)?;
    let n = n.min(fleet_room());
    let warm = Fleet::open(&ctx.target, 1).await?;
    R::sleep_until(Instant::now() + Duration::from_millis(200)).await;
    let before = procfs::rss_kib(server_pid)?;
    let started = Instant::now();
    let fleet = Fleet::open(&ctx.target, n).await?;
    let wall_s = started.elapsed().as_secs_f64();
    R::sleep_until(Instant::now() + Duration::from_millis(ctx.size(2_000, 200))).await;
    let after = procfs::rss_kib(server_pid)?;
    drop(fleet);
    drop(warm);
    Ok(Measured {
        value: after.saturating_sub(before) as f64 / n as f64,
        unit: "KiB/conn",
        higher_is_better: false,
        wall_s,
        ..Measured::default()
    })
}

fn server_pid(ctx: &Ctx) -> io::Result<u32> {
    ctx.server_pid.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an idle scenario reads the server's memory: its process id is unknown",
        )
    })
}

/// How many connections the fleet and the server can each hold: the
/// open-file limit (which the server process inherits) less a margin.
pub(crate) fn fleet_room() -> usize {
    const MARGIN: u64 = 500;
    let limit = rlimit::Resource::NOFILE.get_soft().unwrap_or(u64::MAX);
    usize::try_from(limit.saturating_sub(MARGIN)).unwrap_or(usize::MAX)
}
