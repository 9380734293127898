//! Config variants without diffusers fixtures: scale_shift time conditioning, Fourier time
//! embedding, class embeddings, ResNet up/downsamplers, no mid block, input centring. Checked
//! through exact invariants between variants that must agree, shapes, and errors.

use difflab::models::unet_2d::{ParamSource, RandomParams, UNet2DConfig, UNet2DModel};
use difflab::nn::Tensor;
use difflab::Result;
use std::path::Path;

/// Random weights by name, with some tensors zeroed, recording how many values were taken.
struct Src {
    inner: RandomParams,
    zero: fn(&str) -> bool,
    taken: usize,
}

impl Src {
    fn new(zero: fn(&str) -> bool) -> Self {
        Src {
            inner: RandomParams::new(7),
            zero,
            taken: 0,
        }
    }
}

impl ParamSource for Src {
    fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let mut v = self.inner.take(name, shape)?;
        if (self.zero)(name) {
            v.iter_mut().for_each(|x| *x = 0.0);
        }
        self.taken += v.len();
        Ok(v)
    }
    fn contains(&self, _: &str) -> bool {
        false
    }
}

fn cfg(extra: &str) -> UNet2DConfig {
    let base = r#""block_out_channels": [32, 64], "layers_per_block": 1, "norm_num_groups": 8,
        "down_block_types": ["DownBlock2D", "AttnDownBlock2D"], "up_block_types": ["AttnUpBlock2D", "UpBlock2D"],
        "attention_head_dim": null, "in_channels": 3, "out_channels": 3"#;
    let text = if extra.is_empty() {
        format!("{{{base}}}")
    } else {
        format!("{{{base}, {extra}}}")
    };
    UNet2DConfig::from_json_str(&text, Path::new("test-config.json")).unwrap()
}

fn model(extra: &str, zero: fn(&str) -> bool) -> UNet2DModel {
    let mut src = Src::new(zero);
    let m = UNet2DModel::new(cfg(extra), &mut src).unwrap();
    assert_eq!(
        m.num_parameters(),
        src.taken,
        "num_parameters() counts every loaded tensor ({extra})"
    );
    m
}

fn input(n: usize, h: usize, w: usize) -> Tensor {
    Tensor::new(
        vec![n, h, w, 3],
        (0..n * h * w * 3)
            .map(|i| (i as f32 * 0.731).sin())
            .collect(),
    )
    .unwrap()
}

fn never(_: &str) -> bool {
    false
}

fn time_proj(name: &str) -> bool {
    name.contains("time_emb_proj")
}

#[test]
fn scale_shift_with_a_zero_time_projection_equals_default() {
    // h·(1 + 0) + 0 after norm2 is exactly norm2(h + 0); the mid attention keeps its norm.
    let mut a = model(r#""attn_norm_num_groups": 8"#, time_proj);
    let mut b = model(
        r#""attn_norm_num_groups": 8, "resnet_time_scale_shift": "scale_shift""#,
        time_proj,
    );
    let x = input(2, 8, 8);
    let ya = a.forward(&x, &[3.0, 600.0]).unwrap();
    let yb = b.forward(&x, &[3.0, 600.0]).unwrap();
    assert!(ya.max_abs_diff(&yb) < 1e-6, "{}", ya.max_abs_diff(&yb));
    // with real projections the two conditionings differ
    let mut c = model(
        r#""attn_norm_num_groups": 8, "resnet_time_scale_shift": "scale_shift""#,
        never,
    );
    assert!(c.forward(&x, &[3.0, 600.0]).unwrap().max_abs_diff(&ya) > 1e-3);
}

#[test]
fn scale_shift_drops_the_mid_attention_norm_unless_asked() {
    // diffusers: attn_norm_num_groups null + scale_shift → the mid attention has no GroupNorm
    let with = model(
        r#""attn_norm_num_groups": 8, "resnet_time_scale_shift": "scale_shift""#,
        never,
    );
    let without = model(r#""resnet_time_scale_shift": "scale_shift""#, never);
    assert_eq!(with.num_parameters() - without.num_parameters(), 2 * 64);
}

#[test]
fn centring_the_input_is_the_same_as_feeding_2x_minus_1() {
    let mut centred = model(r#""center_input_sample": true"#, never);
    let mut plain = model("", never);
    let x = input(1, 8, 8);
    let x2 = Tensor::new(
        x.shape().to_vec(),
        x.data().iter().map(|v| 2.0 * v - 1.0).collect(),
    )
    .unwrap();
    assert_eq!(
        centred.forward(&x, &[50.0]).unwrap(),
        plain.forward(&x2, &[50.0]).unwrap()
    );
}

#[test]
fn fourier_embedding_takes_positive_noise_levels() {
    let mut m = model(r#""time_embedding_type": "fourier""#, never);
    let x = input(2, 8, 8);
    let y = m.forward(&x, &[0.5, 20.0]).unwrap();
    assert_eq!(y.shape(), &[2, 8, 8, 3]);
    assert!(!y.has_non_finite());
    let e = m.forward(&x, &[0.0]).unwrap_err().to_string();
    assert!(e.contains("σ > 0"), "{e}");
    let e = m.forward(&x, &[-1.0]).unwrap_err().to_string();
    assert!(e.contains("σ > 0"), "{e}");
    let z = m.forward(&x, &[0.5, 2.0]).unwrap();
    assert!(z.max_abs_diff(&y) > 1e-3, "the noise level must matter");
}

#[test]
fn class_labels_condition_the_prediction() {
    let mut m = model(r#""num_class_embeds": 10"#, never);
    let x = input(2, 8, 8);
    let e = m.forward(&x, &[10.0]).unwrap_err().to_string();
    assert!(e.contains("class-conditional"), "{e}");
    let e = m
        .forward_with_classes(&x, &[10.0], Some(&[0, 10]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("class label 10"), "{e}");
    let y03 = m.forward_with_classes(&x, &[10.0], Some(&[0, 3])).unwrap();
    let y00 = m.forward_with_classes(&x, &[10.0], Some(&[0, 0])).unwrap();
    let per = 8 * 8 * 3;
    assert_eq!(
        y03.data()[..per],
        y00.data()[..per],
        "sample 0 has the same label in both batches"
    );
    let d: f32 = y03.data()[per..]
        .iter()
        .zip(&y00.data()[per..])
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(d > 1e-3, "labels 3 and 0 gave the same prediction");

    let mut t = model(r#""class_embed_type": "timestep""#, never);
    let y = t.forward_with_classes(&x, &[10.0], Some(&[1, 2])).unwrap();
    assert!(!y.has_non_finite());
}

#[test]
fn resnet_resamplers_no_mid_block_and_non_square_inputs_run() {
    for extra in [
        r#""downsample_type": "resnet", "upsample_type": "resnet""#,
        r#""mid_block_type": null"#,
        r#""add_attention": false, "downsample_padding": 1"#,
        r#""attention_head_dim": 16"#,
    ] {
        let mut m = model(extra, never);
        let y = m.forward(&input(2, 8, 16), &[1.0, 999.0]).unwrap();
        assert_eq!(y.shape(), &[2, 8, 16, 3], "{extra}");
        assert!(!y.has_non_finite(), "{extra}");
    }
}

#[test]
fn random_weights_depend_on_the_name_not_on_the_order() {
    let mut a = RandomParams::new(3);
    let mut b = RandomParams::new(3);
    let x1 = a
        .take("down_blocks.0.resnets.0.conv1.weight", &[4, 2, 3, 3])
        .unwrap();
    b.take("conv_in.weight", &[4, 3, 3, 3]).unwrap();
    let x2 = b
        .take("down_blocks.0.resnets.0.conv1.weight", &[4, 2, 3, 3])
        .unwrap();
    assert_eq!(x1, x2);
    let bound = 1.0 / 18f32.sqrt();
    assert!(x1.iter().all(|v| v.abs() <= bound));
    assert_ne!(
        x1,
        RandomParams::new(4)
            .take("down_blocks.0.resnets.0.conv1.weight", &[4, 2, 3, 3])
            .unwrap()
    );
}
