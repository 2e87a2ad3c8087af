//! The three scenarios, each on a fresh connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;
use tokio::time::MissedTickBehavior;
use veltix_tokio::{ClientEvent, ClientEvents, Message};

use super::progress::Progress;
use super::sampler::Sampler;
use super::{Burst, Limit, Outcome};
use crate::args::{BenchArgs, Scenario};
use crate::exit::Failure;
use crate::{connect, request};

/// Bytes at the start of a burst payload that carry its send time.
const STAMP: usize = 8;

/// Sequential round trips, each request sent when the last reply came.
pub(crate) async fn request(
    args: &BenchArgs,
    limit: Limit,
    progress: &Progress,
) -> Result<Outcome, Failure> {
    let client = connect::connect(&args.target).await?;
    let payload = Bytes::from(vec![b'x'; args.size as usize]);
    let mut samples = Sampler::default();
    let started = Instant::now();
    let mut done = 0;
    while !limit.reached(done, started) {
        let sent = Instant::now();
        let message = Message::new(args.kind, payload.clone());
        request::request(&client, message, args.timeout, &args.target.addr).await?;
        samples.push(sent.elapsed());
        done += 1;
        progress.update(done, started);
    }
    let elapsed = started.elapsed();
    let _ = client.close().await; // the figures are taken
    Ok(Outcome {
        scenario: Scenario::Request,
        messages: done,
        elapsed,
        latencies: samples.into_durations(),
        burst: None,
    })
}

/// Requests at `--rate` per second, one at a time: a request that takes
/// longer than the interval delays the next (ticks missed are skipped).
pub(crate) async fn latency(
    args: &BenchArgs,
    limit: Limit,
    progress: &Progress,
) -> Result<Outcome, Failure> {
    let client = connect::connect(&args.target).await?;
    let payload = Bytes::from(vec![b'x'; args.size as usize]);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(args.rate)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut samples = Sampler::default();
    let started = Instant::now();
    let mut done = 0;
    while !limit.reached(done, started) {
        ticks.tick().await;
        let sent = Instant::now();
        let message = Message::new(args.kind, payload.clone());
        request::request(&client, message, args.timeout, &args.target.addr).await?;
        samples.push(sent.elapsed());
        done += 1;
        progress.update(done, started);
    }
    let elapsed = started.elapsed();
    let _ = client.close().await; // the figures are taken
    Ok(Outcome {
        scenario: Scenario::Latency,
        messages: done,
        elapsed,
        latencies: samples.into_durations(),
        burst: None,
    })
}

/// Pipelined sends (each waits only for room in the queue) while the
/// echoes are counted as they come; then waits for the rest of the echoes
/// until none has come for `--timeout`. With `--size` of 8 or more each
/// payload starts with its send time, so every echo gives a latency.
pub(crate) async fn burst(
    args: &BenchArgs,
    limit: Limit,
    progress: &Progress,
) -> Result<Outcome, Failure> {
    let client = connect::connect(&args.target).await?;
    let started = Instant::now();
    let received = Arc::new(AtomicU64::new(0));
    let (stop, stopped) = oneshot::channel();
    let receiver = tokio::spawn(receive(
        client.events(),
        started,
        args.size as usize >= STAMP,
        received.clone(),
        stopped,
    ));
    let mut payloads = Payloads::new(args.size as usize);
    let mut sent = 0;
    while !limit.reached(sent, started) {
        let message = Message::new(args.kind, payloads.next(started));
        client
            .send(message)
            .await
            .map_err(|e| Failure::from_error(&format!("burst to {}", args.target.addr), &e))?;
        sent += 1;
        progress.update(sent, started);
    }
    let send_elapsed = started.elapsed();
    progress.waiting("waiting for the last echoes");
    wait_for_echoes(&received, sent, args.timeout, &receiver).await;
    let _ = stop.send(());
    let echoes = receiver
        .await
        .map_err(|e| Failure::failed(format!("burst: the echo counter failed: {e}")))?;
    let _ = client.close().await; // the figures are taken
    Ok(Outcome {
        scenario: Scenario::Burst,
        messages: echoes.count,
        elapsed: echoes.last.map_or(send_elapsed, |last| last - started),
        latencies: echoes.samples.into_durations(),
        burst: Some(Burst {
            sent,
            send_elapsed,
            echoed: echoes.count,
        }),
    })
}

/// Until `sent` echoes came, none came for `idle`, or the counter ended.
async fn wait_for_echoes(
    received: &AtomicU64,
    sent: u64,
    idle: Duration,
    receiver: &tokio::task::JoinHandle<Echoes>,
) {
    let mut seen = received.load(Ordering::Acquire);
    let mut last_change = Instant::now();
    while seen < sent && !receiver.is_finished() {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = received.load(Ordering::Acquire);
        if now != seen {
            (seen, last_change) = (now, Instant::now());
        } else if last_change.elapsed() >= idle {
            break;
        }
    }
}

/// The burst's payloads: `size` bytes, stamped with their send time when
/// there is room, cut from one buffer refilled now and then.
struct Payloads {
    size: usize,
    plain: Bytes,
    buffer: BytesMut,
}

impl Payloads {
    fn new(size: usize) -> Self {
        Self {
            size,
            plain: Bytes::from(vec![b'x'; size]),
            buffer: BytesMut::new(),
        }
    }

    fn next(&mut self, started: Instant) -> Bytes {
        if self.size < STAMP {
            return self.plain.clone();
        }
        if self.buffer.capacity() < self.size {
            self.buffer.reserve(self.size * 256);
        }
        let stamp = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.buffer.extend_from_slice(&stamp.to_le_bytes());
        self.buffer.resize(self.size, b'x');
        self.buffer.split().freeze()
    }
}

/// What the echo counter saw.
struct Echoes {
    count: u64,
    last: Option<Instant>,
    samples: Sampler,
}

/// Counts the echoes (and their latencies, from the stamp) until stopped
/// or the connection ends.
async fn receive(
    mut events: ClientEvents,
    started: Instant,
    stamped: bool,
    received: Arc<AtomicU64>,
    mut stop: oneshot::Receiver<()>,
) -> Echoes {
    let mut echoes = Echoes {
        count: 0,
        last: None,
        samples: Sampler::default(),
    };
    loop {
        let event = tokio::select! {
            biased;
            _ = &mut stop => break,
            event = events.next() => event,
        };
        match event {
            Some(ClientEvent::Message(message)) => {
                let now = Instant::now();
                if let Some(stamp) = message.payload().get(..STAMP).filter(|_| stamped) {
                    let mut bytes = [0; STAMP];
                    bytes.copy_from_slice(stamp);
                    let sent = started + Duration::from_nanos(u64::from_le_bytes(bytes));
                    echoes.samples.push(now.saturating_duration_since(sent));
                }
                echoes.count += 1;
                echoes.last = Some(now);
                received.store(echoes.count, Ordering::Release);
            }
            Some(ClientEvent::Disconnected(_)) | None => break,
            Some(_) => {}
        }
    }
    echoes
}
