//! The HTTP API: one handler per route, each a few lines that check the request and call the
//! module that does the work. Compute runs on blocking threads, never on the async executor.

use super::error::{self, ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use super::forward::{self, ForwardQuery, ScheduleQuery};
use super::jobs::JobKind;
use super::work::{self, SampleBody, TrainBody};
use super::{answers, assets, lab_api, stream, AppState};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// Largest JSON body accepted.
pub const MAX_JSON_BYTES: usize = 64 << 10;

type St = State<Arc<AppState>>;

/// Every route, the JSON 404/405 fallbacks and the body limits.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/info", get(info))
        .route("/api/schedule", get(schedule))
        .route("/api/forward", get(forward_json))
        .route("/api/forward.png", get(forward_png))
        .route(
            "/api/uploads",
            post(upload).layer(DefaultBodyLimit::max(forward::MAX_UPLOAD_BYTES)),
        )
        .route("/api/models", get(models))
        .route("/api/jobs", get(jobs))
        .route("/api/jobs/train", post(train))
        .route("/api/jobs/sample", post(sample))
        .route("/api/jobs/{id}", get(job).delete(cancel))
        .route("/api/jobs/{id}/cancel", post(cancel))
        .route("/api/jobs/{id}/events", get(events))
        .route("/api/answers", get(answers_get))
        .route("/api/answers.md", get(answers_md))
        .route("/api/answers/{key}", put(answer_put));
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/{*file}", get(assets::file))
        .merge(api)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BYTES))
        .with_state(state)
}

/// Run `f` on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// `GET /api/info`: version, data folder, Module 1's T and schedules, limits, jobs.
async fn info(State(st): St) -> Json<Value> {
    let (t, b0, b1) = lab_api::forward_defaults();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "data_dir": st.cfg.data_dir.display().to_string(),
        "T": t, "beta_start": b0, "beta_end": b1,
        "schedules": ["linear", "cosine"],
        "limits": {
            "upload_bytes": forward::MAX_UPLOAD_BYTES, "upload_side": forward::MAX_UPLOAD_SIDE,
            "json_bytes": MAX_JSON_BYTES, "epochs": work::MAX_EPOCHS, "count": work::MAX_COUNT,
            "answer_chars": answers::MAX_ANSWER_CHARS,
        },
        "slots": { "train": st.cfg.train_slots, "sample": st.cfg.sample_slots },
    }))
}

/// `GET /api/schedule?schedule=linear`.
async fn schedule(State(st): St, ApiQuery(q): ApiQuery<ScheduleQuery>) -> ApiResult<Json<Value>> {
    Ok(Json(forward::schedule_json(&st, &q)?))
}

/// `GET /api/forward?index=N|digit=D|upload=ID&t=T&schedule=S&seed=K`: numbers + PNG data URL.
async fn forward_json(
    State(st): St,
    ApiQuery(q): ApiQuery<ForwardQuery>,
) -> ApiResult<Json<Value>> {
    let (png, mut info) = blocking(move || forward::forward(&st, &q)).await?;
    info["image"] = Value::String(forward::data_url(&png));
    Ok(Json(info))
}

/// `GET /api/forward.png?…`: x_t as a PNG, the numbers in `X-Difflab-*` headers.
async fn forward_png(State(st): St, ApiQuery(q): ApiQuery<ForwardQuery>) -> ApiResult<Response> {
    let (png, info) = blocking(move || forward::forward(&st, &q)).await?;
    let num = |k: &str| info[k].as_f64().unwrap_or(f64::NAN).to_string();
    Ok((
        [
            (header::CONTENT_TYPE, "image/png".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (
                header::HeaderName::from_static("x-difflab-alpha-bar"),
                num("alpha_bar"),
            ),
            (header::HeaderName::from_static("x-difflab-snr"), num("snr")),
        ],
        png,
    )
        .into_response())
}

/// `POST /api/uploads` with a PNG or JPEG as the body: its id and what was made of it. A body
/// whose declared length is over the limit is refused before any of it is read, so the client
/// gets its 413 whole instead of a connection closed under it.
async fn upload(
    State(st): St,
    req: axum::extract::Request,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > forward::MAX_UPLOAD_BYTES as u64) {
        return Err(ApiError::too_large(format!(
            "the picture is {} bytes: at most {} are accepted",
            declared.unwrap_or_default(),
            forward::MAX_UPLOAD_BYTES
        )));
    }
    let body = Bytes::from_request(req, &()).await?;
    let (id, up) = blocking(move || st.uploads.add(&body)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "width": up.size.0, "height": up.size.1, "inverted": up.inverted })),
    ))
}

/// `GET /api/models`: the trained models, newest first.
async fn models(State(st): St) -> ApiResult<Json<Value>> {
    let list = blocking(move || Ok(st.models.list())).await?;
    Ok(Json(json!({ "models": list })))
}

/// `GET /api/jobs`: every job known, newest first.
async fn jobs(State(st): St) -> Json<Value> {
    Json(json!({ "jobs": st.pool.list() }))
}

/// `POST /api/jobs/train` (a [`TrainBody`]): 202 and the queued job.
async fn train(
    State(st): St,
    ApiJson(body): ApiJson<TrainBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let st2 = st.clone();
    let (request, work) =
        blocking(move || work::train_job(body, &st2.models, st2.cfg.mnist_dir.clone())).await?;
    let job = st.pool.submit(JobKind::Train, request, work)?;
    Ok((StatusCode::ACCEPTED, Json(job.status())))
}

/// `POST /api/jobs/sample` (a [`SampleBody`]): 202 and the queued job.
async fn sample(
    State(st): St,
    ApiJson(body): ApiJson<SampleBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let st2 = st.clone();
    let (request, work) = blocking(move || work::sample_job(body, &st2.models)).await?;
    let job = st.pool.submit(JobKind::Sample, request, work)?;
    Ok((StatusCode::ACCEPTED, Json(job.status())))
}

fn find_job(st: &AppState, id: u64) -> ApiResult<Arc<super::jobs::Job>> {
    st.pool
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("id: no job {id}")))
}

/// `GET /api/jobs/{id}`: its state, queue position, result or error.
async fn job(State(st): St, ApiPath(id): ApiPath<u64>) -> ApiResult<Json<Value>> {
    Ok(Json(find_job(&st, id)?.status()))
}

/// `DELETE /api/jobs/{id}` or `POST /api/jobs/{id}/cancel`: stop it (409 when finished).
async fn cancel(State(st): St, ApiPath(id): ApiPath<u64>) -> ApiResult<Json<Value>> {
    let job = find_job(&st, id)?;
    if !job.cancel() {
        return Err(ApiError::conflict(format!(
            "job {id} has already finished ({:?})",
            job.state()
        )));
    }
    Ok(Json(json!({ "id": id, "cancelling": true })))
}

/// `GET /api/jobs/{id}/events`: the job's server-sent events (resumes after `Last-Event-ID`).
async fn events(
    State(st): St,
    ApiPath(id): ApiPath<u64>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let job = find_job(&st, id)?;
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(0, |n| n + 1);
    Ok(stream::job_events(job, from, st.shutdown.clone()).into_response())
}

/// `GET /api/answers`: the questions and every saved answer.
async fn answers_get(State(st): St) -> Json<Value> {
    Json(st.answers.get().await)
}

/// `PUT /api/answers/{n}` with `{"text": …}` (n = 1…25, or `name`).
async fn answer_put(
    State(st): St,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<answers::AnswerBody>,
) -> ApiResult<Json<Value>> {
    Ok(Json(st.answers.put(&key, body.text).await?))
}

/// `GET /api/answers.md`: the answer sheet as a Markdown download.
async fn answers_md(State(st): St) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/markdown; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"answer-sheet.md\"",
            ),
        ],
        st.answers.markdown().await,
    )
        .into_response()
}
