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

use crate::schedulers::SamplerKind;

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

/// A sampler's name as figures and summaries print it: `DDPM`, `DDIM`, `DPM-Solver++`,
/// `SDE-DPM-Solver++`, `UniPC`, `Euler`, `Euler ancestral`, `PNDM`.
pub fn sampler_title(kind: SamplerKind) -> &'static str {
    match kind {
        SamplerKind::Ddpm => "DDPM",
        SamplerKind::Ddim => "DDIM",
        SamplerKind::DpmSolver => "DPM-Solver++",
        SamplerKind::DpmSolverSde => "SDE-DPM-Solver++",
        SamplerKind::UniPc => "UniPC",
        SamplerKind::Euler => "Euler",
        SamplerKind::EulerAncestral => "Euler ancestral",
        SamplerKind::Pndm => "PNDM",
    }
}

/// "DDPM, all 200 steps", "DDIM (η = 0), 50 of 200 steps", "DPM-Solver++, 20 of 200 steps".
pub fn sampler_text(kind: SamplerKind, steps: usize, t_total: usize, eta: f32) -> String {
    let name = match kind {
        SamplerKind::Ddim => format!("DDIM (η = {eta})"),
        other => sampler_title(other).to_string(),
    };
    if steps == t_total {
        format!("{name}, all {steps} steps")
    } else {
        format!("{name}, {steps} of {t_total} steps")
    }
}
