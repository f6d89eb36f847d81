//! The nurse screen's page: its HTML, script, style and word catalogue,
//! built into the daemon so the screen needs no files on the laptop.

use axum::http::header;
use axum::response::IntoResponse;

/// One file of the page.
#[derive(Debug, Clone, Copy)]
pub(super) struct Asset {
    content_type: &'static str,
    body: &'static str,
}

impl IntoResponse for Asset {
    fn into_response(self) -> axum::response::Response {
        ([(header::CONTENT_TYPE, self.content_type)], self.body).into_response()
    }
}

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

pub(super) const INDEX_HTML: Asset = Asset {
    content_type: HTML,
    body: include_str!("../../web/screen/index.html"),
};

pub(super) const SCREEN_JS: Asset = Asset {
    content_type: JAVASCRIPT,
    body: include_str!("../../web/screen/screen.js"),
};

pub(super) const STRINGS_JS: Asset = Asset {
    content_type: JAVASCRIPT,
    body: include_str!("../../web/screen/strings.js"),
};

pub(super) const SCREEN_CSS: Asset = Asset {
    content_type: CSS,
    body: include_str!("../../web/screen/screen.css"),
};
