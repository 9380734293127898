//! Which training timesteps an n-step sampler visits: diffusers' `set_timesteps` spacings,
//! reproduced down to NumPy's rounding (half to even) and float `arange`.

use super::config::TimestepSpacing;
use crate::{Error, Result};

/// The `n` timesteps, in descending order, that `spacing` picks out of `0..t_train`.
///
/// - `leading`: k·(T div n) + `steps_offset` for k = n−1 … 0.
/// - `trailing`: round(T − k·T/n) − 1 for k = 0 … n−1 (NumPy's `arange(T, 0, −T/n)`; where
///   NumPy's rounding adds an (n+1)-th value −1, as diffusers gets for some (T, n), it is
///   dropped, as for every sampler).
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
    let ts = rule_timesteps(Rule::Single, t_train, n, spacing, steps_offset)?;
    Ok(ts.into_iter().map(|t| t as usize).collect())
}

/// diffusers' three families of `set_timesteps` rules (see the functions that use them).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Rule {
    /// DDPM, DDIM and PNDM: [`spaced_timesteps`].
    Single,
    /// DPM-Solver++ and UniPC over `0..last`: [`multistep_timesteps`].
    Multistep { last: usize },
    /// The Euler schedulers' float timesteps: [`euler_timesteps`].
    Euler,
}

/// The `n` descending timesteps that `rule` and `spacing` pick, checked to lie in `0..t_train`
/// and, except for [`Rule::Single`], to fall strictly.
fn rule_timesteps(
    rule: Rule,
    t_train: usize,
    n: usize,
    spacing: TimestepSpacing,
    steps_offset: usize,
) -> Result<Vec<f64>> {
    check_step_count(t_train, n)?;
    let (last, first_k, points) = match rule {
        Rule::Multistep { last } => (last, 1, n + 1),
        Rule::Single | Rule::Euler => (t_train, 0, n),
    };
    let ts: Vec<f64> = match spacing {
        TimestepSpacing::Leading => {
            let ratio = last / points;
            (first_k..first_k + n)
                .rev()
                .map(|k| (k * ratio + steps_offset) as f64)
                .collect()
        }
        TimestepSpacing::Trailing => trailing(last as f64, t_train, n).collect(),
        TimestepSpacing::Linspace => {
            let ts = linspace(0.0, last as f64 - 1.0, points).rev().take(n);
            match rule {
                Rule::Euler => ts.map(|v| v as f32 as f64).collect(),
                _ => ts.map(f64::round_ties_even).collect(),
            }
        }
    };
    check_range(&ts, t_train, spacing, steps_offset)?;
    if rule != Rule::Single {
        check_strictly_falling(&ts, n, spacing)?;
    }
    Ok(ts)
}

/// An error unless every timestep lies in `0..t_train`.
fn check_range(ts: &[f64], t_train: usize, spacing: TimestepSpacing, offset: usize) -> Result<()> {
    match ts.iter().find(|&&t| !(0.0..t_train as f64).contains(&t)) {
        Some(bad) => Err(Error::invalid(format!(
            "timestep_spacing {} with steps_offset {offset} gives timestep {bad}, \
             outside 0..{t_train}",
            spacing.name()
        ))),
        None => Ok(()),
    }
}

/// Errors for a step count of 0 or more than T.
pub(crate) fn check_step_count(t_train: usize, n: usize) -> Result<()> {
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
    Ok(())
}

/// NumPy's `linspace(a, b, n)`: a + i·(b−a)/(n−1), the last value exactly b.
pub(crate) fn linspace(a: f64, b: f64, n: usize) -> impl DoubleEndedIterator<Item = f64> {
    let step = if n > 1 { (b - a) / (n - 1) as f64 } else { 0.0 };
    (0..n).map(move |i| {
        if n > 1 && i == n - 1 {
            b
        } else {
            a + i as f64 * step
        }
    })
}

/// `np.arange(start, 0, -T/n).round() - 1` (descending), without the negative values.
///
/// NumPy's float arange has ceil(start / (T/n)) values start + i·δ with δ = (start − T/n) −
/// start, rounded half to even. For some (T, n), e.g. (100, 29), rounding makes that n + 1
/// values, the extra last one −1 (diffusers then indexes ᾱ[−1], the *last* ᾱ, or extends its
/// loop by a step); difflab drops it and keeps the n real timesteps.
pub(crate) fn trailing(start: f64, t_train: usize, n: usize) -> impl Iterator<Item = f64> {
    let step = -(t_train as f64 / n as f64);
    let len = ((0.0 - start) / step).ceil().max(0.0) as usize;
    let delta = (start + step) - start;
    (0..len)
        .map(move |i| (start + i as f64 * delta).round_ties_even() - 1.0)
        .filter(|&t| t >= 0.0)
}

/// The timesteps of diffusers' multistep solvers (DPM-Solver++, UniPC), descending: like
/// [`spaced_timesteps`] but with their own `linspace` (n + 1 points over 0 … `last` − 1, the 0
/// dropped) and `leading` (k·(`last` div (n+1)) + offset for k = n … 1) rules, over the
/// timesteps `0..last` (`last` = T unless `lambda_min_clipped` cuts the schedule short).
/// Errors like [`spaced_timesteps`], and when the rule repeats a timestep (the solvers divide
/// by the gap between consecutive ones).
pub(crate) fn multistep_timesteps(
    t_train: usize,
    last: usize,
    n: usize,
    spacing: TimestepSpacing,
    steps_offset: usize,
) -> Result<Vec<f64>> {
    rule_timesteps(Rule::Multistep { last }, t_train, n, spacing, steps_offset)
}

/// The float timesteps of diffusers' Euler schedulers, descending: `linspace` is not rounded,
/// `leading` is k·(T div n) + offset for k = n−1 … 0, `trailing` as [`trailing`]. Each value is
/// rounded to f32, as diffusers stores them.
pub(crate) fn euler_timesteps(
    t_train: usize,
    n: usize,
    spacing: TimestepSpacing,
    steps_offset: usize,
) -> Result<Vec<f64>> {
    rule_timesteps(Rule::Euler, t_train, n, spacing, steps_offset)
}

/// An error if consecutive timesteps repeat (or rise).
pub(crate) fn check_strictly_falling(ts: &[f64], n: usize, spacing: TimestepSpacing) -> Result<()> {
    match ts.windows(2).find(|w| w[1] >= w[0]) {
        Some(w) => Err(Error::invalid(format!(
            "timestep_spacing {} gives the timestep {} twice for {n} steps; choose fewer steps \
             or another spacing",
            spacing.name(),
            w[0]
        ))),
        None => Ok(()),
    }
}
