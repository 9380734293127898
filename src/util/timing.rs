//! Timing helpers: run a closure after warm-up and keep the median.

use std::time::Instant;

/// Seconds taken by each of `runs` calls of `f`, after `warmup` untimed calls.
/// `tick` is called after every timed run (progress display).
pub fn time_runs(
    warmup: usize,
    runs: usize,
    mut f: impl FnMut(),
    mut tick: impl FnMut(),
) -> Vec<f64> {
    for _ in 0..warmup {
        f();
    }
    (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            let s = t.elapsed().as_secs_f64();
            tick();
            s
        })
        .collect()
}

/// The median of `v` (the mean of the two middle values for an even count); NaN when empty.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn time_runs_counts_calls() {
        let (mut calls, mut ticks) = (0, 0);
        let t = time_runs(2, 3, || calls += 1, || ticks += 1);
        assert_eq!((t.len(), calls, ticks), (3, 5, 3));
    }
}
