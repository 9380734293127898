//! A stop-gap terminal adapter: [`train_classifier`] keeps the old `TrainOptions::progress`
//! behaviour (an indicatif bar on stderr) on top of the library's
//! [`super::train::train_classifier_with`], until the applications pass their own
//! [`Progress`] (then this file goes).

use super::train::{train_classifier_with, TrainOptions, TrainReport};
use super::{Classifier, ClassifierConfig};
use crate::data::digits::LabeledDigits;
use crate::util::progress::{Progress, Silent};
use crate::Result;

/// [`train_classifier_with`] with a progress bar on stderr when `opts.progress`, else silent.
pub fn train_classifier(
    cfg: &ClassifierConfig,
    data: &LabeledDigits,
    opts: &TrainOptions,
) -> Result<(Classifier, TrainReport)> {
    if opts.progress {
        train_classifier_with(cfg, data, opts, &mut Bar(None))
    } else {
        train_classifier_with(cfg, data, opts, &mut Silent)
    }
}

/// An indicatif bar with elapsed time, steps, the running loss and the time left.
struct Bar(Option<indicatif::ProgressBar>);

impl Progress for Bar {
    fn start(&mut self, label: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} steps {msg} (eta {eta})",
        )
        .expect("valid template");
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        self.0 = Some(bar);
    }
    fn update(&mut self, done: u64, message: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(message.to_string());
            bar.set_position(done);
        }
    }
    fn finish(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
        }
    }
}
