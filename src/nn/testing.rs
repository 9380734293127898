//! Helpers shared by the compute core's unit tests.

/// Panics unless `a` and `b` have the same length and `max |a − b| ≤ tol · max(max |b|, 1e-3)`,
/// naming `what` and the error.
pub(crate) fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        err <= tol * scale,
        "{what}: max error {err} at scale {scale}"
    );
}
