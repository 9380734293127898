//! How library code reports the progress of a long job (a sampling run, a training epoch, the
//! classifier's training) without drawing anything: it calls a [`Progress`]; the application
//! decides what that looks like (a terminal bar in `console`, a live page in a server, nothing in
//! tests). A [`Progress`] can also ask the job to stop: loops check [`Progress::cancelled`] between
//! steps and return [`crate::Error::Cancelled`].

/// Receives a job's progress. Every method has a do-nothing default, so an observer implements
/// only what it shows.
pub trait Progress {
    /// A job named `label` starts, with `total` units of work (steps, batches).
    fn start(&mut self, _label: &str, _total: u64) {}
    /// `done` units of the current job are finished; `message` is a short status such as a
    /// running loss (may be empty).
    fn update(&mut self, _done: u64, _message: &str) {}
    /// A line of text worth showing beside the progress (an epoch summary, a warning).
    fn line(&mut self, _text: &str) {}
    /// The current job finished.
    fn finish(&mut self) {}
    /// Whether the job should stop now (a cancel button, a closed browser tab).
    fn cancelled(&self) -> bool {
        false
    }
}

/// Shows nothing and never cancels.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Progress for Silent {}

/// `Err(Error::Cancelled)` when `progress` asks the job to stop, naming what was stopped.
pub fn check_cancelled(progress: &dyn Progress, what: &str) -> crate::Result<()> {
    if progress.cancelled() {
        Err(crate::Error::Cancelled(what.to_string()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct StopAt(u64, u64);
    impl Progress for StopAt {
        fn update(&mut self, done: u64, _message: &str) {
            self.1 = done;
        }
        fn cancelled(&self) -> bool {
            self.1 >= self.0
        }
    }

    #[test]
    fn cancel_is_reported_as_an_error_naming_the_job() {
        let mut p = StopAt(3, 0);
        assert!(check_cancelled(&p, "sampling").is_ok());
        p.update(3, "");
        let err = check_cancelled(&p, "sampling").unwrap_err();
        assert!(matches!(err, crate::Error::Cancelled(_)));
        assert_eq!(err.to_string(), "sampling was cancelled");
        assert!(check_cancelled(&Silent, "x").is_ok());
    }
}
