//! One connection's handle as the manager sees it: its id, the sending end
//! of its bounded outbound queue, and its close control.

use crate::metrics::Metrics;
use std::sync::atomic::{AtomicU16, Ordering};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

/// A serialized event, shared by reference count with every recipient.
pub type Frame = axum::extract::ws::Utf8Bytes;

/// A connection id, unique for the life of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Tells a connection's tasks to close, and with which code.
#[derive(Debug, Default)]
pub struct ConnControl {
    /// The close code to send (0: none, the peer closed or the socket failed).
    code: AtomicU16,
    token: CancellationToken,
}

impl ConnControl {
    /// Asks the connection to close with `code` (0 for no close frame). The
    /// first reason given wins.
    pub fn close(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    /// Whether a close was asked for.
    pub fn is_closing(&self) -> bool {
        self.token.is_cancelled()
    }

    /// The close code asked for (0: none).
    pub fn code(&self) -> u16 {
        self.code.load(Ordering::Acquire)
    }

    /// Completes when a close is asked for.
    pub async fn closed(&self) {
        self.token.cancelled().await
    }
}

/// What the manager keeps per connection.
pub struct ConnHandle {
    /// The connection's id.
    pub id: ConnId,
    tx: mpsc::Sender<Frame>,
    /// Shared with the connection's tasks.
    pub control: std::sync::Arc<ConnControl>,
}

impl ConnHandle {
    /// A handle over a queue's sending end.
    pub fn new(
        id: ConnId,
        tx: mpsc::Sender<Frame>,
        control: std::sync::Arc<ConnControl>,
    ) -> ConnHandle {
        ConnHandle { id, tx, control }
    }

    /// Enqueues `frame` without waiting; true if it was enqueued.
    ///
    /// A full queue closes the connection with 4010 (§5) and every later
    /// push is dropped. Every push to one connection happens under its
    /// user's shard lock, so pushes are serialized: once one has failed, none
    /// after it can succeed, and the socket ends rather than continuing with
    /// a gap (§8 "Backpressure close").
    pub(crate) fn push(&self, frame: &Frame, metrics: &Metrics) -> bool {
        if self.control.is_closing() {
            return false;
        }
        match self.tx.try_send(frame.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.control.close(crate::protocol::close::SLOW_CONSUMER);
                metrics.slow_consumer_closes.inc();
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}
