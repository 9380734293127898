//! The toy U-Net: its layout, the whole backward pass against finite differences for every
//! normalisation/activation choice, weight I/O bit for bit, and 28×28 inputs.

use difflab::models::toy_unet::{ToyAct, ToyNorm, ToyUNet, ToyUNetConfig, ToyUNetCtx};
use difflab::models::{NoisePredictor, Trainable};
use difflab::nn::{Tensor, Weights};
use difflab::util::rng::Rng;

fn tiny(norm: ToyNorm, act: ToyAct) -> ToyUNetConfig {
    ToyUNetConfig {
        image_size: 8,
        in_channels: 1,
        time_embed_dim: 8,
        time_hidden: 5,
        channels: [4, 6, 8],
        norm,
        groups: 2,
        act,
        zero_init_out: false,
        num_classes: 0,
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn default_model_has_the_lab_widths_and_readable_names() {
    let m = ToyUNet::new(ToyUNetConfig::default(), &mut Rng::seeded(0)).unwrap();
    let spec = |n: &str| {
        m.param_specs()
            .iter()
            .find(|s| s.name == n)
            .unwrap_or_else(|| panic!("no {n}"))
            .shape
            .clone()
    };
    assert_eq!(spec("enc1.conv1.weight"), vec![3, 3, 1, 32]);
    assert_eq!(spec("enc1.time_proj.weight"), vec![64, 32]);
    assert_eq!(spec("mid.conv2.weight"), vec![3, 3, 128, 128]);
    assert_eq!(spec("dec2.conv1.weight"), vec![3, 3, 192, 64]);
    assert_eq!(spec("dec1.conv1.weight"), vec![3, 3, 96, 32]);
    assert_eq!(spec("dec1.norm2.weight"), vec![32]);
    assert_eq!(spec("out.weight"), vec![3, 3, 32, 1]);
    // Lab: 495,937. Toy: the first conv loses 9·64·32 weights; five time projections
    // (64·(32+64+128+64+32)) and ten GroupNorms (2·(32+32+64+64+128+128+64+64+32+32)) are added.
    assert_eq!(m.num_params(), 495_937 - 9 * 64 * 32 + 64 * 320 + 2 * 640);
    // Zero-initialised output: the untrained model predicts exactly 0.
    let mut m = m;
    let y = m
        .predict(
            &Tensor::new(vec![2, 16, 16, 1], Rng::seeded(1).normal_vec(512)).unwrap(),
            &[3.0, 100.0],
        )
        .unwrap();
    assert!(y.data().iter().all(|&v| v == 0.0));
    let norm_gamma = &m.params()[m
        .param_specs()
        .iter()
        .find(|s| s.name == "mid.norm1.weight")
        .unwrap()
        .range
        .clone()];
    assert!(norm_gamma.iter().all(|&g| g == 1.0));
}

/// The label rows of the gradient checks' three images: class 0, the null class, class 1.
fn rows_for(cfg: &ToyUNetConfig) -> Option<Vec<usize>> {
    (cfg.num_classes > 0).then(|| vec![0, cfg.num_classes, 1])
}

/// The loss `mean((out − target)²)` in f64 from an f32 forward pass.
fn loss64(m: &ToyUNet, ctx: &mut ToyUNetCtx, x: &[f32], t: &[f32], target: &[f32]) -> f64 {
    let out = match rows_for(m.config()) {
        Some(rows) => m.forward_rows(ctx, x, t, &rows),
        None => m.forward(ctx, x, t),
    };
    out.iter()
        .zip(target)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        / out.len() as f64
}

fn check_gradients(cfg: ToyUNetConfig, seed: u64) {
    let mut rng = Rng::seeded(seed);
    let mut m = ToyUNet::new(cfg.clone(), &mut rng).unwrap();
    // Move every 1-d parameter (biases, γ, β) away from its initial value. With ReLU, biases
    // lean positive: fewer units sit at exactly 0, where max-pool ties make the loss kinked.
    let lean = if cfg.act == ToyAct::Relu { 0.7 } else { 0.0 };
    for s in m.param_specs().to_vec() {
        if s.shape.len() == 1 {
            let l = if s.name.ends_with("bias") { lean } else { 0.0 };
            for v in &mut m.params_mut()[s.range.clone()] {
                *v += 0.2 * rng.normal() + l;
            }
        }
    }
    let (n, h, w) = (3, 8, 12);
    let x = rng.normal_vec(n * h * w);
    let t = [3.0f32, 57.0, 181.0];
    let target = rng.normal_vec(n * h * w);
    let mut ctx = m.train_ctx(n, h, w).unwrap();
    match rows_for(&cfg) {
        Some(rows) => m.forward_rows(&mut ctx, &x, &t, &rows),
        None => m.forward(&mut ctx, &x, &t),
    };
    let loss = m.loss_backward(&mut ctx, &target);
    assert!((loss as f64 - loss64(&m, &mut ctx, &x, &t, &target)).abs() < 1e-5);
    let grads = ctx.grads.clone();
    assert!(grads.iter().all(|g| g.is_finite()));
    let tag = format!("{:?}/{:?}", cfg.norm, cfg.act);

    // ReLU's kinks (and max-pool ties at 0) bend the loss within the step sizes: looser there.
    let tol = if cfg.act == ToyAct::Relu { 5e-2 } else { 2e-2 };
    // A directional derivative per tensor along a mix of the analytic gradient (a strong signal)
    // and a random direction (errors orthogonal to the gradient count too).
    for s in m.param_specs().to_vec() {
        let ids: Vec<usize> = s.range.clone().collect();
        let g: Vec<f32> = ids.iter().map(|&i| grads[i]).collect();
        let gn = g.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(gn > 0.0, "{tag} {}: zero gradient", s.name);
        let r = rng.normal_vec(ids.len());
        let rn = r.iter().map(|v| v * v).sum::<f32>().sqrt();
        let mut d: Vec<f32> = g.iter().zip(&r).map(|(a, b)| a / gn + b / rn).collect();
        if ids.len() == 1 {
            d[0] = 1.0;
        }
        let dn = d.iter().map(|v| v * v).sum::<f32>().sqrt();
        d.iter_mut().for_each(|v| *v /= dn);
        let analytic: f64 = ids
            .iter()
            .zip(&d)
            .map(|(&i, &dv)| grads[i] as f64 * dv as f64)
            .sum();
        let p0 = m.params().to_vec();
        let mut shifted = |step: f32| {
            let p = m.params_mut();
            for (&i, &dv) in ids.iter().zip(&d) {
                p[i] = p0[i] + step * dv;
            }
            let l = loss64(&m, &mut ctx, &x, &t, &target);
            m.params_mut().copy_from_slice(&p0);
            l
        };
        // The median of three step sizes: f32 rounding dominates the smallest, a rare kink
        // crossing the largest.
        let mut est: Vec<f64> = [3e-4f32, 1e-3, 3e-3]
            .iter()
            .map(|&e| (shifted(e) - shifted(-e)) / (2.0 * e as f64))
            .collect();
        est.sort_by(f64::total_cmp);
        let numeric = est[1];
        let err = (numeric - analytic).abs();
        assert!(
            err <= tol * analytic.abs() + 1e-5,
            "{tag} {}: analytic {analytic:e}, numeric {numeric:e}",
            s.name
        );
    }
}

#[test]
fn backward_passes_finite_differences_with_class_embedding() {
    let cfg = ToyUNetConfig {
        num_classes: 3,
        ..tiny(ToyNorm::Group, ToyAct::Silu)
    };
    check_gradients(cfg, 12);
}

#[test]
fn backward_passes_finite_differences_groupnorm_silu() {
    check_gradients(tiny(ToyNorm::Group, ToyAct::Silu), 10);
}

#[test]
fn backward_passes_finite_differences_groupnorm_relu() {
    check_gradients(tiny(ToyNorm::Group, ToyAct::Relu), 11);
}

#[test]
fn backward_passes_finite_differences_without_norm() {
    check_gradients(tiny(ToyNorm::None, ToyAct::Silu), 12);
    check_gradients(tiny(ToyNorm::None, ToyAct::Relu), 13);
}

#[test]
fn weights_round_trip_bit_for_bit_and_bad_weights_are_errors() {
    let cfg = tiny(ToyNorm::Group, ToyAct::Silu);
    let mut rng = Rng::seeded(3);
    let mut m = ToyUNet::new(cfg.clone(), &mut rng).unwrap();
    let x = Tensor::new(vec![2, 8, 8, 1], rng.normal_vec(128)).unwrap();
    let t = [5.0, 150.0];
    let y = m.predict(&x, &t).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    m.to_weights().save_safetensors(&path).unwrap();
    let w = Weights::load_safetensors(&path).unwrap();
    let mut back = ToyUNet::from_weights(cfg.clone(), &w).unwrap();
    assert_eq!(back.params(), m.params());
    assert_eq!(back.predict(&x, &t).unwrap(), y, "same outputs bit for bit");

    let err = ToyUNet::from_weights(
        ToyUNetConfig {
            channels: [4, 6, 10],
            ..cfg.clone()
        },
        &w,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("model.safetensors")
            && err.contains("mid.conv1.weight")
            && err.contains("[3, 3, 6, 10]"),
        "{err}"
    );
    let err = ToyUNet::from_weights(
        ToyUNetConfig {
            norm: ToyNorm::None,
            ..cfg.clone()
        },
        &w,
    );
    assert!(
        err.is_ok(),
        "a model without norm reads a subset of the tensors"
    );
    let mut partial = Weights::new();
    for (k, v) in w.iter().filter(|(k, _)| *k != "dec2.time_proj.weight") {
        partial.insert(k, v.clone());
    }
    let err = ToyUNet::from_weights(cfg.clone(), &partial)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing tensor `dec2.time_proj.weight`"),
        "{err}"
    );

    let err = ToyUNet::new(
        ToyUNetConfig {
            groups: 3,
            ..cfg.clone()
        },
        &mut rng,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("3 groups"), "{err}");
    let err = ToyUNet::new(
        ToyUNetConfig {
            image_size: 18,
            ..cfg.clone()
        },
        &mut rng,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("divisible by 4") && err.contains("18×18"),
        "{err}"
    );
    assert!(m
        .predict(&Tensor::zeros(vec![1, 10, 8, 1]), &[1.0])
        .is_err());
    assert!(m.predict(&Tensor::zeros(vec![2, 8, 8, 1]), &[1.0]).is_err());
    assert!(m.predict(&Tensor::zeros(vec![1, 8, 8, 3]), &[1.0]).is_err());
}

#[test]
fn works_at_28_pixels_and_predict_matches_forward() {
    let mut rng = Rng::seeded(4);
    let cfg = ToyUNetConfig {
        image_size: 28,
        zero_init_out: false,
        ..ToyUNetConfig::default()
    };
    let mut m = ToyUNet::new(cfg, &mut rng).unwrap();
    let x = rng.normal_vec(2 * 28 * 28);
    let t = [0.0, 199.0];
    let mut ctx = m.train_ctx(2, 28, 28).unwrap();
    let y = m.forward(&mut ctx, &x, &t).to_vec();
    assert!(y.iter().all(|v| v.is_finite()) && y.iter().any(|&v| v != 0.0));
    let p = m
        .predict(&Tensor::new(vec![2, 28, 28, 1], x.clone()).unwrap(), &t)
        .unwrap();
    assert_eq!(
        p.data(),
        &y[..],
        "inference context gives the training forward's values"
    );
    let single = m
        .predict(
            &Tensor::new(vec![1, 28, 28, 1], x[784..].to_vec()).unwrap(),
            &t[1..],
        )
        .unwrap();
    assert!(max_abs_diff(single.data(), &y[784..]) < 1e-5);
}
