//! Mean squared error and its gradient. These run once per step over the model's output
//! (a few tens of thousands of values), so they stay on the calling thread.

/// `L = (1/N) Σ (pred − target)²` over all `N` elements (accumulated in f64).
pub fn mse_loss(pred: &[f32], target: &[f32]) -> f32 {
    assert_eq!(pred.len(), target.len(), "mse_loss: length mismatch");
    if pred.is_empty() {
        return 0.0;
    }
    let s: f64 = pred
        .iter()
        .zip(target)
        .map(|(&a, &b)| ((a - b) as f64).powi(2))
        .sum();
    (s / pred.len() as f64) as f32
}

/// `dpred = 2 (pred − target) / N`, the gradient of [`mse_loss`].
pub fn mse_loss_grad(pred: &[f32], target: &[f32], dpred: &mut [f32]) {
    assert!(
        pred.len() == target.len() && target.len() == dpred.len(),
        "mse_loss_grad: length mismatch"
    );
    let scale = 2.0 / pred.len().max(1) as f32;
    for ((d, &a), &b) in dpred.iter_mut().zip(pred).zip(target) {
        *d = scale * (a - b);
    }
}

/// [`mse_loss`] and [`mse_loss_grad`] in one pass over memory; returns the loss.
pub fn mse_loss_and_grad(pred: &[f32], target: &[f32], dpred: &mut [f32]) -> f32 {
    assert!(
        pred.len() == target.len() && target.len() == dpred.len(),
        "mse_loss_and_grad: length mismatch"
    );
    if pred.is_empty() {
        return 0.0;
    }
    let scale = 2.0 / pred.len() as f32;
    let mut s = 0.0f64;
    for ((d, &a), &b) in dpred.iter_mut().zip(pred).zip(target) {
        let e = a - b;
        *d = scale * e;
        s += (e as f64) * (e as f64);
    }
    (s / pred.len() as f64) as f32
}
