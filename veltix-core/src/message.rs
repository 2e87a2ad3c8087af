//! The message value: what applications send and receive.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::{MessageType, RequestId};

/// One Veltix message: a type code, a request id, the sender's wall-clock
/// timestamp and an opaque payload.
///
/// The payload is a [`Bytes`], so cloning a message or handing its payload to
/// several places never copies the payload bytes. Typed payloads:
/// [`Message::text`] and, with the `serde` feature (on by default),
/// [`Message::json`].
///
/// # Equality
///
/// Two messages are equal when their type codes, request ids, timestamps
/// and payloads are. The [receive time](Self::received_at) is left out: it
/// says when a copy arrived, not what the message is, so a message compares
/// equal to the one that was sent.
#[derive(Clone)]
pub struct Message {
    message_type: MessageType,
    request_id: RequestId,
    timestamp_ms: u64,
    payload: Bytes,
    /// Microseconds since the Unix epoch, 0 when not stamped. Not an
    /// `Option<SystemTime>`: 8 bytes less in every message and in every
    /// driver command that carries one.
    received_at_us: u64,
}

impl Message {
    /// A message with a nil request id and a zero timestamp.
    ///
    /// A [`Connection`](crate::Connection) fills both in when it sends the
    /// message; a caller using the frame codec alone sets them with
    /// [`with_request_id`](Self::with_request_id) and
    /// [`with_timestamp_ms`](Self::with_timestamp_ms).
    pub fn new(message_type: MessageType, payload: impl Into<Bytes>) -> Self {
        Self {
            message_type,
            request_id: RequestId::NIL,
            timestamp_ms: 0,
            payload: payload.into(),
            received_at_us: 0,
        }
    }

    /// This message with another request id.
    #[must_use]
    pub fn with_request_id(mut self, request_id: RequestId) -> Self {
        self.request_id = request_id;
        self
    }

    /// This message with another header timestamp (milliseconds since the Unix epoch).
    #[must_use]
    pub fn with_timestamp_ms(mut self, timestamp_ms: u64) -> Self {
        self.timestamp_ms = timestamp_ms;
        self
    }

    /// The type code.
    pub fn message_type(&self) -> MessageType {
        self.message_type
    }

    /// The request id carried in the header.
    pub fn request_id(&self) -> RequestId {
        self.request_id
    }

    /// The sender's wall clock when the frame was encoded, in milliseconds
    /// since the Unix epoch (Python Veltix computes `latency` from it).
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp_ms
    }

    /// This message stamped with the wall-clock time it was received.
    ///
    /// The core reads no clock: a driver stamps what it receives (see
    /// [`set_received_at`](Self::set_received_at)), and
    /// [`latency`](Self::latency) compares the stamp with the header
    /// timestamp. Not part of [equality](Self#equality); never sent.
    /// Kept to the microsecond; a time at or before the Unix epoch counts as
    /// no stamp.
    #[must_use]
    pub fn with_received_at(mut self, received_at: SystemTime) -> Self {
        self.set_received_at(received_at);
        self
    }

    /// Stamps the wall-clock time this message was received, as
    /// [`with_received_at`](Self::with_received_at) does.
    pub fn set_received_at(&mut self, received_at: SystemTime) {
        self.set_received_at_micros(unix_micros(received_at));
    }

    /// As [`set_received_at`](Self::set_received_at), with the time already
    /// in microseconds since the Unix epoch (0: no stamp), so a driver
    /// stamping a batch of messages converts the time once.
    pub fn set_received_at_micros(&mut self, unix_micros: u64) {
        self.received_at_us = unix_micros;
    }

    /// The wall-clock time this message was received (to the microsecond),
    /// if it was stamped.
    pub fn received_at(&self) -> Option<SystemTime> {
        match self.received_at_us {
            0 => None,
            us => UNIX_EPOCH.checked_add(Duration::from_micros(us)),
        }
    }

    /// How long the message took from its sender to us: the receive time
    /// minus the header timestamp (Python Veltix's `Response.latency`).
    ///
    /// `None` when either is unknown — no receive time was stamped, or the
    /// header timestamp is 0, as on the compact wire of Python Veltix 3.x,
    /// which carries none — or when the sender's clock is ahead of ours. The
    /// two clocks are different machines' wall clocks, so the figure is only
    /// as good as their synchronisation, at millisecond precision.
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use veltix_core::{Message, MessageType};
    ///
    /// let sent_ms = 1_700_000_000_000;
    /// let message = Message::new(MessageType::from_code(200), "hi")
    ///     .with_timestamp_ms(sent_ms)
    ///     .with_received_at(UNIX_EPOCH + Duration::from_millis(sent_ms + 12));
    /// assert_eq!(message.latency(), Some(Duration::from_millis(12)));
    /// ```
    pub fn latency(&self) -> Option<Duration> {
        if self.timestamp_ms == 0 {
            return None;
        }
        let sent = UNIX_EPOCH.checked_add(Duration::from_millis(self.timestamp_ms))?;
        self.received_at()?.duration_since(sent).ok()
    }

    /// The payload bytes.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Takes the payload out of the message.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        // Not `received_at_us`: see "Equality" on the type.
        self.message_type == other.message_type
            && self.request_id == other.request_id
            && self.timestamp_ms == other.timestamp_ms
            && self.payload == other.payload
    }
}

impl Eq for Message {}

/// Microseconds since the Unix epoch (0 for a time at or before it).
fn unix_micros(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |since| {
        u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
    })
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Message");
        out.field("type", &self.message_type)
            .field("request_id", &self.request_id)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("payload_len", &self.payload.len());
        if let Some(latency) = self.latency() {
            out.field("latency", &latency);
        }
        out.finish()
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Message {
    /// Any type code, request id, timestamp and payload, as a decoder could
    /// deliver them (no receive time).
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let message_type = MessageType::arbitrary(u)?;
        let request_id = RequestId::arbitrary(u)?;
        let timestamp_ms = u64::arbitrary(u)?;
        let payload = Vec::<u8>::arbitrary(u)?;
        Ok(Self::new(message_type, payload)
            .with_request_id(request_id)
            .with_timestamp_ms(timestamp_ms))
    }

    fn arbitrary_take_rest(mut u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let message_type = MessageType::arbitrary(&mut u)?;
        let request_id = RequestId::arbitrary(&mut u)?;
        let timestamp_ms = u64::arbitrary(&mut u)?;
        let payload = Vec::<u8>::arbitrary_take_rest(u)?;
        Ok(Self::new(message_type, payload)
            .with_request_id(request_id)
            .with_timestamp_ms(timestamp_ms))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        // Type code, request id and timestamp; the payload may be empty.
        (2 + 16 + 8, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat() -> Message {
        Message::new(MessageType::from_code(200), "hi").with_timestamp_ms(1_000)
    }

    #[test]
    fn a_stamp_in_micros_is_the_same_stamp() {
        let at = UNIX_EPOCH + Duration::from_micros(1_234_567);
        let mut raw = chat();
        raw.set_received_at_micros(1_234_567);
        assert_eq!(raw.received_at(), chat().with_received_at(at).received_at());
        assert_eq!(raw.latency(), Some(Duration::from_micros(234_567)));
        raw.set_received_at_micros(0);
        assert_eq!(raw.received_at(), None, "0 is no stamp");
    }

    #[test]
    fn latency_is_receive_time_minus_header_timestamp() {
        let at = |ms| UNIX_EPOCH + Duration::from_millis(ms);
        assert_eq!(chat().latency(), None, "no receive time");
        assert_eq!(
            chat().with_received_at(at(1_250)).latency(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            chat().with_received_at(at(1_000)).latency(),
            Some(Duration::ZERO)
        );
        assert_eq!(
            chat().with_received_at(at(999)).latency(),
            None,
            "sender's clock ahead"
        );
        let compact = Message::new(MessageType::from_code(200), "hi");
        assert_eq!(
            compact.with_received_at(at(5)).latency(),
            None,
            "no header timestamp (compact wire)"
        );
        let mut m = chat();
        m.set_received_at(at(1_001));
        assert_eq!(m.received_at(), Some(at(1_001)));
        assert_eq!(m.latency(), Some(Duration::from_millis(1)));
        let far = chat().with_timestamp_ms(u64::MAX).with_received_at(at(1));
        assert_eq!(far.latency(), None, "timestamp beyond any receive time");
        let precise = UNIX_EPOCH + Duration::from_nanos(1_234_567_891);
        assert_eq!(
            chat().with_received_at(precise).received_at(),
            Some(UNIX_EPOCH + Duration::from_micros(1_234_567))
        );
        assert_eq!(chat().with_received_at(UNIX_EPOCH).received_at(), None);
    }

    #[test]
    fn stays_small() {
        // Drivers queue messages inside commands: keep the stamp to 8 bytes.
        assert!(std::mem::size_of::<Message>() <= 88);
    }

    #[test]
    fn receive_time_is_not_part_of_equality() {
        let received = chat().with_received_at(UNIX_EPOCH + Duration::from_secs(2));
        assert_eq!(received, chat());
        assert_ne!(received, chat().with_timestamp_ms(1_001));
        assert!(format!("{received:?}").contains("latency: 1s"));
    }
}
