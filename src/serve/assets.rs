//! The page's files, compiled into the binary: HTML, JavaScript, CSS, the figures' fonts
//! (DejaVu Sans, from `assets/fonts`) and `theme.css`, the report's colours written from
//! `viz::style` so that the page and the figures share one style. No npm, no CDN.

use super::error::ApiError;
use super::lab_api;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../assets/serve/index.html");
const APP_JS: &str = include_str!("../../assets/serve/app.js");
const PLOT_JS: &str = include_str!("../../assets/serve/plot.js");
const APP_CSS: &str = include_str!("../../assets/serve/app.css");
const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");
const FONT_LICENSE: &str = include_str!("../../assets/fonts/LICENSE-DejaVu.txt");

/// `GET /`: the page.
pub async fn index() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response()
}

/// `GET /assets/{file}`: one embedded file (404 JSON for any other name).
pub async fn file(Path(name): Path<String>) -> Response {
    let text = |ct: &'static str, body: &'static str| {
        (
            [
                (header::CONTENT_TYPE, ct),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response()
    };
    let font = |body: &'static [u8]| {
        (
            [
                (header::CONTENT_TYPE, "font/ttf"),
                (header::CACHE_CONTROL, "max-age=86400"),
            ],
            body,
        )
            .into_response()
    };
    match name.as_str() {
        "app.js" => text("text/javascript; charset=utf-8", APP_JS),
        "plot.js" => text("text/javascript; charset=utf-8", PLOT_JS),
        "app.css" => text("text/css; charset=utf-8", APP_CSS),
        "theme.css" => (
            [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
            lab_api::theme_css(),
        )
            .into_response(),
        "fonts/DejaVuSans.ttf" => font(FONT),
        "fonts/DejaVuSans-Bold.ttf" => font(FONT_BOLD),
        "fonts/LICENSE-DejaVu.txt" => text("text/plain; charset=utf-8", FONT_LICENSE),
        other => ApiError::not_found(format!("no such asset: {other}")).into_response(),
    }
}
