//! Softmax cross-entropy and the classifier's backward pass against finite differences.

use difflab::models::classifier::{Classifier, ClassifierConfig, ClassifierCtx};
use difflab::nn::cross_entropy::{
    argmax_rows, softmax_cross_entropy, softmax_cross_entropy_uniform,
};
use difflab::util::rng::Rng;

/// Reference loss in f64, straight from the definition −log(e^{z_y} / Σ e^{z_k}), mean over rows.
fn reference_loss(logits: &[f32], labels: &[usize], classes: usize) -> f64 {
    let rows: Vec<&[f32]> = logits.chunks(classes).collect();
    let total: f64 = rows
        .iter()
        .zip(labels)
        .map(|(row, &y)| {
            let sum: f64 = row.iter().map(|&v| (v as f64).exp()).sum();
            -((row[y] as f64).exp() / sum).ln()
        })
        .sum();
    total / labels.len() as f64
}

#[test]
fn cross_entropy_matches_the_definition_and_finite_differences() {
    let mut rng = Rng::seeded(1);
    let (m, c) = (5, 7);
    let logits: Vec<f32> = (0..m * c).map(|_| 2.0 * rng.normal()).collect();
    let labels: Vec<usize> = (0..m).map(|i| (3 * i + 1) % c).collect();
    let mut grad = vec![0.0; m * c];
    let loss = softmax_cross_entropy(&logits, &labels, c, Some(&mut grad));
    let want = reference_loss(&logits, &labels, c);
    assert!((loss as f64 - want).abs() < 1e-6, "loss {loss} vs {want}");
    assert_eq!(
        softmax_cross_entropy(&logits, &labels, c, None),
        loss,
        "same loss without the gradient"
    );
    // Central differences of the f64 reference.
    let h = 1e-3f32;
    for k in 0..m * c {
        let mut up = logits.clone();
        up[k] += h;
        let mut down = logits.clone();
        down[k] -= h;
        let step = up[k] as f64 - down[k] as f64;
        let fd = (reference_loss(&up, &labels, c) - reference_loss(&down, &labels, c)) / step;
        assert!(
            (grad[k] as f64 - fd).abs() < 1e-5,
            "d/dz[{k}]: {} vs {fd}",
            grad[k]
        );
    }
    // Each row of the gradient sums to 0 (softmax sums to 1, the one-hot too).
    for row in grad.chunks(c) {
        assert!(row.iter().sum::<f32>().abs() < 1e-7);
    }
}

#[test]
fn uniform_cross_entropy_matches_the_definition_and_finite_differences() {
    // −(1/C) Σ_j log p_j per row, mean over rows, in f64.
    let reference = |z: &[f32], c: usize| -> f64 {
        let rows = z.len() / c;
        z.chunks(c)
            .map(|row| {
                let lse = row.iter().map(|&v| (v as f64).exp()).sum::<f64>().ln();
                row.iter().map(|&v| lse - v as f64).sum::<f64>() / c as f64
            })
            .sum::<f64>()
            / rows as f64
    };
    let mut rng = Rng::seeded(2);
    let (m, c) = (4, 10);
    let logits: Vec<f32> = (0..m * c).map(|_| 3.0 * rng.normal()).collect();
    let mut grad = vec![0.0; m * c];
    let loss = softmax_cross_entropy_uniform(&logits, c, Some(&mut grad));
    assert!((loss as f64 - reference(&logits, c)).abs() < 1e-6);
    for k in 0..m * c {
        let (mut up, mut down) = (logits.clone(), logits.clone());
        up[k] += 1e-3;
        down[k] -= 1e-3;
        let fd = (reference(&up, c) - reference(&down, c)) / (up[k] as f64 - down[k] as f64);
        assert!(
            (grad[k] as f64 - fd).abs() < 1e-5,
            "d/dz[{k}]: {} vs {fd}",
            grad[k]
        );
    }
    // Equal logits are the minimum: loss log C, gradient 0.
    let flat = softmax_cross_entropy_uniform(&[0.5; 10], 10, Some(&mut grad[..10]));
    assert!((flat - 10f32.ln()).abs() < 1e-6);
    assert!(grad[..10].iter().all(|g| g.abs() < 1e-8));
}

#[test]
fn cross_entropy_is_stable_for_huge_logits() {
    let mut grad = vec![0.0; 4];
    let loss = softmax_cross_entropy(&[1000.0, 0.0, -1000.0, 1000.0], &[0, 0], 2, Some(&mut grad));
    // Row 0: confident and right (loss e^-1000 ≈ 0); row 1: certain and wrong (loss 2000).
    assert!((loss - 1000.0).abs() < 1e-3, "{loss}");
    assert!(grad.iter().all(|g| g.is_finite()));
    assert_eq!(grad, vec![0.0, 0.0, -0.5, 0.5]);
    assert_eq!(argmax_rows(&[0.1, 0.7, 0.2, 0.5, 0.5, 0.0], 3), vec![1, 0]);
}

#[test]
#[should_panic(expected = "label 3 of row 0 is not below 3")]
fn cross_entropy_rejects_out_of_range_labels() {
    softmax_cross_entropy(&[0.0; 3], &[3], 3, None);
}

fn tiny() -> ClassifierConfig {
    ClassifierConfig {
        image_size: 8,
        channels: [3, 4],
        hidden: 6,
        classes: 5,
    }
}

/// The loss of `model` on `x` (n images) with `labels`, via the training context.
fn loss_of(model: &Classifier, x: &[f32], labels: &[usize]) -> f32 {
    let n = labels.len();
    let mut ctx = ClassifierCtx::new(model.config(), n, false);
    ctx.input_mut(n).copy_from_slice(x);
    ctx.forward(model, n);
    softmax_cross_entropy(ctx.logits(n), labels, model.config().classes, None)
}

#[test]
fn classifier_backward_matches_finite_differences() {
    let cfg = tiny();
    let mut rng = Rng::seeded(7);
    let mut model = Classifier::new(cfg.clone(), &mut rng).unwrap();
    // Biases start at 0; give them values so their gradients are exercised off the kinks.
    let ranges = model.param_ranges().to_vec();
    for r in [&ranges[1], &ranges[3], &ranges[5], &ranges[7]] {
        for v in &mut model.params_mut()[r.clone()] {
            *v = 0.1 * rng.normal();
        }
    }
    let n = 3;
    let x: Vec<f32> = (0..n * 64).map(|_| rng.uniform(0.0, 1.0)).collect();
    let labels = vec![0, 3, 4];
    let mut ctx = ClassifierCtx::new(&cfg, 4, true);
    ctx.input_mut(n).copy_from_slice(&x);
    ctx.forward(&model, n);
    let logits = ctx.logits(n).to_vec();
    softmax_cross_entropy(&logits, &labels, cfg.classes, Some(ctx.dlogits_mut(n)));
    ctx.backward(&model, n);
    let grads = ctx.grads().to_vec();
    assert_eq!(grads.len(), model.num_params());

    // Small enough that no ReLU or max-pool switches inside ±h at this seed (1e-2 does).
    let h = 1e-3f32;
    let mut checked = 0;
    for (t, r) in ranges.iter().enumerate() {
        // Every value of small tensors, a spread of the big ones.
        let step = (r.len() / 12).max(1);
        for k in r.clone().step_by(step) {
            let orig = model.params()[k];
            model.params_mut()[k] = orig + h;
            let up = loss_of(&model, &x, &labels) as f64;
            model.params_mut()[k] = orig - h;
            let down = loss_of(&model, &x, &labels) as f64;
            model.params_mut()[k] = orig;
            let fd = (up - down) / (2.0 * h as f64);
            let g = grads[k] as f64;
            assert!(
                (g - fd).abs() < 3e-4 + 2e-2 * fd.abs(),
                "tensor {t}, parameter {k}: backward {g} vs finite difference {fd}"
            );
            checked += 1;
        }
    }
    assert!(checked > 60, "checked {checked} parameters");
}

#[test]
fn parameter_counts_match_the_documented_sizes() {
    let mut rng = Rng::seeded(0);
    let n16 = Classifier::new(ClassifierConfig::for_size(16), &mut rng)
        .unwrap()
        .num_params();
    let n28 = Classifier::new(ClassifierConfig::for_size(28), &mut rng)
        .unwrap()
        .num_params();
    // conv1 9·16+16, conv2 9·16·32+32, fc1 (s/4)²·32·128+128, fc2 128·10+10.
    assert_eq!(n16, 160 + 4640 + (16 * 32 * 128 + 128) + 1290);
    assert_eq!(n28, 160 + 4640 + (49 * 32 * 128 + 128) + 1290);
    assert_eq!((n16, n28), (71_754, 206_922));
    let err = Classifier::new(ClassifierConfig::for_size(18), &mut rng)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("divisible by 4") && err.contains("18"),
        "{err}"
    );
}
