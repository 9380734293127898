//! Softmax cross-entropy over class logits, with its gradient: the loss of a classifier.
//!
//! For one row of logits `z[0..C]` and its label `y`:
//! `p_j = exp(z_j − max z) / Σ_k exp(z_k − max z)`, `ℓ = −log p_y = log Σ_k exp(z_k − max z) − (z_y − max z)`.
//! Over a batch of `m` rows the loss is the mean `L = (1/m) Σ ℓ_r`, and its gradient is
//! `∂L/∂z_rj = (p_rj − [j = y_r]) / m`. Subtracting the row maximum keeps `exp` finite for any
//! logits; the log-sum-exp is accumulated in f64. One batch is a few hundred rows of ten
//! values, so this runs on the calling thread.

/// Mean softmax cross-entropy of `logits` (`[m, classes]`, row-major) against `labels` (`m`
/// class indices, each `< classes`). When `dlogits` is given (`[m, classes]`) it is overwritten
/// with the gradient `(softmax(z) − onehot(y)) / m`. Returns the loss (0 for `m = 0`).
///
/// Panics if the lengths disagree, `classes` is 0 or a label is out of range.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[usize],
    classes: usize,
    mut dlogits: Option<&mut [f32]>,
) -> f32 {
    assert!(
        classes > 0,
        "softmax_cross_entropy: classes must be positive"
    );
    let m = labels.len();
    assert_eq!(
        logits.len(),
        m * classes,
        "softmax_cross_entropy: logits must be [{m}, {classes}]"
    );
    if let Some(d) = dlogits.as_deref() {
        assert_eq!(
            d.len(),
            m * classes,
            "softmax_cross_entropy: dlogits must be [{m}, {classes}]"
        );
    }
    if m == 0 {
        return 0.0;
    }
    let inv_m = 1.0 / m as f64;
    let mut total = 0.0f64;
    for (r, (row, &y)) in logits.chunks_exact(classes).zip(labels).enumerate() {
        assert!(
            y < classes,
            "softmax_cross_entropy: label {y} of row {r} is not below {classes}"
        );
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64;
        let sum: f64 = row.iter().map(|&v| (v as f64 - max).exp()).sum();
        let log_sum = sum.ln();
        total += log_sum - (row[y] as f64 - max);
        if let Some(d) = dlogits.as_deref_mut() {
            let drow = &mut d[r * classes..(r + 1) * classes];
            for (j, (g, &v)) in drow.iter_mut().zip(row).enumerate() {
                let p = (v as f64 - max - log_sum).exp();
                let onehot = if j == y { 1.0 } else { 0.0 };
                *g = ((p - onehot) * inv_m) as f32;
            }
        }
    }
    (total * inv_m) as f32
}

/// The index of the largest value of each `classes`-wide row (the first one on ties).
pub fn argmax_rows(values: &[f32], classes: usize) -> Vec<usize> {
    assert!(
        classes > 0 && values.len().is_multiple_of(classes),
        "argmax_rows: {} values are not rows of {classes}",
        values.len()
    );
    values
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .fold(0, |best, (j, &v)| if v > row[best] { j } else { best })
        })
        .collect()
}

/// Mean cross-entropy of `logits` (`[m, classes]`) against the uniform distribution:
/// `ℓ = −(1/C) Σ_j log p_j = log Σ_k exp(z_k − max z) − (1/C) Σ_j (z_j − max z)` per row, the
/// loss that teaches a classifier to be unsure ("outlier exposure", Hendrycks et al. 2019).
/// When `dlogits` is given it is overwritten with the gradient `(softmax(z) − 1/C) / m`.
/// Returns the loss (0 for `m = 0`). Panics if the lengths disagree or `classes` is 0.
pub fn softmax_cross_entropy_uniform(
    logits: &[f32],
    classes: usize,
    mut dlogits: Option<&mut [f32]>,
) -> f32 {
    assert!(
        classes > 0 && logits.len().is_multiple_of(classes),
        "softmax_cross_entropy_uniform: {} logits are not rows of {classes}",
        logits.len()
    );
    let m = logits.len() / classes;
    if let Some(d) = dlogits.as_deref() {
        assert_eq!(
            d.len(),
            logits.len(),
            "softmax_cross_entropy_uniform: dlogits must be [{m}, {classes}]"
        );
    }
    if m == 0 {
        return 0.0;
    }
    let (inv_m, inv_c) = (1.0 / m as f64, 1.0 / classes as f64);
    let mut total = 0.0f64;
    for (r, row) in logits.chunks_exact(classes).enumerate() {
        let max = row.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64;
        let log_sum = row
            .iter()
            .map(|&v| (v as f64 - max).exp())
            .sum::<f64>()
            .ln();
        let mean = row.iter().map(|&v| v as f64 - max).sum::<f64>() * inv_c;
        total += log_sum - mean;
        if let Some(d) = dlogits.as_deref_mut() {
            for (g, &v) in d[r * classes..(r + 1) * classes].iter_mut().zip(row) {
                *g = (((v as f64 - max - log_sum).exp() - inv_c) * inv_m) as f32;
            }
        }
    }
    (total * inv_m) as f32
}
