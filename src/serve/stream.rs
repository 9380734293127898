//! A job's events as server-sent events: the log so far (from `Last-Event-ID` + 1 when the
//! browser reconnects), then each new event as it is sent, ending after the final one. The
//! stream counts as a viewer of the job while it is open (see [`Job::viewer_left`]).

use super::jobs::{Job, JobEvent};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Marks the stream as a viewer of its job until it is dropped (the tab closed).
struct Viewer(Arc<Job>);

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.viewer_left();
    }
}

struct State {
    viewer: Viewer,
    next: usize,
    pending: VecDeque<JobEvent>,
    changed: watch::Receiver<usize>,
    shutdown: watch::Receiver<bool>,
    ended: bool,
}

const FINAL_EVENTS: [&str; 3] = ["done", "failed", "cancelled"];

impl State {
    /// The next event, waiting for one when the log is read up to its end.
    async fn next_event(&mut self) -> Option<JobEvent> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                self.ended = FINAL_EVENTS.contains(&e.name);
                return Some(e);
            }
            if self.ended {
                return None;
            }
            self.changed.borrow_and_update();
            let (events, finished) = self.viewer.0.events_from(self.next);
            if let Some(last) = events.last() {
                self.next = last.id + 1;
                self.pending.extend(events);
                continue;
            }
            if finished {
                return None;
            }
            tokio::select! {
                r = self.changed.changed() => if r.is_err() { return None },
                _ = self.shutdown.wait_for(|s| *s) => return None,
            }
        }
    }
}

/// The SSE response for `job`, starting at event number `from`.
pub fn job_events(
    job: Arc<Job>,
    from: usize,
    shutdown: watch::Receiver<bool>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    job.viewer_joined();
    let state = State {
        changed: job.subscribe(),
        viewer: Viewer(job),
        next: from,
        pending: VecDeque::new(),
        shutdown,
        ended: false,
    };
    let s = stream::unfold(state, |mut st| async move {
        let e = st.next_event().await?;
        let ev = Event::default()
            .event(e.name)
            .id(e.id.to_string())
            .data(e.data);
        Some((Ok(ev), st))
    });
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}
