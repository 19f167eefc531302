//! A connection's outbox: the commands its user task queues, drained in
//! order by the connection task.
//!
//! A queue and a [`Notify`] rather than a channel: a channel allocates a
//! block of 32 slots up front, the queue a few slots when first used.
//!
//! # Nothing is claimed that is not sent (issue 12)
//!
//! Once a `Close` is queued, the outbox refuses every later command: the
//! connection task stops at the `Close`, so anything queued behind it would
//! be dropped unsent. Refusing it at the push lets the caller count it as
//! not sent, and the checker's records of a send are made by the connection
//! task itself, just before it writes the frame (see `conn::Record`), so a
//! command that never reaches the wire is never recorded either.

use parking_lot::Mutex;
use std::collections::VecDeque;
use tokio::sync::Notify;

/// Why a command was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// A `Close` is already queued (or the connection is gone).
    Closing,
    /// The queue holds its limit.
    Full,
}

#[derive(Debug)]
struct Queue<T> {
    items: VecDeque<T>,
    closing: bool,
}

/// The commands of one connection, with the wake-up of its task.
#[derive(Debug)]
pub struct Outbox<T> {
    queue: Mutex<Queue<T>>,
    wake: Notify,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Outbox {
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                closing: false,
            }),
            wake: Notify::new(),
        }
    }
}

impl<T> Outbox<T> {
    /// Queues `item` unless the outbox is closing or holds `limit` items.
    pub fn push(&self, item: T, limit: usize) -> Result<(), Refused> {
        self.push_inner(item, limit, false)
    }

    /// Queues the last item (a close): everything pushed later is refused.
    /// Past the limit: a close must get through a full queue.
    pub fn push_last(&self, item: T) -> Result<(), Refused> {
        self.push_inner(item, usize::MAX, true)
    }

    /// Refuses everything from now on, without queueing anything (the
    /// connection task ended on its own).
    pub fn shut(&self) {
        self.queue.lock().closing = true;
    }

    fn push_inner(&self, item: T, limit: usize, last: bool) -> Result<(), Refused> {
        {
            let mut q = self.queue.lock();
            if q.closing {
                return Err(Refused::Closing);
            }
            if q.items.len() >= limit {
                return Err(Refused::Full);
            }
            q.items.push_back(item);
            q.closing = last;
        }
        // Stores a permit if the task is busy: no command waits unnoticed.
        self.wake.notify_one();
        Ok(())
    }

    /// The next item, in push order.
    pub fn pop(&self) -> Option<T> {
        self.queue.lock().items.pop_front()
    }

    /// Completes when something was pushed since the last wake-up.
    pub async fn notified(&self) {
        self.wake.notified().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator-side cause of the I5 violations of issue 12: a `Close`
    /// queued by device churn, then a message pushed behind it. The old
    /// outbox accepted the message (the connection still looked open until
    /// its task popped the `Close`) and the task then dropped it unsent.
    #[test]
    fn nothing_is_accepted_behind_a_close() {
        let out = Outbox::default();
        assert_eq!(out.push("text 1", 8), Ok(()));
        assert_eq!(out.push_last("close"), Ok(()));
        assert_eq!(out.push("text 2", 8), Err(Refused::Closing));
        assert_eq!(out.push_last("close again"), Err(Refused::Closing));
        // What was queued before the close still goes out, in order.
        assert_eq!(out.pop(), Some("text 1"));
        assert_eq!(out.pop(), Some("close"));
        assert_eq!(out.pop(), None);
    }

    #[test]
    fn a_full_queue_refuses_but_a_close_gets_through() {
        let out = Outbox::default();
        assert_eq!(out.push(1, 2), Ok(()));
        assert_eq!(out.push(2, 2), Ok(()));
        assert_eq!(out.push(3, 2), Err(Refused::Full));
        assert_eq!(out.push_last(4), Ok(()));
        assert_eq!(
            (out.pop(), out.pop(), out.pop()),
            (Some(1), Some(2), Some(4))
        );
    }

    #[test]
    fn a_shut_outbox_refuses_everything() {
        let out = Outbox::default();
        out.shut();
        assert_eq!(out.push(1, 2), Err(Refused::Closing));
        assert_eq!(out.push_last(2), Err(Refused::Closing));
        assert_eq!(out.pop(), None);
    }
}
