//! What every handler shares.

use std::fmt;
use std::sync::Arc;

use crate::media::MediaPlane;
use crate::settings::SignalingSettings;
use crate::tokens::TokenAuthority;

/// The viewer page's files, compiled into the gateway binary.
///
/// Signaling serves them but does not own them: the gateway passes them in
/// (`include_str!`), so this crate has no path into the gateway's tree.
#[derive(Debug, Clone, Copy)]
pub struct PageAssets {
    pub viewer_html: &'static str,
    pub viewer_js: &'static str,
    pub viewer_css: &'static str,
}

/// The state behind every route.
pub struct AppState {
    pub media: Arc<dyn MediaPlane>,
    pub tokens: TokenAuthority,
    pub settings: SignalingSettings,
    pub pages: PageAssets,
}

impl AppState {
    pub fn new(
        media: Arc<dyn MediaPlane>,
        tokens: TokenAuthority,
        settings: SignalingSettings,
        pages: PageAssets,
    ) -> Self {
        Self {
            media,
            tokens,
            settings,
            pages,
        }
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("tokens", &self.tokens)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
