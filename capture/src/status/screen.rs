//! The stream's status on the nurse screen: the picture's quality in
//! words, from the latency controller's report.

use crate::latency::report::LatencyReport;
use crate::screen::view::QualityView;

/// Below this many frames a second the picture hardly moves.
const POOR_FPS: f64 = 5.0;

/// The stream's status in words: the quality ladder stepped the picture
/// down (for the line or the laptop), the picture hardly moves, or all is
/// as configured.
pub fn quality_in_words(status: &LatencyReport) -> QualityView {
    let video = &status.video;
    if video.fps <= 0.0 && video.bitrate_kbps <= 0.0 {
        QualityView::Unknown
    } else if video.fps < POOR_FPS && video.fps_target as f64 >= 2.0 * POOR_FPS {
        QualityView::Poor
    } else if status.ladder.rung > 0 {
        QualityView::Reduced
    } else {
        QualityView::Good
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quality_is_said_in_words() {
        let mut status = LatencyReport::default();
        assert_eq!(quality_in_words(&status), QualityView::Unknown);
        status.video.fps = 29.5;
        status.video.fps_target = 30;
        status.video.bitrate_kbps = 1800.0;
        assert_eq!(quality_in_words(&status), QualityView::Good);
        status.ladder.rung = 2;
        assert_eq!(quality_in_words(&status), QualityView::Reduced);
        status.video.fps = 2.0;
        assert_eq!(quality_in_words(&status), QualityView::Poor);
    }
}
