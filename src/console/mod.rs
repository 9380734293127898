//! The terminal side of the applications: progress bars on stderr (indicatif) behind the
//! library's callbacks, and the number, duration and sampler texts that printed summaries and
//! figure captions share.
//!
//! - [`bars`]: [`StepBars`], a [`crate::util::progress::Progress`] drawing one bar per job
//!   (sampling runs, inpainting);
//! - [`train`]: [`Console`], the training loop's [`crate::train::Observer`] on the terminal.

pub mod bars;
pub mod train;

pub use bars::StepBars;
pub use train::Console;

use crate::schedulers::SchedulerKind;

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Seconds as `42 s` or `3 min 05 s`.
pub fn duration(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else {
        format!("{} min {:02.0} s", (s / 60.0).floor(), s % 60.0)
    }
}

/// "DDPM, all 200 steps", "DDIM (η = 0), 50 of 200 steps".
pub fn sampler_text(kind: SchedulerKind, steps: usize, t_total: usize, eta: f32) -> String {
    let name = match kind {
        SchedulerKind::Ddpm => "DDPM".to_string(),
        SchedulerKind::Ddim => format!("DDIM (η = {eta})"),
    };
    if steps == t_total {
        format!("{name}, all {steps} steps")
    } else {
        format!("{name}, {steps} of {t_total} steps")
    }
}
