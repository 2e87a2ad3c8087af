//! The message value: what applications send and receive.

use bytes::Bytes;

use crate::{MessageType, RequestId};

/// One Veltix message: a type code, a request id, the sender's wall-clock
/// timestamp and an opaque payload.
///
/// The payload is a [`Bytes`], so cloning a message or handing its payload to
/// several places never copies the payload bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    message_type: MessageType,
    request_id: RequestId,
    timestamp_ms: u64,
    payload: Bytes,
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

    /// The payload bytes.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Takes the payload out of the message.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("type", &self.message_type)
            .field("request_id", &self.request_id)
            .field("timestamp_ms", &self.timestamp_ms)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}
