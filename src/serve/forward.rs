//! Module 1 live: a training digit (or the student's uploaded picture) noised to x_t for the
//! slider's t, with ᾱ_t, the signal and noise shares and the SNR; the schedule's curves; and
//! picture uploads (size-limited, decoded by the library's own image path, kept under
//! `--data/uploads`).

use super::error::{ApiError, ApiResult};
use super::lab_api::{self, Upload};
use super::AppState;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Largest upload accepted, in bytes.
pub const MAX_UPLOAD_BYTES: usize = 4 << 20;
/// Largest upload accepted, in pixels per side.
pub const MAX_UPLOAD_SIDE: u32 = 4096;
/// Largest seed accepted (JavaScript numbers are exact up to 2^53).
pub const MAX_SEED: u64 = (1 << 53) - 1;
/// Each MNIST pixel is drawn this many screen pixels wide.
pub const DEFAULT_SCALE: u32 = 10;

/// The query of `GET /api/forward`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardQuery {
    /// Training image number.
    pub index: Option<usize>,
    /// Or the first training image of this digit.
    pub digit: Option<u8>,
    /// Or an uploaded picture's id.
    pub upload: Option<String>,
    /// The timestep (0..T).
    pub t: usize,
    /// `linear` or `cosine`.
    #[serde(default = "linear")]
    pub schedule: String,
    /// Seed of ε.
    #[serde(default = "seed42")]
    pub seed: u64,
    /// Screen pixels per MNIST pixel (1..=16).
    pub scale: Option<u32>,
}

fn linear() -> String {
    "linear".into()
}
fn seed42() -> u64 {
    42
}

/// The query of `GET /api/schedule`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleQuery {
    /// `linear` or `cosine`.
    #[serde(default = "linear")]
    pub schedule: String,
}

/// Uploaded pictures, decoded once and kept in memory (re-read from disk after a restart).
pub struct Uploads {
    dir: PathBuf,
    decoded: Mutex<HashMap<String, std::sync::Arc<Upload>>>,
    next: AtomicU64,
}

/// An upload id is 16 lowercase hex digits, so it never names a path outside the folder.
fn valid_id(id: &str) -> bool {
    id.len() == 16
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Uploads {
    /// Uploads kept in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Uploads {
            dir,
            decoded: Mutex::new(HashMap::new()),
            next: AtomicU64::new(seed),
        }
    }
    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.img"))
    }
    /// Store and decode `bytes`; an error (422) when it is no PNG/JPEG or is too large.
    pub fn add(&self, bytes: &[u8]) -> ApiResult<(String, std::sync::Arc<Upload>)> {
        if bytes.is_empty() {
            return Err(ApiError::bad_request(
                "the body is empty: send a PNG or JPEG file",
            ));
        }
        let n = self.next.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst);
        let id = format!("{:016x}", n.wrapping_mul(0xBF58_476D_1CE4_E5B9));
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| ApiError::internal(format!("could not create the upload folder: {e}")))?;
        let path = self.path(&id);
        lab_api::write_atomic(&path, bytes)?;
        match decode_checked(&path) {
            Ok(up) => {
                let up = std::sync::Arc::new(up);
                self.cache().insert(id.clone(), up.clone());
                Ok((id, up))
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }
    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, std::sync::Arc<Upload>>> {
        self.decoded.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The decoded upload `id` (404 when unknown).
    pub fn get(&self, id: &str) -> ApiResult<std::sync::Arc<Upload>> {
        if !valid_id(id) {
            return Err(ApiError::bad_request(format!(
                "upload: '{id}' is not an upload id (16 hex digits)"
            )));
        }
        if let Some(u) = self.cache().get(id) {
            return Ok(u.clone());
        }
        let path = self.path(id);
        if !path.is_file() {
            return Err(ApiError::not_found(format!("upload: no upload '{id}'")));
        }
        let up = std::sync::Arc::new(decode_checked(&path)?);
        self.cache().insert(id.to_string(), up.clone());
        Ok(up)
    }
}

fn decode_checked(path: &Path) -> ApiResult<Upload> {
    let (w, h) = lab_api::image_dimensions(path).map_err(|e| ApiError::invalid(e.to_string()))?;
    if w > MAX_UPLOAD_SIDE || h > MAX_UPLOAD_SIDE || w == 0 || h == 0 {
        return Err(ApiError::invalid(format!(
            "the picture is {w}×{h}: at most {MAX_UPLOAD_SIDE}×{MAX_UPLOAD_SIDE} pixels are accepted"
        )));
    }
    lab_api::decode_upload(path).map_err(|e| ApiError::invalid(e.to_string()))
}

/// A PNG as a `data:` URL.
pub fn data_url(png: &[u8]) -> String {
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(png)
    )
}

/// The schedule `name` over T steps, from the state's cache (422 for an unknown name).
fn schedule_for(st: &AppState, name: &str) -> ApiResult<std::sync::Arc<super::Schedule>> {
    st.schedule(name).ok_or_else(|| {
        ApiError::invalid(format!(
            "schedule: unknown schedule '{name}' (expected linear or cosine)"
        ))
    })
}

/// `GET /api/schedule`: ᾱ_t and SNR(t) for every t, and where SNR crosses 1 and 0.1.
pub fn schedule_json(st: &AppState, q: &ScheduleQuery) -> ApiResult<Value> {
    let s = schedule_for(st, &q.schedule)?;
    let ab = lab_api::alpha_bars(&s.schedule);
    let snr: Vec<f64> = ab.iter().map(|a| a / (1.0 - a)).collect();
    Ok(json!({
        "schedule": s.name,
        "T": ab.len(),
        "alpha_bar": ab,
        "snr": snr,
        "first_t_snr_below_1": lab_api::first_t_snr_below(&s.schedule, 1.0),
        "first_t_snr_below_0_1": lab_api::first_t_snr_below(&s.schedule, 0.1),
    }))
}

/// The clean image the query names and a description of it.
fn source_image(st: &AppState, q: &ForwardQuery) -> ApiResult<(Vec<f32>, Value)> {
    match (&q.upload, q.index, q.digit) {
        (Some(id), None, None) => {
            let up = st.uploads.get(id)?;
            Ok((
                up.x0.clone(),
                json!({ "upload": id, "width": up.size.0, "height": up.size.1, "inverted": up.inverted }),
            ))
        }
        (None, index, digit) if index.is_none() || digit.is_none() => {
            let mnist = st.mnist()?;
            let i = match (index, digit) {
                (Some(i), _) => i,
                (None, Some(d)) if d <= 9 => {
                    lab_api::first_index_of(&mnist, d).ok_or_else(|| {
                        ApiError::not_found(format!("digit: no training image of {d}"))
                    })?
                }
                (None, Some(d)) => {
                    return Err(ApiError::invalid(format!("digit: {d} is not a digit 0-9")))
                }
                (None, None) => 0,
            };
            let (x0, label) = lab_api::mnist_image(&mnist, i)
                .map_err(|e| ApiError::invalid(format!("index: {e}")))?;
            Ok((x0, json!({ "index": i, "label": label })))
        }
        _ => Err(ApiError::bad_request(
            "give one of index, digit or upload, not several",
        )),
    }
}

/// x_t as a PNG and its numbers, for `GET /api/forward` (JSON) and `/api/forward.png`.
pub fn forward(st: &AppState, q: &ForwardQuery) -> ApiResult<(Vec<u8>, Value)> {
    let started = std::time::Instant::now();
    let s = schedule_for(st, &q.schedule)?;
    if q.seed > MAX_SEED {
        return Err(ApiError::invalid(format!("seed: at most {MAX_SEED}")));
    }
    let scale = q.scale.unwrap_or(DEFAULT_SCALE);
    if !(1..=16).contains(&scale) {
        return Err(ApiError::invalid(format!(
            "scale: {scale} is outside 1..=16"
        )));
    }
    let (ab, snr) = lab_api::alpha_bar_snr(&s.schedule, q.t)
        .map_err(|e| ApiError::invalid(format!("t: {e}")))?;
    let (x0, source) = source_image(st, q)?;
    let eps = lab_api::noise(q.seed, x0.len());
    let xt = lab_api::noised(&s.schedule, &x0, &eps, q.t)?;
    let png = lab_api::gray_png(&xt, lab_api::MNIST_SIDE, scale)?;
    let info = json!({
        "t": q.t,
        "T": lab_api::alpha_bars(&s.schedule).len(),
        "schedule": s.name,
        "seed": q.seed,
        "alpha_bar": ab,
        "signal_share": ab.sqrt(),
        "noise_share": (1.0 - ab).sqrt(),
        "signal_variance": ab,
        "noise_variance": 1.0 - ab,
        "snr": snr,
        "source": source,
        "server_ms": started.elapsed().as_secs_f64() * 1e3,
    });
    Ok((png, info))
}
