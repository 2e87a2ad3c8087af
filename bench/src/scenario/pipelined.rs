//! One connection, many echoes in flight: one task sends 64-byte echo
//! requests as fast as the connection takes them while another reads the
//! echoes, and every echo must come back, unchanged and in order.

use std::future::Future;
use std::io;
use std::ops::Range;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::channel::oneshot;
use futures::future::{Either, select, try_join};
use futures::task::AtomicWaker;

use super::{Ctx, Mark, Measured};
use crate::client::{BenchClient, EchoReceiver, EchoSender};
use crate::rt::BenchRuntime;
use crate::wire::payload;

/// Payload size, and where the sequence number goes in it.
const SIZE: usize = 64;
const SEQUENCE: Range<usize> = 0..8;

/// A run that has moved no echo for this long has lost one (or stalled):
/// it fails instead of hanging. Far above any pause of a healthy run.
const STALL: Duration = Duration::from_secs(30);

/// How often the waiting task looks at the progress counters.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// `count` echo requests (plain messages of the echo type, each answered
/// by the server with the same type, payload and request id), sent back to
/// back by one task while another reads the echoes. Each payload carries
/// its sequence number, so an echo that is lost, duplicated, reordered or
/// altered fails the run at once, naming the first one out of place.
/// The headline is echoes per second, from the first send to the last echo;
/// a warm-up round of a tenth of `count` comes first.
///
/// The sender does not wait for echoes, unless `ctx.window` caps how many
/// may be in flight (`--window`).
pub(crate) async fn echo<C: BenchClient, R: BenchRuntime>(
    ctx: Ctx,
    count: u64,
) -> io::Result<Measured> {
    let (sender, receiver) = C::connect(ctx.target.clone()).await?.split().await?;
    let template = payload(11, SIZE);
    let warm_up = count / 10;
    let halves = (sender, receiver);
    let window = ctx.window.unwrap_or(u64::MAX);
    let (halves, _) = round::<C, R>(halves, &template, 0..warm_up, window).await?;

    let mark = Mark::start(&ctx)?;
    let ((sender, _receiver), last_echo) =
        round::<C, R>(halves, &template, warm_up..warm_up + count, window).await?;
    let mut measured = mark.finish_at(last_echo, count)?;
    sender.close().await;
    measured.value = count as f64 / measured.wall_s;
    measured.unit = "echo/s";
    measured.higher_is_better = true;
    Ok(measured)
}

type Halves<C> = (<C as BenchClient>::Sender, <C as BenchClient>::Receiver);

/// Sends the echoes numbered `sequence` and reads them back, each half on
/// a task of its own, at most `window` in flight; the halves back, and
/// when the last echo arrived.
async fn round<C: BenchClient, R: BenchRuntime>(
    (mut sender, mut receiver): Halves<C>,
    template: &Bytes,
    sequence: Range<u64>,
    window: u64,
) -> io::Result<(Halves<C>, Instant)> {
    let flight = Arc::new(Flight::new(window));
    let receiving = {
        let (template, sequence, flight) = (template.clone(), sequence.clone(), flight.clone());
        R::spawn(async move {
            for seq in sequence {
                let echo = receiver.next_echo().await.map_err(|err| {
                    io::Error::new(err.kind(), format!("waiting for echo {seq}: {err}"))
                })?;
                check(&echo, seq, &template)?;
                flight.echoed();
            }
            io::Result::Ok((receiver, Instant::now()))
        })
    };
    let sending = {
        let (template, sequence, flight) = (template.clone(), sequence.clone(), flight.clone());
        R::spawn(async move {
            for seq in sequence {
                flight.room().await;
                sender.send_echo(numbered(&template, seq)).await?;
                flight.sent();
            }
            sender.flush().await?;
            io::Result::Ok(sender)
        })
    };
    let total = sequence.end - sequence.start;
    // Both at once: whichever half fails first says why (a receiver that
    // found an echo out of place, not the sender it then left blocked).
    let both = try_join(joined(sending), joined(receiving));
    let progress = || flight.progress();
    let (sender, (receiver, last_echo)) =
        watch(both, progress, total, STALL, R::sleep_until).await?;
    Ok(((sender, receiver), last_echo))
}

/// The echoes in flight: how many were sent and came back, and the
/// sender's wait for room when a window caps them.
struct Flight {
    sent: AtomicU64,
    echoed: AtomicU64,
    /// Most echoes in flight (`u64::MAX`: no cap).
    window: u64,
    /// The sender, waiting for room.
    waiting: AtomicWaker,
}

impl Flight {
    fn new(window: u64) -> Self {
        Self {
            sent: AtomicU64::new(0),
            echoed: AtomicU64::new(0),
            window,
            waiting: AtomicWaker::new(),
        }
    }

    fn in_flight(&self) -> u64 {
        // Sent is read first: echoed can only have grown since.
        let sent = self.sent.load(Ordering::Acquire);
        sent.saturating_sub(self.echoed.load(Ordering::Acquire))
    }

    /// Resolves once one more echo may be sent.
    async fn room(&self) {
        if self.in_flight() < self.window {
            return;
        }
        std::future::poll_fn(|cx| {
            self.waiting.register(cx.waker());
            // Checked after registering, so an echo in between is not missed.
            if self.in_flight() < self.window {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    fn sent(&self) {
        self.sent.fetch_add(1, Ordering::AcqRel);
    }

    fn echoed(&self) {
        self.echoed.fetch_add(1, Ordering::AcqRel);
        if self.window != u64::MAX {
            self.waiting.wake();
        }
    }

    /// (sent, echoed).
    fn progress(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.echoed.load(Ordering::Relaxed),
        )
    }
}

/// A spawned task's result.
async fn joined<T>(task: oneshot::Receiver<io::Result<T>>) -> io::Result<T> {
    task.await
        .map_err(|_| io::Error::other("a pipelining task ended without an answer"))?
}

/// Waits for `work`, failing if `progress` (sent, echoed) stands still for
/// `stall`: a lost echo, or a connection that no longer moves, is reported
/// with how far each half got instead of hanging the bench.
async fn watch<T, S: Future<Output = ()>>(
    work: impl Future<Output = io::Result<T>>,
    progress: impl Fn() -> (u64, u64),
    total: u64,
    stall: Duration,
    sleep_until: impl Fn(Instant) -> S,
) -> io::Result<T> {
    let mut work = pin!(work);
    let mut last = progress();
    let mut moved = Instant::now();
    loop {
        let tick = pin!(sleep_until(Instant::now() + WATCH_EVERY));
        if let Either::Left((result, _)) = select(work.as_mut(), tick).await {
            return result;
        }
        let now = progress();
        if now != last {
            (last, moved) = (now, Instant::now());
        } else if moved.elapsed() >= stall {
            let (sent, echoed) = now;
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "stalled for {:.1} s: {sent} of {total} sent, {echoed} echoes back",
                    stall.as_secs_f64()
                ),
            ));
        }
    }
}

/// The template with `seq` in its first bytes.
fn numbered(template: &Bytes, seq: u64) -> Bytes {
    let mut body = template.to_vec();
    body[SEQUENCE].copy_from_slice(&seq.to_be_bytes());
    body.into()
}

/// Echo `seq` must be `numbered(template, seq)`.
fn check(echo: &[u8], seq: u64, template: &[u8]) -> io::Result<()> {
    let bad = |what: String| Err(io::Error::new(io::ErrorKind::InvalidData, what));
    if echo.len() != template.len() {
        return bad(format!(
            "echo {seq} came back with {} bytes instead of {}",
            echo.len(),
            template.len()
        ));
    }
    let got = u64::from_be_bytes(echo[SEQUENCE].try_into().unwrap_or_default());
    if got != seq {
        let what = if got > seq {
            "lost (or reordered)"
        } else {
            "duplicated (or reordered)"
        };
        return bad(format!("echo {seq} expected, echo {got} arrived: {what}"));
    }
    if echo[SEQUENCE.end..] != template[SEQUENCE.end..] {
        return bad(format!("echo {seq} came back altered"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::Threads;

    #[test]
    fn a_window_holds_the_sender_until_echoes_come_back() {
        let flight = Arc::new(Flight::new(2));
        let sender = {
            let flight = flight.clone();
            Threads::spawn(async move {
                for _ in 0..5 {
                    flight.room().await;
                    flight.sent();
                }
            })
        };
        while flight.progress().0 < 2 {
            std::thread::yield_now();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(flight.progress(), (2, 0), "two in flight, then it waits");
        for _ in 0..3 {
            flight.echoed();
        }
        Threads::block_on(sender).unwrap();
        assert_eq!(flight.progress(), (5, 3));
        assert_eq!(flight.in_flight(), 2);
    }

    #[test]
    fn a_run_that_stops_moving_fails_with_how_far_it_got() {
        let stuck = std::future::pending::<io::Result<()>>();
        let err = Threads::block_on(async {
            let stall = Duration::from_millis(300);
            watch(stuck, || (7, 3), 10, stall, Threads::sleep_until).await
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            err.to_string().contains("7 of 10 sent, 3 echoes back"),
            "{err}"
        );

        let done = Threads::block_on(async {
            watch(async { Ok(5) }, || (0, 0), 1, STALL, Threads::sleep_until).await
        });
        assert_eq!(done.unwrap(), 5);
    }

    #[test]
    fn echoes_are_checked_for_number_size_and_content() {
        let template = payload(11, SIZE);
        let fifth = numbered(&template, 5);
        assert_eq!(&fifth[SEQUENCE], &5u64.to_be_bytes());
        assert_eq!(fifth[8..], template[8..]);
        assert!(check(&fifth, 5, &template).is_ok());

        let lost = check(&fifth, 4, &template).unwrap_err().to_string();
        assert!(
            lost.contains("echo 4 expected, echo 5 arrived: lost"),
            "{lost}"
        );
        let again = check(&fifth, 6, &template).unwrap_err().to_string();
        assert!(
            again.contains("echo 6 expected, echo 5 arrived: duplicated"),
            "{again}"
        );

        let mut altered = fifth.to_vec();
        altered[SIZE - 1] ^= 1;
        assert!(check(&altered, 5, &template).is_err());
        assert!(check(&fifth[..SIZE - 1], 5, &template).is_err());
        assert!(check(&[], 5, &template).is_err());
    }
}
