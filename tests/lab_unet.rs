//! The lab's U-Net: its size, weight I/O, the first layer's shortcut against a plain
//! convolution over the materialised 65-channel input, the whole backward pass against finite
//! differences, and a short training run on real MNIST digits.

use difflab::models::lab_unet::{LabUNet, LabUNetConfig};
use difflab::models::{NoisePredictor, Trainable};
use difflab::nn::conv::{
    conv2d_backward_input, conv2d_backward_weight, conv2d_forward, Act, Conv2d, FirstConv, Padding,
};
use difflab::nn::workspace::Workspace;
use difflab::nn::{Tensor, Weights};
use difflab::util::rng::Rng;

fn tiny() -> LabUNetConfig {
    LabUNetConfig {
        image_size: 8,
        in_channels: 1,
        time_embed_dim: 8,
        time_hidden: 5,
        channels: [3, 4, 6],
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
fn lab_model_has_the_lab_parameter_count_and_names() {
    let m = LabUNet::new(LabUNetConfig::default(), &mut Rng::seeded(0)).unwrap();
    assert_eq!(m.num_params(), 495_937);
    let names: Vec<&str> = m.param_specs().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names.len(), 26);
    assert_eq!(
        &names[..5],
        &[
            "time.lin1.weight",
            "time.lin1.bias",
            "time.lin2.weight",
            "time.lin2.bias",
            "enc1.conv1.weight"
        ]
    );
    assert_eq!(names[25], "out.bias");
    let spec = |n: &str| {
        m.param_specs()
            .iter()
            .find(|s| s.name == n)
            .unwrap()
            .shape
            .clone()
    };
    assert_eq!(spec("enc1.conv1.weight"), vec![3, 3, 65, 32]);
    assert_eq!(spec("dec2.conv1.weight"), vec![3, 3, 192, 64]);
    assert_eq!(spec("dec1.conv1.weight"), vec![3, 3, 96, 32]);
    assert_eq!(spec("out.weight"), vec![3, 3, 32, 1]);
    // Keras init: zero biases, Glorot-uniform kernels within their limits.
    for s in m.param_specs() {
        let v = &m.params()[s.range.clone()];
        if s.shape.len() == 1 {
            assert!(v.iter().all(|&b| b == 0.0), "{} not zero", s.name);
        } else {
            let (fi, fo) = if s.shape.len() == 2 {
                (s.shape[0], s.shape[1])
            } else {
                (9 * s.shape[2], 9 * s.shape[3])
            };
            let limit = (6.0 / (fi + fo) as f32).sqrt();
            let max = v.iter().fold(0.0f32, |a, b| a.max(b.abs()));
            assert!(
                max <= limit && max > 0.9 * limit,
                "{}: max {max}, limit {limit}",
                s.name
            );
        }
    }
}

#[test]
fn first_conv_shortcut_equals_the_materialised_convolution() {
    let mut rng = Rng::seeded(1);
    // Odd sizes, a one-row image (both border bits at once), channel counts not multiples of 8.
    for (n, h, w, ci, ct, cout) in [
        (3, 5, 7, 1, 5, 3),
        (2, 1, 4, 2, 3, 5),
        (1, 6, 6, 1, 64, 32),
        (2, 3, 1, 1, 2, 2),
    ] {
        let fc = FirstConv { ci, ct, cout };
        let img = rng.normal_vec(n * h * w * ci);
        let temb = rng.normal_vec(n * ct);
        let weight = rng.normal_vec(fc.weight_len());
        let bias = rng.normal_vec(cout);
        let cin = ci + ct;
        let mut x = vec![0.0; n * h * w * cin];
        for p in 0..n * h * w {
            x[p * cin..p * cin + ci].copy_from_slice(&img[p * ci..(p + 1) * ci]);
            x[p * cin + ci..(p + 1) * cin].copy_from_slice(&temb[(p / (h * w)) * ct..][..ct]);
        }
        let conv = Conv2d::new(cin, cout, 3, 1, Padding::same(3));
        let mut ws = Workspace::new();
        let (mut want, mut got) = (
            vec![0.0; n * h * w * cout],
            vec![f32::NAN; n * h * w * cout],
        );
        conv2d_forward(
            &conv,
            &x,
            n,
            h,
            w,
            &weight,
            Some(&bias),
            Act::Relu,
            &mut want,
            &mut ws,
        );
        fc.forward(&img, &temb, n, h, w, &weight, &bias, &mut got, &mut ws);
        let tag = format!("{n}x{h}x{w} ci{ci} ct{ct} cout{cout}");
        assert!(
            max_abs_diff(&got, &want) < 1e-4,
            "forward {tag}: {}",
            max_abs_diff(&got, &want)
        );

        let dy = rng.normal_vec(n * h * w * cout);
        let (mut dw_want, mut db_want) = (vec![0.0; fc.weight_len()], vec![0.0; cout]);
        conv2d_backward_weight(
            &conv,
            &x,
            &dy,
            n,
            h,
            w,
            &mut dw_want,
            Some(&mut db_want),
            &mut ws,
        );
        let mut dx = vec![0.0; x.len()];
        conv2d_backward_input(&conv, &dy, n, h, w, &weight, &mut dx, &mut ws);
        let mut dtemb_want = vec![0.0f32; n * ct];
        for p in 0..n * h * w {
            for c in 0..ct {
                dtemb_want[(p / (h * w)) * ct + c] += dx[p * cin + ci + c];
            }
        }
        let (mut dw, mut db, mut dtemb) = (
            vec![f32::NAN; fc.weight_len()],
            vec![f32::NAN; cout],
            vec![f32::NAN; n * ct],
        );
        fc.backward(
            &img, &temb, &dy, n, h, w, &weight, &mut dw, &mut db, &mut dtemb, &mut ws,
        );
        assert!(
            max_abs_diff(&dw, &dw_want) < 1e-3,
            "dweight {tag}: {}",
            max_abs_diff(&dw, &dw_want)
        );
        assert!(max_abs_diff(&db, &db_want) < 1e-3, "dbias {tag}");
        assert!(
            max_abs_diff(&dtemb, &dtemb_want) < 1e-3,
            "dtemb {tag}: {}",
            max_abs_diff(&dtemb, &dtemb_want)
        );
    }
}

/// The loss `mean((out − target)²)` in f64 from an f32 forward pass.
fn loss64(
    m: &LabUNet,
    ctx: &mut difflab::models::lab_unet::LabUNetCtx,
    x: &[f32],
    t: &[f32],
    target: &[f32],
) -> f64 {
    let out = m.forward(ctx, x, t);
    out.iter()
        .zip(target)
        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
        .sum::<f64>()
        / out.len() as f64
}

#[test]
fn whole_backward_passes_finite_differences() {
    let cfg = tiny();
    let mut rng = Rng::seeded(2);
    let mut m = LabUNet::new(cfg.clone(), &mut rng).unwrap();
    // Non-zero biases, so that the bias paths are exercised away from their initial values.
    for s in m.param_specs().to_vec() {
        if s.shape.len() == 1 {
            for v in &mut m.params_mut()[s.range.clone()] {
                *v = 0.1 * rng.normal();
            }
        }
    }
    let (n, h, w) = (3, 8, 12);
    let x = rng.normal_vec(n * h * w);
    let t = [3.0f32, 57.0, 181.0];
    let target = rng.normal_vec(n * h * w);
    let mut ctx = m.train_ctx(n, h, w).unwrap();
    m.forward(&mut ctx, &x, &t);
    let loss = m.loss_backward(&mut ctx, &target);
    assert!((loss as f64 - loss64(&m, &mut ctx, &x, &t, &target)).abs() < 1e-5);
    let grads = ctx.grads.clone();
    assert!(grads.iter().all(|g| g.is_finite()));

    // Directional derivatives inside each parameter tensor; the first conv's image rows and
    // time rows are checked separately.
    let mut blocks: Vec<(String, Vec<usize>)> = Vec::new();
    for s in m.param_specs() {
        if s.name == "enc1.conv1.weight" {
            let (cin, cout) = (s.shape[2], s.shape[3]);
            let img_rows: Vec<usize> = (0..9)
                .flat_map(|tap| (0..cout).map(move |co| s.range.start + tap * cin * cout + co))
                .collect();
            let time_rows: Vec<usize> = s.range.clone().filter(|i| !img_rows.contains(i)).collect();
            blocks.push(("enc1.conv1.weight[image]".into(), img_rows));
            blocks.push(("enc1.conv1.weight[time]".into(), time_rows));
        } else {
            blocks.push((s.name.clone(), s.range.clone().collect()));
        }
    }
    // A small step (ReLU and max-pool kinks must not be crossed) along a direction with a
    // strong component on the analytic gradient (signal well above f32 rounding) and a random one
    // (errors orthogonal to the gradient change the result too).
    let eps = 1e-4f32;
    for (name, ids) in &blocks {
        let g: Vec<f32> = ids.iter().map(|&i| grads[i]).collect();
        let gn = g.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
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
        let mut shifted = |sign: f32| {
            let p = m.params_mut();
            for (&i, &dv) in ids.iter().zip(&d) {
                p[i] = p0[i] + sign * eps * dv;
            }
            let l = loss64(&m, &mut ctx, &x, &t, &target);
            m.params_mut().copy_from_slice(&p0);
            l
        };
        let numeric = (shifted(1.0) - shifted(-1.0)) / (2.0 * eps as f64);
        let err = (numeric - analytic).abs();
        assert!(
            err <= 1e-2 * analytic.abs() + 2e-6,
            "{name}: analytic {analytic:e}, numeric {numeric:e}"
        );
    }
}

#[test]
fn weights_round_trip_bit_for_bit_and_bad_weights_are_errors() {
    let cfg = tiny();
    let mut rng = Rng::seeded(3);
    let mut m = LabUNet::new(cfg.clone(), &mut rng).unwrap();
    let x = Tensor::new(vec![2, 8, 8, 1], rng.normal_vec(128)).unwrap();
    let t = [5.0, 150.0];
    let y = m.predict(&x, &t).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    m.to_weights().save_safetensors(&path).unwrap();
    let w = Weights::load_safetensors(&path).unwrap();
    let mut back = LabUNet::from_weights(cfg.clone(), &w).unwrap();
    assert_eq!(back.params(), m.params());
    assert_eq!(back.predict(&x, &t).unwrap(), y, "same outputs bit for bit");

    let bigger = LabUNetConfig {
        channels: [3, 4, 7],
        ..cfg.clone()
    };
    let err = LabUNet::from_weights(bigger, &w).unwrap_err().to_string();
    assert!(
        err.contains("model.safetensors")
            && err.contains("mid.conv1.weight")
            && err.contains("[3, 3, 4, 7]"),
        "{err}"
    );
    let mut partial = Weights::new();
    for (k, v) in w.iter().filter(|(k, _)| *k != "dec1.conv2.bias") {
        partial.insert(k, v.clone());
    }
    let err = LabUNet::from_weights(cfg.clone(), &partial)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing tensor `dec1.conv2.bias`"), "{err}");

    let err = LabUNet::new(
        LabUNetConfig {
            image_size: 30,
            ..cfg.clone()
        },
        &mut rng,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("divisible by 4") && err.contains("30×30"),
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
    let cfg = LabUNetConfig {
        image_size: 28,
        ..LabUNetConfig::default()
    };
    let mut m = LabUNet::new(cfg, &mut rng).unwrap();
    let x = rng.normal_vec(2 * 28 * 28);
    let t = [0.0, 199.0];
    let mut ctx = m.train_ctx(2, 28, 28).unwrap();
    let y = m.forward(&mut ctx, &x, &t).to_vec();
    assert_eq!(y.len(), 2 * 28 * 28);
    assert!(y.iter().all(|v| v.is_finite()) && y.iter().any(|&v| v != 0.0));
    let p = m
        .predict(&Tensor::new(vec![2, 28, 28, 1], x.clone()).unwrap(), &t)
        .unwrap();
    assert_eq!(
        p.data(),
        &y[..],
        "inference context gives the training forward's values"
    );
    // One sample alone gives the same prediction as inside the batch.
    let single = m
        .predict(
            &Tensor::new(vec![1, 28, 28, 1], x[784..].to_vec()).unwrap(),
            &t[1..],
        )
        .unwrap();
    assert!(max_abs_diff(single.data(), &y[784..]) < 1e-5);
}

// ---------------------------------------------------------------- training on real digits
// MNIST comes through the product's lookup (DIFFLAB_MNIST_DIR, which CI sets).

#[test]
fn adam_training_on_mnist_digits_lowers_the_noise_loss() {
    use difflab::diffusion::schedule::NoiseSchedule;
    use difflab::nn::optim::{Adam, AdamConfig};

    use difflab::data::mnist::{Digits, Mnist, PixelRange, Selection, Split};

    let mnist = Mnist::load(Split::Train, None).unwrap();
    let data = mnist
        .select(&Selection::training(Digits::classes(4).unwrap()))
        .unwrap();
    assert!(data.len() > 24_000, "digits 0-3: {}", data.len());
    let images = data.tensor(PixelRange::Symmetric);
    let digits: Vec<&[f32]> = images.data().chunks_exact(256).collect();
    let sched = NoiseSchedule::linear(200, 1e-4, 0.02).unwrap();
    let (sa, sb) = (
        sched.sqrt_alphas_cumprod(),
        sched.sqrt_one_minus_alphas_cumprod(),
    );
    let mut rng = Rng::seeded(42);
    let mut model = LabUNet::new(LabUNetConfig::default(), &mut rng).unwrap();
    let mut opt = Adam::new(AdamConfig::adam(1e-3), model.num_params());
    let (batch, px, steps) = (128, 256, 300);
    let mut ctx = model.train_ctx(batch, 16, 16).unwrap();
    let (mut x0, mut noise, mut xt, mut t) = (
        vec![0.0; batch * px],
        vec![0.0; batch * px],
        vec![0.0; batch * px],
        vec![0.0; batch],
    );
    let mut order: Vec<usize> = (0..digits.len()).collect();
    rng.shuffle(&mut order);
    let mut losses = Vec::new();
    for step in 0..steps {
        for b in 0..batch {
            x0[b * px..(b + 1) * px]
                .copy_from_slice(digits[order[(step * batch + b) % order.len()]]);
            t[b] = rng.below(200) as f32;
        }
        rng.fill_normal(&mut noise);
        for (i, v) in xt.iter_mut().enumerate() {
            let ti = t[i / px] as usize;
            *v = sa[ti] * x0[i] + sb[ti] * noise[i];
        }
        model.forward(&mut ctx, &xt, &t);
        losses.push(model.loss_backward(&mut ctx, &noise));
        opt.step(model.params_mut(), &ctx.grads);
    }
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    let (first, last) = (mean(&losses[..10]), mean(&losses[steps - 20..]));
    eprintln!("noise-prediction MSE: first 10 steps {first:.4}, last 20 steps {last:.4}");
    assert!(
        first > 0.5,
        "an untrained model predicts little of the noise: {first}"
    );
    assert!(last < 0.15, "after {steps} Adam steps the loss is {last}");
    assert!(losses.iter().all(|l| l.is_finite()));
}

#[test]
fn forward_and_backward_are_bit_identical_run_to_run() {
    let mut rng = Rng::seeded(5);
    let m = LabUNet::new(LabUNetConfig::default(), &mut rng).unwrap();
    let (n, h, w) = (6, 16, 16);
    let x = rng.normal_vec(n * h * w);
    let target = rng.normal_vec(n * h * w);
    let t = [0.0, 1.0, 50.0, 99.0, 150.0, 199.0];
    let run = || {
        let mut ctx = m.train_ctx(n, h, w).unwrap();
        let out = m.forward(&mut ctx, &x, &t).to_vec();
        let loss = m.loss_backward(&mut ctx, &target);
        (out, loss, ctx.grads.clone())
    };
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let (a, b) = (pool.install(run), pool.install(run));
        assert!(a == b, "{threads} threads: two runs differ");
        assert!(a.2.iter().any(|&g| g != 0.0));
    }
}
