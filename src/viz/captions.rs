//! Caption text the figures share.

use crate::schedulers::SchedulerKind;

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
