//! The running daemon behind the nurse screen: what the screen's controls
//! do, and the parts of the view that come from the media side (self-view,
//! quality, microphone, talk-back volume). The room's events reach the
//! view through [`crate::consultation`], the link's state through the
//! uplink's state machine ([`super`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gstreamer as gst;
use samsyn_config::CaptureConfig;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::audio;
use crate::check::{self, CameraPart, CheckStep, LineTarget};
use crate::run::ScreenParts;
use crate::screen::ScreenFeed;
use crate::screen::view::{CameraView, CheckView, MicrophoneView, ScreenCommand, TalkbackView};
use crate::self_view::{self, SelfView};
use crate::source::CameraState;
use crate::status::screen::quality_in_words;
use crate::talkback::Command;

/// The running controls; dropping it stops them.
pub struct Running {
    tasks: Vec<JoinHandle<()>>,
    self_view_stop: Arc<AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.self_view_stop.store(true, Ordering::Relaxed);
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts serving the screen's controls (`commands` from its page) and
/// its media-side view on `feed`.
pub fn start(
    feed: ScreenFeed,
    mut commands: mpsc::Receiver<ScreenCommand>,
    parts: ScreenParts,
) -> Running {
    let ScreenParts {
        pipeline,
        has_voice,
        playout,
        stop,
        mut report,
        camera,
        check,
    } = parts;
    feed.update(|view| {
        view.microphone = has_voice.then_some(MicrophoneView { muted: false });
        view.talkback = playout.as_ref().map(|p| TalkbackView {
            volume_percent: p.volume_percent(),
        });
    });

    let self_view_stop = Arc::new(AtomicBool::new(false));
    start_self_view(&pipeline, feed.clone(), self_view_stop.clone());

    let quality_feed = feed.clone();
    let quality = tokio::spawn(async move {
        loop {
            let words = quality_in_words(&report.borrow_and_update());
            quality_feed.update(|view| view.quality = words);
            if report.changed().await.is_err() {
                return;
            }
        }
    });

    let camera_feed = feed.clone();
    let camera = tokio::spawn(async move {
        let Some(mut camera) = camera else {
            // Unsupervised (the camera's own H.264): pictures are assumed.
            camera_feed.update(|view| view.camera = CameraView::Live);
            return;
        };
        loop {
            let state = camera_view(*camera.borrow_and_update());
            camera_feed.update(|view| view.camera = state);
            if camera.changed().await.is_err() {
                return;
            }
        }
    });

    let answers = tokio::spawn(async move {
        let mut running_check: Option<JoinHandle<()>> = None;
        while let Some(command) = commands.recv().await {
            match command {
                ScreenCommand::Microphone { muted } => {
                    if audio::set_microphone_muted(&pipeline, muted) {
                        tracing::info!(muted, "microphone set from the nurse screen");
                        feed.update(|view| view.microphone = Some(MicrophoneView { muted }));
                    }
                }
                ScreenCommand::Louder | ScreenCommand::Softer => {
                    let Some(playout) = &playout else { continue };
                    let step = if command == ScreenCommand::Louder {
                        Command::Louder
                    } else {
                        Command::Softer
                    };
                    if let Some(volume) = step.volume_after(playout.volume_percent()) {
                        playout.set_volume_percent(volume);
                        feed.update(|view| {
                            view.talkback = Some(TalkbackView {
                                volume_percent: volume,
                            });
                        });
                    }
                }
                ScreenCommand::EndVisit => {
                    tracing::info!("the nurse ended the visit on her screen");
                    stop.stop();
                }
                ScreenCommand::Check => {
                    if running_check.as_ref().is_some_and(|t| !t.is_finished()) {
                        continue;
                    }
                    running_check = Some(tokio::spawn(run_check(feed.clone(), check.clone())));
                }
            }
        }
    });

    Running {
        tasks: vec![quality, camera, answers],
        self_view_stop,
    }
}

/// The camera supervisor's state as the screen shows it.
fn camera_view(state: CameraState) -> CameraView {
    match state {
        CameraState::Starting => CameraView::Starting,
        CameraState::Live => CameraView::Live,
        CameraState::Lost => CameraView::Lost,
        CameraState::Photo => CameraView::Photo,
    }
}

/// Runs the check and shows its progress and verdict.
async fn run_check(feed: ScreenFeed, (config, line): (CaptureConfig, LineTarget)) {
    feed.update(|view| {
        view.check = Some(CheckView::Running {
            step: "camera".into(),
        })
    });
    let progress_feed = feed.clone();
    let progress = move |step: CheckStep| {
        let step = match step {
            CheckStep::Camera => "camera",
            CheckStep::Microphone => "microphone",
            CheckStep::Sound => "sound",
            CheckStep::Line => "line",
        };
        progress_feed.update(|view| view.check = Some(CheckView::Running { step: step.into() }));
    };
    // The daemon holds the camera: the check asks its supervisor.
    let camera = CameraPart::Streaming {
        delivering: matches!(feed.current().camera, CameraView::Live | CameraView::Photo),
    };
    let report = check::run_check_with(&config, Some(line), &progress, camera).await;
    feed.update(|view| {
        view.check = Some(CheckView::Done {
            verdict: report.level.code().to_owned(),
            headline: report.headline_nb.clone(),
            advice: report.advice_nb.clone(),
        })
    });
}

/// Sends a self-view frame to the screen every [`self_view::INTERVAL`],
/// on a thread of its own (encoding blocks), until `stop`.
fn start_self_view(pipeline: &gst::Pipeline, feed: ScreenFeed, stop: Arc<AtomicBool>) {
    let view = match SelfView::attach(pipeline) {
        Ok(Some(view)) => view,
        Ok(None) => {
            tracing::info!(
                "no self-view: the camera's own H.264 is sent as it comes, with no picture to \
                 show"
            );
            return;
        }
        Err(e) => {
            tracing::warn!("no self-view: {e}");
            return;
        }
    };
    let spawned = std::thread::Builder::new()
        .name("self-view".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(jpeg) = view.next_jpeg() {
                    feed.show_self_view(jpeg);
                }
                std::thread::sleep(self_view::INTERVAL);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("no self-view: {e}");
    }
}
