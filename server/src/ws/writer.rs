//! The per-connection writer task.
//!
//! It waits for the first queued frame, then feeds everything else already
//! queued (up to [`MAX_BATCH`]) and flushes once: one syscall per burst
//! instead of one per event. It stops when the connection is told to close
//! (sending that close code if there is one) or when the queue's sending end
//! is dropped (the manager forgot the connection). On a slow-consumer close
//! the frames still queued are dropped, never sent after a gap (§8).

use crate::manager::{ConnControl, Frame};
use crate::protocol::close;
use axum::extract::ws::{CloseFrame, Message};
use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most frames written before one flush.
const MAX_BATCH: usize = 64;
/// How long a close frame may take to go out.
const CLOSE_SEND: Duration = Duration::from_millis(500);
/// How long a slow consumer's 4010 may take to go out (behind a full socket).
const SLOW_CLOSE_SEND: Duration = Duration::from_secs(10);

type Sink = SplitSink<super::guarded::Socket, Message>;

/// Runs until the connection closes; returns the sink so the caller can
/// finish the close handshake.
pub async fn run(mut sink: Sink, mut rx: mpsc::Receiver<Frame>, control: Arc<ConnControl>) -> Sink {
    // One close future for the whole life of the task: a fresh one per burst
    // would register with (and leave) the token's waiter list each time, two
    // mutex round trips per burst.
    let closed = control.closed();
    tokio::pin!(closed);
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut closed => break,
            frame = rx.recv() => match frame {
                Some(frame) => frame,
                None => break,
            },
        };
        let burst = write_burst(&mut sink, &mut rx, first);
        let ok = tokio::select! {
            biased;
            _ = &mut closed => break,
            r = burst => r.is_ok(),
        };
        if !ok {
            control.close(0);
            break;
        }
    }
    // Drop what is still queued (a closing connection never continues).
    rx.close();
    let code = control.code();
    if code != 0 {
        let reason = match code {
            close::GOING_AWAY => "server shutting down",
            close::MESSAGE_TOO_BIG => "message too big",
            close::INVALID_PAYLOAD => "text frame is not valid UTF-8",
            close::SLOW_CONSUMER => "slow consumer",
            _ => "",
        };
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        // A slow consumer's socket is full: its close frame waits behind
        // what the kernel holds, so it gets longer to go out.
        let limit = if code == close::SLOW_CONSUMER {
            SLOW_CLOSE_SEND
        } else {
            CLOSE_SEND
        };
        let _ = tokio::time::timeout(limit, sink.send(Message::Close(Some(frame)))).await;
    } else {
        let _ = tokio::time::timeout(CLOSE_SEND, sink.flush()).await;
    }
    sink
}

async fn write_burst(
    sink: &mut Sink,
    rx: &mut mpsc::Receiver<Frame>,
    first: Frame,
) -> Result<(), axum::Error> {
    sink.feed(Message::Text(first)).await?;
    for _ in 1..MAX_BATCH {
        match rx.try_recv() {
            Ok(frame) => sink.feed(Message::Text(frame)).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}
