//! UNet2DModel against diffusers: every `unet_*` fixture folder (config.json, weights,
//! io.safetensors with NCHW `sample`, int64 `timesteps` and diffusers' `expected` output).

mod common;
use difflab::models::unet_2d::UNet2DModel;
use difflab::models::NoisePredictor;
use difflab::nn::{Device, Tensor};

const TOL: f32 = 1e-4;

/// Run the fixture folder `name` through the model; returns (max abs error, output scale).
fn parity(name: &str) -> (f32, f32) {
    let dir = common::fixtures_dir().join(name);
    let mut model =
        UNet2DModel::from_pretrained(&dir, &Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"));
    let io = common::read_safetensors(&dir.join("io.safetensors"));
    let sample = Tensor::new(io["sample"].shape.clone(), io["sample"].f32s()).unwrap();
    let expected = Tensor::new(io["expected"].shape.clone(), io["expected"].f32s()).unwrap();
    let t = io["timesteps"].f32s();
    assert_eq!(
        t.len(),
        sample.shape()[0],
        "{name}: one timestep per sample"
    );
    let out = model.forward_nchw(&sample, &t).unwrap();
    assert_eq!(out.shape(), expected.shape(), "{name}: output shape");
    assert!(!out.has_non_finite(), "{name}: non-finite output");
    let scale = expected.data().iter().fold(0.0f32, |m, v| m.max(v.abs()));
    (out.max_abs_diff(&expected), scale)
}

#[test]
fn every_unet_fixture_matches_diffusers() {
    let mut names: Vec<String> = std::fs::read_dir(common::fixtures_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("unet_"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 4,
        "expected the four unet_* fixtures, found {names:?}"
    );
    for name in &names {
        let (err, scale) = parity(name);
        eprintln!("{name}: max abs error {err:.3e} (output max |v| {scale:.3})");
        assert!(scale > 0.1, "{name}: the fixture output is degenerate");
        assert!(err <= TOL, "{name}: max abs error {err:e} > {TOL:e}");
    }
}

#[test]
fn legacy_and_current_attention_keys_give_the_same_model() {
    // unet_tiny_legacy is unet_tiny's weights saved under the pre-0.14 attention names.
    let fx = common::fixtures_dir();
    let mut a = UNet2DModel::from_pretrained(fx.join("unet_tiny_legacy"), &Device::Cpu).unwrap();
    let mut b =
        UNet2DModel::from_pretrained(fx.join("unet_tiny_legacy_bin"), &Device::Cpu).unwrap();
    assert!(
        a.unused_weights().is_empty(),
        "unused: {:?}",
        a.unused_weights()
    );
    assert!(
        b.unused_weights().is_empty(),
        "unused: {:?}",
        b.unused_weights()
    );
    let io = common::read_safetensors(&fx.join("unet_tiny_legacy").join("io.safetensors"));
    let x = Tensor::new(io["sample"].shape.clone(), io["sample"].f32s()).unwrap();
    let t = io["timesteps"].f32s();
    let ya = a.forward_nchw(&x, &t).unwrap();
    let yb = b.forward_nchw(&x, &t).unwrap();
    assert_eq!(
        ya.max_abs_diff(&yb),
        0.0,
        "safetensors and .bin copies of one model must agree exactly"
    );
}

#[test]
fn parameter_count_matches_the_manifest() {
    let manifest = common::manifest();
    for name in ["unet_tiny", "unet_tiny_legacy", "unet_mnist16_multihead"] {
        let want = manifest["files"][format!("{name}/")]["params"]
            .as_u64()
            .unwrap() as usize;
        let model =
            UNet2DModel::from_pretrained(common::fixtures_dir().join(name), &Device::Cpu).unwrap();
        assert_eq!(model.num_parameters(), want, "{name}");
    }
}

#[test]
fn nhwc_forward_is_the_nchw_forward_transposed_and_the_noise_predictor() {
    let dir = common::fixtures_dir().join("unet_mnist16_multihead");
    let mut model = UNet2DModel::from_pretrained(&dir, &Device::Cpu).unwrap();
    let io = common::read_safetensors(&dir.join("io.safetensors"));
    let x = Tensor::new(io["sample"].shape.clone(), io["sample"].f32s()).unwrap();
    let t = io["timesteps"].f32s();
    let nchw = model.forward_nchw(&x, &t).unwrap();
    let nhwc = model.predict(&x.nchw_to_nhwc().unwrap(), &t).unwrap();
    assert_eq!(nhwc.shape(), &[3, 16, 16, 1]);
    assert_eq!(nhwc.nhwc_to_nchw().unwrap().max_abs_diff(&nchw), 0.0);
}

#[test]
fn one_timestep_broadcasts_and_per_sample_results_do_not_depend_on_the_batch() {
    let dir = common::fixtures_dir().join("unet_tiny");
    let mut model = UNet2DModel::from_pretrained(&dir, &Device::Cpu).unwrap();
    let io = common::read_safetensors(&dir.join("io.safetensors"));
    let x = Tensor::new(io["sample"].shape.clone(), io["sample"].f32s())
        .unwrap()
        .nchw_to_nhwc()
        .unwrap();
    let [n, h, w, c] = x.dims4().unwrap();
    let both = model.forward(&x, &[500.0]).unwrap();
    let per = h * w * c;
    for b in 0..n {
        let one = Tensor::new(vec![1, h, w, c], x.data()[b * per..(b + 1) * per].to_vec()).unwrap();
        let y = model.forward(&one, &[500.0]).unwrap();
        let diff = y
            .data()
            .iter()
            .zip(&both.data()[b * per..(b + 1) * per])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-5, "sample {b}: batch-of-one differs by {diff}");
    }
    // different timesteps give different predictions
    let other = model.forward(&x, &[10.0]).unwrap();
    assert!(other.max_abs_diff(&both) > 1e-3);
}

#[test]
fn the_pool_stops_allocating_after_warm_up() {
    let dir = common::fixtures_dir().join("unet_mnist16_multihead");
    let mut model = UNet2DModel::from_pretrained(&dir, &Device::Cpu).unwrap();
    let x = Tensor::new(
        vec![2, 16, 16, 1],
        (0..512).map(|i| (i as f32 * 0.37).sin()).collect(),
    )
    .unwrap();
    let mut out = vec![0.0; 512];
    model
        .forward_into(x.data(), 2, 16, 16, &[3.0, 700.0], None, &mut out)
        .unwrap();
    model
        .forward_into(x.data(), 2, 16, 16, &[3.0, 700.0], None, &mut out)
        .unwrap();
    let warm = model.scratch_allocations();
    assert!(warm > 0);
    let first = out.clone();
    for _ in 0..3 {
        model
            .forward_into(x.data(), 2, 16, 16, &[3.0, 700.0], None, &mut out)
            .unwrap();
    }
    assert_eq!(
        model.scratch_allocations(),
        warm,
        "buffers were allocated after warm-up"
    );
    assert_eq!(out, first, "reused buffers changed the result");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = common::fixtures_dir().join("unet_tiny");
    let mut model = UNet2DModel::from_pretrained(&dir, &Device::Cpu).unwrap();
    let x = Tensor::zeros(vec![2, 8, 8, 3]);
    let e = model.forward(&x, &[1.0, 2.0, 3.0]).unwrap_err().to_string();
    assert!(e.contains("3 timesteps for a batch of 2"), "{e}");
    let e = model
        .forward(&Tensor::zeros(vec![1, 8, 8, 1]), &[1.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("[n, h, w, 3]"), "{e}");
    let e = model
        .forward(&Tensor::zeros(vec![1, 7, 8, 3]), &[1.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("multiples of 2"), "{e}");
    let e = model.forward(&x, &[f32::NAN]).unwrap_err().to_string();
    assert!(e.contains("not finite"), "{e}");
    let e = model
        .forward_with_classes(&x, &[1.0], Some(&[0, 1]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no class embedding"), "{e}");
}
