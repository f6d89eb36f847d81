//! The frames waiting to go down one relayed connection, bounded so that a
//! client that reads slowly costs only itself.
//!
//! The media loop never waits for a connection: it pushes and moves on.
//! When RTP would take the queue beyond [`MEDIA_BUDGET`], the RTP already
//! queued is dropped with it (old video is worth nothing to a live picture;
//! a viewer that cannot keep up loses video, as on a congested UDP path),
//! and the push says so at once ([`Pushed::Purged`]), so the SFU holds that
//! viewer's video until a keyframe and asks for one. When the queue has
//! drained after a loss the writer says so too, for a keyframe in case the
//! one asked for was lost as well. Everything else (STUN answers, RTCP,
//! DTLS) is kept up to [`QUEUE_LIMIT`]; a connection that lets even that
//! pile up has stopped reading and is closed.

use std::collections::VecDeque;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::Notify;

/// Queued bytes beyond which RTP is dropped: well under a second of a
/// consultation's video, so a relayed viewer never watches the past.
pub const MEDIA_BUDGET: usize = 192 * 1024;
/// Queued bytes beyond which the connection is given up.
pub const QUEUE_LIMIT: usize = 1024 * 1024;

/// What became of a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// RTP over the media budget: it and the RTP queued before it were
    /// dropped (`dropped` packets in all); the viewer needs a keyframe.
    Purged {
        dropped: usize,
    },
    /// The queue is over its limit: close the connection.
    Overflow,
    /// The connection is already closing.
    Closed,
}

/// The queue's contents, without the waking: every rule lives here.
#[derive(Debug, Default)]
pub struct Frames {
    /// Each frame, and whether it is RTP (droppable).
    frames: VecDeque<(Bytes, bool)>,
    bytes: usize,
    /// RTP was dropped since the queue last drained.
    lost_media: bool,
    closed: bool,
    abandoned: bool,
}

/// What the writer takes in one go.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub frames: Vec<Bytes>,
    /// RTP was dropped before these were taken; they empty the queue.
    pub drained_after_loss: bool,
}

impl Frames {
    /// Adds a frame; `droppable` marks RTP.
    pub fn push(&mut self, frame: Bytes, droppable: bool) -> Pushed {
        if self.closed {
            return Pushed::Closed;
        }
        let after = self.bytes + frame.len();
        if droppable && after > MEDIA_BUDGET {
            self.lost_media = true;
            let before = self.frames.len();
            self.frames.retain(|(_, droppable)| !droppable);
            self.bytes = self.frames.iter().map(|(frame, _)| frame.len()).sum();
            return Pushed::Purged {
                dropped: before - self.frames.len() + 1,
            };
        }
        if after > QUEUE_LIMIT {
            self.closed = true;
            return Pushed::Overflow;
        }
        self.bytes = after;
        self.frames.push_back((frame, droppable));
        Pushed::Queued
    }

    /// Takes everything queued.
    pub fn take(&mut self) -> Batch {
        let frames: Vec<Bytes> = self.frames.drain(..).map(|(frame, _)| frame).collect();
        self.bytes = 0;
        let drained_after_loss = std::mem::take(&mut self.lost_media);
        Batch {
            frames,
            drained_after_loss,
        }
    }

    pub fn close(&mut self) {
        self.closed = true;
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// [`Frames`] shared between the media loop (pushing) and the connection's
/// writer task (taking).
#[derive(Debug, Default)]
pub struct SendQueue {
    frames: Mutex<Frames>,
    ready: Notify,
    /// Wakes the connection's task when it is to end without writing what
    /// is queued.
    abandoned: Notify,
}

impl SendQueue {
    pub fn push(&self, frame: Bytes, droppable: bool) -> Pushed {
        let pushed = self.lock().push(frame, droppable);
        if matches!(pushed, Pushed::Queued | Pushed::Overflow) {
            self.ready.notify_one();
        }
        pushed
    }

    /// Closes the queue: the writer sends what is queued, then ends.
    pub fn close(&self) {
        self.lock().close();
        self.ready.notify_one();
    }

    /// Ends the connection at once, dropping what is queued: its client
    /// stopped reading, so its writer may be stuck mid-write.
    pub fn abandon(&self) {
        {
            let mut frames = self.lock();
            frames.close();
            frames.take();
            frames.abandoned = true;
        }
        self.abandoned.notify_one();
        self.ready.notify_one();
    }

    /// Resolves once [`SendQueue::abandon`] was called.
    pub async fn until_abandoned(&self) {
        loop {
            let notified = self.abandoned.notified();
            if self.lock().abandoned {
                return;
            }
            notified.await;
        }
    }

    /// Waits for frames; `None` when the queue is closed and empty.
    pub async fn next_batch(&self) -> Option<Batch> {
        loop {
            {
                let mut frames = self.lock();
                if !frames.is_empty() {
                    return Some(frames.take());
                }
                if frames.is_closed() {
                    return None;
                }
            }
            self.ready.notified().await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Frames> {
        self.frames.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0x80; len])
    }

    #[test]
    fn rtp_over_the_budget_purges_the_queued_video_and_the_drain_after_it_is_told() {
        let mut frames = Frames::default();
        assert_eq!(frames.push(frame(100), false), Pushed::Queued);
        let mut queued = 0;
        let purged = loop {
            match frames.push(frame(1200), true) {
                Pushed::Queued => queued += 1,
                other => break other,
            }
        };
        assert_eq!(queued, (MEDIA_BUDGET - 100) / 1200);
        assert_eq!(
            purged,
            Pushed::Purged {
                dropped: queued + 1
            }
        );
        // The old video went with the packet that did not fit; the RTCP
        // before it stays, and RTCP still goes in after it.
        assert_eq!(frames.push(frame(60), false), Pushed::Queued);
        // The keyframe asked for at the purge fits.
        assert_eq!(frames.push(frame(1200), true), Pushed::Queued);
        let batch = frames.take();
        assert_eq!(
            batch.frames.iter().map(Bytes::len).collect::<Vec<_>>(),
            [100, 60, 1200],
            "the RTCP packets and the new video, none of the old"
        );
        assert!(batch.drained_after_loss);
        // Once drained, video goes in again and a drain is not told again.
        assert_eq!(frames.push(frame(1200), true), Pushed::Queued);
        assert!(!frames.take().drained_after_loss);
    }

    #[test]
    fn a_connection_that_lets_control_frames_pile_up_is_given_up() {
        let mut frames = Frames::default();
        let mut pushed = Pushed::Queued;
        for _ in 0..=QUEUE_LIMIT / 1000 {
            pushed = frames.push(frame(1000), false);
            if pushed != Pushed::Queued {
                break;
            }
        }
        assert_eq!(pushed, Pushed::Overflow);
        assert_eq!(frames.push(frame(10), false), Pushed::Closed);
    }

    #[tokio::test]
    async fn an_abandoned_queue_ends_its_connection_without_writing() {
        let queue = std::sync::Arc::new(SendQueue::default());
        assert_eq!(queue.push(frame(10), false), Pushed::Queued);
        let waiting = tokio::spawn({
            let queue = queue.clone();
            async move { queue.until_abandoned().await }
        });
        queue.abandon();
        waiting.await.unwrap();
        assert_eq!(queue.next_batch().await, None, "nothing left to write");
    }

    #[tokio::test]
    async fn the_writer_gets_what_was_queued_before_a_close() {
        let queue = SendQueue::default();
        assert_eq!(queue.push(frame(10), false), Pushed::Queued);
        queue.close();
        assert_eq!(queue.next_batch().await.unwrap().frames.len(), 1);
        assert_eq!(queue.next_batch().await, None);
    }
}
