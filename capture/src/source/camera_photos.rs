//! Photos from the supervised camera: the handle the photo taker holds, and
//! the requests it sends to the camera's supervisor.
//!
//! The supervisor owns the camera, so it is the one that takes the photo
//! (see [`super::supervised`]): it answers with the camera's newest frame at
//! the size the camera delivers it (before it is scaled for the stream), or,
//! when it may switch modes, with a frame from the camera's still mode.
//! One photo is taken at a time; a request while one is being taken is
//! told so at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime};

use gstreamer as gst;

use super::{FullSizeFrames, PhotoMode};

/// Longest a photo request waits for the supervisor's answer: opening the
/// still mode, its settling and its frame limit, with room to spare.
const ANSWER_LIMIT: Duration = Duration::from_secs(20);

/// Which camera mode a photo's frame came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoFrom {
    /// The camera's still mode.
    StillMode,
    /// The camera's streaming mode (`photo_mode = stream`, or the still
    /// mode failed).
    StreamingMode,
}

/// A frame for a photo, at the size the camera delivered it.
#[derive(Debug, Clone)]
pub struct CameraPhoto {
    /// The raw frame, with its caps (format and size).
    pub frame: gst::Sample,
    /// The mode it came from.
    pub from: PhotoFrom,
    /// When the camera took it (the JPEG is made later, after the camera
    /// is back in its streaming mode).
    pub taken_at: SystemTime,
}

/// Why the camera gave no photo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CameraPhotoError {
    /// Another photo is being taken.
    #[error("another photo is being taken; ask again when it has arrived")]
    Busy,
    /// The camera is not showing a picture (not started, or disconnected).
    #[error("{0}")]
    NoPicture(&'static str),
    /// The supervisor is not running (the capture pipeline stopped).
    #[error("the camera is not running; photos are taken while the daemon streams")]
    NotRunning,
}

/// A request to the supervisor, answered on `answer`.
pub(super) struct PhotoRequest {
    pub(super) answer: mpsc::Sender<Result<CameraPhoto, CameraPhotoError>>,
}

/// The photo taker's handle on the supervised camera; clones share it.
#[derive(Debug, Clone)]
pub struct CameraPhotos(Arc<Desk>);

#[derive(Debug)]
struct Desk {
    mode: PhotoMode,
    /// The camera's newest frame at the size it delivers, kept by the
    /// supervisor's camera pipeline.
    frames: FullSizeFrames,
    /// Set when the supervisor starts; `None` before and after.
    requests: Mutex<Option<mpsc::Sender<PhotoRequest>>>,
    busy: AtomicBool,
}

impl CameraPhotos {
    /// A handle for a camera that is not supervised yet; see
    /// [`super::supervise`].
    pub fn new(mode: PhotoMode) -> Self {
        CameraPhotos(Arc::new(Desk {
            mode,
            frames: FullSizeFrames::default(),
            requests: Mutex::new(None),
            busy: AtomicBool::new(false),
        }))
    }

    /// Whether a photo switches the camera to its largest mode.
    pub fn mode(&self) -> PhotoMode {
        self.0.mode
    }

    /// Where the supervisor keeps the camera's newest frame at its own size.
    pub(super) fn frames(&self) -> &FullSizeFrames {
        &self.0.frames
    }

    /// Connects the supervisor; returns where its requests arrive.
    pub(super) fn open_desk(&self) -> mpsc::Receiver<PhotoRequest> {
        let (sender, receiver) = mpsc::channel();
        *self.0.requests.lock().unwrap_or_else(|e| e.into_inner()) = Some(sender);
        receiver
    }

    /// Asks the supervisor for a photo and waits for it (blocking: run it
    /// off the async threads). A second call while one waits is refused
    /// with [`CameraPhotoError::Busy`].
    pub fn take(&self) -> Result<CameraPhoto, CameraPhotoError> {
        if self.0.busy.swap(true, Ordering::AcqRel) {
            return Err(CameraPhotoError::Busy);
        }
        let _done = NotBusy(&self.0.busy);
        let sender = self
            .0
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .ok_or(CameraPhotoError::NotRunning)?;
        let (answer, answered) = mpsc::channel();
        sender
            .send(PhotoRequest { answer })
            .map_err(|_| CameraPhotoError::NotRunning)?;
        answered
            .recv_timeout(ANSWER_LIMIT)
            .map_err(|_| CameraPhotoError::NotRunning)?
    }

    /// Whether a photo is being taken.
    pub fn is_busy(&self) -> bool {
        self.0.busy.load(Ordering::Acquire)
    }
}

/// Clears the busy flag however `take` ends.
struct NotBusy<'a>(&'a AtomicBool);

impl Drop for NotBusy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}
