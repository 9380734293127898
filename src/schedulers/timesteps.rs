//! Which training timesteps an n-step sampler visits: diffusers' `set_timesteps` spacings,
//! reproduced down to NumPy's rounding (half to even) and float `arange`.

use super::config::TimestepSpacing;
use crate::{Error, Result};

/// The `n` timesteps, in descending order, that `spacing` picks out of `0..t_train`.
///
/// - `leading`: k·(T div n) + `steps_offset` for k = n−1 … 0.
/// - `trailing`: round(T − k·T/n) − 1 for k = 0 … n−1 (NumPy's `arange(T, 0, −T/n)`).
/// - `linspace`: round(linspace(0, T−1, n)), reversed.
///
/// Errors if `n` is 0, `n` > T, or a timestep would fall outside `0..T` (a `steps_offset`
/// that pushes the first leading timestep to T or beyond).
pub fn spaced_timesteps(
    t_train: usize,
    n: usize,
    spacing: TimestepSpacing,
    steps_offset: usize,
) -> Result<Vec<usize>> {
    if n == 0 {
        return Err(Error::invalid(
            "the number of sampling steps must be at least 1, got 0",
        ));
    }
    if n > t_train {
        return Err(Error::invalid(format!(
            "{n} sampling steps are more than the {t_train} timesteps the model was trained with \
             (choose 1..={t_train})"
        )));
    }
    let ts: Vec<i64> = match spacing {
        TimestepSpacing::Leading => {
            let ratio = t_train / n;
            (0..n)
                .rev()
                .map(|k| (k * ratio + steps_offset) as i64)
                .collect()
        }
        TimestepSpacing::Trailing => {
            // np.arange(T, 0, -T/n): length ceil((0 - T) / (-T/n)), values start + i·delta
            // with delta = (start + step) - start, then np.round (half to even), minus 1.
            // For some (T, n), e.g. (100, 29), rounding makes that length n + 1 and the extra
            // last value −1 (diffusers then indexes ᾱ[−1], the *last* ᾱ); it is dropped here.
            let start = t_train as f64;
            let step = -(t_train as f64 / n as f64);
            let len = ((0.0 - start) / step).ceil() as usize;
            let delta = (start + step) - start;
            (0..len)
                .map(|i| (start + i as f64 * delta).round_ties_even() as i64 - 1)
                .filter(|&t| t >= 0)
                .collect()
        }
        TimestepSpacing::Linspace => {
            // np.linspace(0, T-1, n): i·step with step = (T-1)/(n-1), the last exactly T-1.
            let stop = (t_train - 1) as f64;
            let step = if n > 1 { stop / (n - 1) as f64 } else { 0.0 };
            (0..n)
                .rev()
                .map(|i| {
                    let v = if n > 1 && i == n - 1 {
                        stop
                    } else {
                        i as f64 * step
                    };
                    v.round_ties_even() as i64
                })
                .collect()
        }
    };
    if let Some(bad) = ts.iter().find(|&&t| t < 0 || t >= t_train as i64) {
        return Err(Error::invalid(format!(
            "timestep_spacing {} with steps_offset {steps_offset} gives timestep {bad}, \
             outside 0..{t_train}",
            spacing.name()
        )));
    }
    Ok(ts.into_iter().map(|t| t as usize).collect())
}
