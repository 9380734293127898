//! One progress bar per job on stderr: what `difflab sample`, `inpaint`, `eval`, `classifier`
//! and the lab show while a sampling loop or the classifier's training runs.

use crate::util::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// A [`Progress`] that draws each job as a bar labelled with the job's name, with elapsed time,
/// steps per second and ETA; shows nothing when built [`StepBars::hidden`].
pub struct StepBars {
    shown: bool,
    bar: ProgressBar,
}

impl StepBars {
    /// Bars on stderr when `shown`, else nothing.
    pub fn new(shown: bool) -> Self {
        StepBars {
            shown,
            bar: ProgressBar::hidden(),
        }
    }

    /// Shows nothing.
    pub fn hidden() -> Self {
        Self::new(false)
    }
}

impl Progress for StepBars {
    fn start(&mut self, label: &str, total: u64) {
        if !self.shown {
            return;
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps {msg} ({per_sec}, eta {eta})",
        )
        .expect("valid template");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        self.bar = bar;
    }

    fn update(&mut self, done: u64, message: &str) {
        self.bar.set_message(message.to_string());
        self.bar.set_position(done);
    }

    fn line(&mut self, text: &str) {
        if self.bar.is_hidden() {
            if self.shown {
                eprintln!("{text}");
            }
        } else {
            self.bar.println(text);
        }
    }

    fn finish(&mut self) {
        self.bar.finish();
    }
}
