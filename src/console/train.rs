//! What `difflab train` shows while it runs: the plan and the estimated duration, a progress bar
//! (epoch, step, running loss, images/s, ETA), and one line per epoch.

use super::duration;
use super::thousands;
use crate::train::trainer::{EpochReport, Observer, Plan, StepProgress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Prints to stderr through an indicatif progress bar.
pub struct Console {
    bar: ProgressBar,
    header: String,
    epochs: usize,
}

impl Console {
    /// A console observer; `header` is printed first (what is trained on what).
    pub fn new(header: String) -> Self {
        Console {
            bar: ProgressBar::hidden(),
            header,
            epochs: 0,
        }
    }

    /// Print a line above the bar.
    pub fn line(&self, msg: &str) {
        if self.bar.is_hidden() {
            eprintln!("{msg}");
        } else {
            self.bar.println(msg);
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Console {
    fn start(&mut self, plan: &Plan) {
        self.epochs = plan.epochs;
        eprintln!("{}", self.header);
        eprintln!(
            "  {} images, {} parameters, {} epochs × {} steps of {} = {} steps{}",
            thousands(plan.images),
            thousands(plan.params),
            plan.epochs,
            thousands(plan.steps_per_epoch),
            plan.batch_size,
            thousands(plan.total_steps()),
            if plan.steps_done > 0 {
                format!(" ({} done, resuming)", thousands(plan.steps_done))
            } else {
                String::new()
            }
        );
        let bar = ProgressBar::with_draw_target(
            Some(plan.total_steps() as u64),
            ProgressDrawTarget::stderr_with_hz(4),
        );
        let style = ProgressStyle::with_template(
            "  {prefix} [{bar:28}] {pos}/{len} {msg} ETA {eta} ({elapsed})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_position(plan.steps_done as u64);
        bar.reset_eta();
        self.bar = bar;
    }

    fn estimate(&mut self, seconds: f64, measured: usize) {
        self.line(&format!(
            "  estimated training time: {} (measured on the first {measured} steps, {} threads)",
            duration(seconds),
            rayon::current_num_threads()
        ));
    }

    fn step(&mut self, p: &StepProgress) {
        self.bar
            .set_prefix(format!("epoch {}/{}", p.epoch, self.epochs));
        self.bar.set_position(p.step as u64);
        self.bar.set_message(format!(
            "loss {:.4} {:.0} img/s",
            p.running_loss, p.images_per_second
        ));
    }

    fn epoch(&mut self, e: &EpochReport) {
        self.line(&format!(
            "  epoch {}/{}: mean loss {:.4}, elapsed {:.1} s",
            e.epoch, e.epochs, e.mean_loss, e.elapsed
        ));
    }
}
