//! The bounded worker pool: two lanes (training, sampling), each running at most its number of
//! jobs at a time (default one each) on tokio's blocking threads, the rest queued in order with
//! their position known. Every job keeps the log of events it has sent (so a page that reloads
//! replays it), can be cancelled while queued or running, and its compute checks a flag
//! ([`JobCtx::cancelled`]) between steps.

use super::error::ApiError;
use super::lab_api::{self, LabResult};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{watch, Semaphore};

/// Jobs waiting in one lane before new ones are refused.
pub const MAX_QUEUED: usize = 16;
/// Finished jobs kept (with their events) before the oldest are forgotten.
pub const KEEP_FINISHED: usize = 32;

/// Which lane a job runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// Module 2: training a model.
    Train,
    /// Module 3: sampling from a model.
    Sample,
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a free slot.
    Queued,
    /// Computing.
    Running,
    /// Finished with a result.
    Done,
    /// Stopped by an error.
    Failed,
    /// Stopped by a cancel.
    Cancelled,
}

impl JobState {
    /// Done, failed or cancelled.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// One server-sent event of a job: its number, name and JSON data.
#[derive(Clone, Debug)]
pub struct JobEvent {
    /// 0, 1, 2, … in the order sent.
    pub id: usize,
    /// `queued`, `started`, `plan`, `progress`, `epoch`, `frame`, `done`, `failed`, `cancelled`.
    pub name: &'static str,
    /// The event's JSON.
    pub data: String,
}

struct Inner {
    state: JobState,
    position: Option<usize>,
    events: Vec<JobEvent>,
    result: Option<Value>,
    error: Option<String>,
    viewers: usize,
}

impl Inner {
    /// Append the event `name` with `data`; returns how many events there are now.
    fn push(&mut self, name: &'static str, data: &Value) -> usize {
        let id = self.events.len();
        self.events.push(JobEvent {
            id,
            name,
            data: data.to_string(),
        });
        self.events.len()
    }
}

/// A queued, running or finished job.
pub struct Job {
    /// Its number.
    pub id: u64,
    /// Its lane.
    pub kind: JobKind,
    /// What was asked (the request body, for the status).
    pub request: Value,
    cancel: AtomicBool,
    cancel_tx: watch::Sender<bool>,
    changed: watch::Sender<usize>,
    inner: Mutex<Inner>,
}

impl Job {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Append an event and wake the streams.
    pub fn emit(&self, name: &'static str, data: Value) {
        let n = self.lock().push(name, &data);
        self.changed.send_replace(n);
    }
    /// Events from number `from` on, and whether the job has finished.
    pub fn events_from(&self, from: usize) -> (Vec<JobEvent>, bool) {
        let g = self.lock();
        let ev = g.events.get(from..).map(<[_]>::to_vec).unwrap_or_default();
        (ev, g.state.is_final())
    }
    /// A receiver woken on every new event.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.changed.subscribe()
    }
    /// Ask the job to stop (queued: it never starts; running: its compute stops at the next
    /// step). Returns false when it had already finished.
    pub fn cancel(&self) -> bool {
        if self.lock().state.is_final() {
            return false;
        }
        self.cancel.store(true, Ordering::SeqCst);
        self.cancel_tx.send_replace(true);
        true
    }
    /// True once cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
    /// The state now.
    pub fn state(&self) -> JobState {
        self.lock().state
    }
    /// A stream started watching.
    pub fn viewer_joined(&self) {
        self.lock().viewers += 1;
    }
    /// A stream stopped watching; sampling is streaming work, so its last viewer leaving
    /// cancels it. Training goes on (its result is a checkpoint; a reload re-attaches).
    pub fn viewer_left(&self) {
        let last = {
            let mut g = self.lock();
            g.viewers = g.viewers.saturating_sub(1);
            g.viewers == 0
        };
        if last && self.kind == JobKind::Sample {
            self.cancel();
        }
    }
    /// The job as JSON: id, kind, state, queue position, request, result or error.
    pub fn status(&self) -> Value {
        let g = self.lock();
        json!({
            "id": self.id,
            "kind": self.kind,
            "state": g.state,
            "position": g.position,
            "request": self.request,
            "result": g.result,
            "error": g.error,
            "events": g.events.len(),
        })
    }
    fn finish(&self, outcome: LabResult<Value>) {
        let (state, name, data) = match outcome {
            Ok(v) => (JobState::Done, "done", v),
            Err(e) if lab_api::is_cancelled(&e) || self.is_cancelled() => {
                (JobState::Cancelled, "cancelled", json!({}))
            }
            Err(e) => (
                JobState::Failed,
                "failed",
                json!({ "error": e.to_string() }),
            ),
        };
        // State and final event change together, so a stream never sees one without the other.
        let n = {
            let mut g = self.lock();
            g.state = state;
            g.position = None;
            match state {
                JobState::Done => g.result = Some(data.clone()),
                JobState::Failed => g.error = data["error"].as_str().map(str::to_string),
                _ => {}
            }
            g.push(name, &data)
        };
        self.changed.send_replace(n);
    }
}

/// What a job's compute sees: emit events, check for a cancel.
#[derive(Clone)]
pub struct JobCtx {
    job: Arc<Job>,
}

impl JobCtx {
    /// Send an event to the job's streams.
    pub fn emit(&self, name: &'static str, data: Value) {
        self.job.emit(name, data);
    }
    /// True once the job was cancelled.
    pub fn cancelled(&self) -> bool {
        self.job.is_cancelled()
    }
    /// `Err(cancelled)` once the job was cancelled.
    pub fn check(&self, what: &str) -> LabResult<()> {
        if self.cancelled() {
            Err(lab_api::cancelled(what))
        } else {
            Ok(())
        }
    }
}

/// The compute of one job, run on a blocking thread.
pub type Work = Box<dyn FnOnce(JobCtx) -> LabResult<Value> + Send + 'static>;

struct Lane {
    slots: Arc<Semaphore>,
    queue: Mutex<VecDeque<Arc<Job>>>,
}

/// The pool of both lanes and every job it knows.
pub struct Pool {
    train: Lane,
    sample: Lane,
    jobs: Mutex<BTreeMap<u64, Arc<Job>>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pool {
    /// A pool running at most `train` training jobs and `sample` sampling jobs at once.
    pub fn new(train: usize, sample: usize) -> Self {
        let lane = |n: usize| Lane {
            slots: Arc::new(Semaphore::new(n.max(1))),
            queue: Mutex::new(VecDeque::new()),
        };
        Pool {
            train: lane(train),
            sample: lane(sample),
            jobs: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(1),
        }
    }
    fn lane(&self, kind: JobKind) -> &Lane {
        match kind {
            JobKind::Train => &self.train,
            JobKind::Sample => &self.sample,
        }
    }
    /// The job numbered `id`.
    pub fn get(&self, id: u64) -> Option<Arc<Job>> {
        lock(&self.jobs).get(&id).cloned()
    }
    /// Every job known, newest first.
    pub fn list(&self) -> Vec<Value> {
        lock(&self.jobs)
            .values()
            .rev()
            .map(|j| j.status())
            .collect()
    }
    /// Cancel every job (the server is stopping).
    pub fn cancel_all(&self) {
        for j in lock(&self.jobs).values() {
            j.cancel();
        }
    }
    /// Queue `work` in `kind`'s lane; it starts when a slot is free. Refused (503) when the
    /// lane's queue is full.
    pub fn submit(
        self: &Arc<Self>,
        kind: JobKind,
        request: Value,
        work: Work,
    ) -> Result<Arc<Job>, ApiError> {
        let lane = self.lane(kind);
        if lock(&lane.queue).len() >= MAX_QUEUED {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("{MAX_QUEUED} jobs are already waiting: try again later"),
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let job = Arc::new(Job {
            id,
            kind,
            request,
            cancel: AtomicBool::new(false),
            cancel_tx: watch::channel(false).0,
            changed: watch::channel(0).0,
            inner: Mutex::new(Inner {
                state: JobState::Queued,
                position: None,
                events: Vec::new(),
                result: None,
                error: None,
                viewers: 0,
            }),
        });
        self.remember(job.clone());
        lock(&lane.queue).push_back(job.clone());
        self.announce_positions(kind);
        let pool = self.clone();
        let j = job.clone();
        tokio::spawn(async move { pool.drive(j, work).await });
        Ok(job)
    }
    fn remember(&self, job: Arc<Job>) {
        let mut jobs = lock(&self.jobs);
        jobs.insert(job.id, job);
        let finished: Vec<u64> = jobs
            .values()
            .filter(|j| j.state().is_final())
            .map(|j| j.id)
            .collect();
        for id in finished
            .iter()
            .take(finished.len().saturating_sub(KEEP_FINISHED))
        {
            jobs.remove(id);
        }
    }
    /// Tell every queued job of `kind` its place (1 = next to start).
    fn announce_positions(&self, kind: JobKind) {
        let queue: Vec<Arc<Job>> = lock(&self.lane(kind).queue).iter().cloned().collect();
        for (i, j) in queue.iter().enumerate() {
            let changed = {
                let mut g = j.lock();
                let new = Some(i + 1);
                let changed = g.position != new;
                g.position = new;
                changed
            };
            if changed {
                j.emit("queued", json!({ "position": i + 1, "kind": kind }));
            }
        }
    }
    fn leave_queue(&self, job: &Arc<Job>) {
        lock(&self.lane(job.kind).queue).retain(|j| j.id != job.id);
        job.lock().position = None;
        self.announce_positions(job.kind);
    }
    /// Wait for a slot (or a cancel), run the work on a blocking thread, record the outcome.
    async fn drive(self: Arc<Self>, job: Arc<Job>, work: Work) {
        let slots = self.lane(job.kind).slots.clone();
        let mut cancel_rx = job.cancel_tx.subscribe();
        let permit = tokio::select! {
            p = slots.acquire_owned() => p.ok(),
            _ = cancel_rx.wait_for(|c| *c) => None,
        };
        self.leave_queue(&job);
        let Some(permit) = permit.filter(|_| !job.is_cancelled()) else {
            job.finish(Err(lab_api::cancelled("the queued job")));
            return;
        };
        job.lock().state = JobState::Running;
        job.emit("started", json!({}));
        let ctx = JobCtx { job: job.clone() };
        let outcome = tokio::task::spawn_blocking(move || work(ctx)).await;
        drop(permit);
        job.finish(outcome.unwrap_or_else(|e| {
            Err(lab_api::invalid(format!(
                "the job stopped unexpectedly: {e}"
            )))
        }));
    }
}
