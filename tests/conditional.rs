//! Class-conditional generation: the class embedding in the toy U-Net, classifier-free
//! guidance (w = 0 is the unconditional prediction exactly, the formula for other w), a
//! briefly trained conditional model drawing the asked-for digit more often than chance, and
//! clear errors for digits the model never saw, unconditional models and negative scales.

mod common;
use common::difflab;
use difflab::data::digits::load_digits;
use difflab::data::Split;
use difflab::eval::guided::{evaluate_guided, sample_guided};
use difflab::eval::{model_info, EvalOptions, Evaluator};
use difflab::models::classifier::{
    train_classifier, CachedClassifier, ClassifierConfig, ClassifierInfo,
    TrainOptions as ClassifierTrainOptions,
};
use difflab::models::toy_unet::{ToyUNet, ToyUNetConfig};
use difflab::models::Arch;
use difflab::models::{NoisePredictor, Trainable};
use difflab::nn::Tensor;
use difflab::pipelines::guidance::{check_scale, guide, ClassifierFreeGuidance};
use difflab::schedulers::SamplerKind;
use difflab::train::{ScheduleConfig, TrainSettings, Trainer};
use difflab::util::progress::Silent;
use difflab::util::rng::Rng;
use std::path::PathBuf;

fn small_conditional() -> ToyUNetConfig {
    ToyUNetConfig {
        channels: [8, 16, 16],
        groups: 4,
        time_hidden: 16,
        zero_init_out: false,
        num_classes: 10,
        ..ToyUNetConfig::default()
    }
}

/// An untrained conditional model (its class embeddings start random, N(0, 1)).
fn random_conditional(seed: u64) -> ToyUNet {
    let mut rng = Rng::seeded(seed);
    let m = ToyUNet::new(small_conditional(), &mut rng).unwrap();
    let spec = m
        .param_specs()
        .iter()
        .find(|s| s.name == "class_embed.weight")
        .expect("a conditional model has class_embed.weight")
        .clone();
    assert_eq!(spec.shape, vec![11, 16], "10 digits + the null class");
    let e = &m.params()[spec.range];
    let var = e.iter().map(|v| v * v).sum::<f32>() / e.len() as f32;
    assert!((0.5..1.5).contains(&var), "N(0, 1) rows, variance {var}");
    m
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn guidance_combines_the_two_predictions_and_w0_is_unconditional_exactly() {
    let mut m = random_conditional(1);
    let n = 3;
    let x = Tensor::new(vec![n, 16, 16, 1], Rng::seeded(2).normal_vec(n * 256)).unwrap();
    let t = [5.0, 90.0, 180.0];
    let labels = vec![Some(3), Some(7), None];
    let uncond = m.predict(&x, &t).unwrap();
    let none = m.predict_labeled(&x, &t, &[None; 3]).unwrap();
    assert_eq!(uncond.data(), none.data(), "predict = the null class");
    let cond = m.predict_labeled(&x, &t, &labels).unwrap();
    assert!(
        max_abs_diff(cond.data(), uncond.data()) > 1e-3,
        "the label changes the prediction"
    );

    let w0 = ClassifierFreeGuidance::new(labels.clone(), 0.0).unwrap();
    let g0 = w0.predict_with(&mut m, &x, &t, &labels).unwrap();
    assert_eq!(g0.data(), uncond.data(), "w = 0 is the unconditional model");
    let w1 = ClassifierFreeGuidance::new(labels.clone(), 1.0).unwrap();
    let g1 = w1.predict_with(&mut m, &x, &t, &labels).unwrap();
    assert_eq!(g1.data(), cond.data(), "w = 1 is the conditional model");

    // w = 3 runs both branches in one batch of 2n: ε_u + 3(ε_c − ε_u), per image.
    let w3 = ClassifierFreeGuidance::new(labels.clone(), 3.0).unwrap();
    let g3 = w3.predict_with(&mut m, &x, &t, &labels).unwrap();
    let mut want = vec![0.0; x.len()];
    guide(uncond.data(), cond.data(), 3.0, &mut want);
    assert!(max_abs_diff(g3.data(), &want) < 1e-4);
    // The image with no label gets the unconditional prediction whatever w is.
    let per = 256;
    assert!(max_abs_diff(&g3.data()[2 * per..], &uncond.data()[2 * per..]) < 1e-4);
    // guide itself: w = 0 returns the unconditional values bit for bit.
    let mut out = vec![0.0; x.len()];
    guide(uncond.data(), cond.data(), 0.0, &mut out);
    assert_eq!(out, uncond.data());
}

#[test]
fn bad_scales_and_labels_are_clear_errors() {
    for w in [-1.0, f32::NAN, f32::INFINITY] {
        let e = check_scale(w).unwrap_err().to_string();
        assert!(e.contains("guidance scale") && e.contains("≥ 0"), "{e}");
        assert!(ClassifierFreeGuidance::new(vec![Some(1)], w).is_err());
    }
    let mut m = random_conditional(3);
    let x = Tensor::zeros(vec![1, 16, 16, 1]);
    let e = m
        .predict_labeled(&x, &[1.0], &[Some(10)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("class 10") && e.contains("0..10"), "{e}");
    let e = m
        .predict_labeled(&x, &[1.0], &[Some(1), None])
        .unwrap_err()
        .to_string();
    assert!(e.contains("2 labels for 1 timesteps"), "{e}");
    let mut plain = ToyUNet::new(ToyUNetConfig::default(), &mut Rng::seeded(0)).unwrap();
    let e = plain
        .predict_labeled(&x, &[1.0], &[Some(1)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("unconditional"), "{e}");
    assert!(plain.predict_labeled(&x, &[1.0], &[None]).is_ok());
}

#[test]
fn checkpoints_from_before_conditioning_still_load() {
    // A toy config as written before `num_classes` existed.
    let old = r#"{"image_size":16,"in_channels":1,"time_embed_dim":32,"time_hidden":64,
        "channels":[32,64,128],"norm":"group","groups":8,"act":"silu","zero_init_out":true}"#;
    let cfg: ToyUNetConfig = serde_json::from_str(old).unwrap();
    assert_eq!(cfg, ToyUNetConfig::default());
    assert_eq!(cfg.num_classes, 0);
    // And the training settings reject a half-conditional run.
    let mut s = TrainSettings::defaults(Arch::Toy);
    s.training.label_dropout = Some(0.1);
    let e = s.validate().unwrap_err().to_string();
    assert!(e.contains("conditional"), "{e}");
    let mut s = TrainSettings::defaults(Arch::Toy);
    let e = s.make_conditional(1.5).unwrap_err().to_string();
    assert!(e.contains("--label-dropout") && e.contains("1.5"), "{e}");
    let e = TrainSettings::defaults(Arch::Lab)
        .make_conditional(0.1)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--arch toy"), "{e}");
}

/// A conditional model trained briefly on 0s and 1s asks for each and mostly gets it, and more
/// with guidance than without; the same seed gives the same digits.
#[test]
fn a_briefly_trained_conditional_model_draws_the_asked_for_digit() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = TrainSettings::defaults(Arch::Toy);
    s.make_conditional(0.15).unwrap();
    if let difflab::models::ModelConfig::Toy(c) = &mut s.model {
        c.channels = [16, 32, 32];
    }
    s.schedule = ScheduleConfig::linear(100);
    s.data.digits = vec![0, 1];
    s.data.limit = Some(4096);
    s.training.epochs = 4;
    s.training.batch_size = 64;
    s.validate().unwrap();
    let data = difflab::train::data::load_training_set(None, &[0, 1], 16, Some(4096))
        .expect("MNIST (set DIFFLAB_MNIST_DIR)");
    let ckpt = dir.path().join("model");
    let mut trainer = Trainer::new(s).unwrap();
    trainer
        .run(
            &data,
            &ckpt,
            &difflab::train::RunOptions::default(),
            &mut difflab::train::Silent,
        )
        .unwrap();
    let (mut model, cfg) = difflab::train::load_denoiser(&ckpt).unwrap();
    assert_eq!(model.num_classes(), 10);
    let info = model_info(&ckpt, &cfg).unwrap();

    let train = load_digits(Split::Train, 16, None).unwrap();
    let copts = ClassifierTrainOptions {
        epochs: 1,
        batch_size: 32,
        lr: 5e-3,
        limit: Some(5_000),
        progress: false,
        ..ClassifierTrainOptions::for_size(16)
    };
    let (clf, report) =
        train_classifier(&ClassifierConfig::for_size(16), &train, &copts, &mut Silent).unwrap();
    let test = load_digits(Split::Test, 16, None).unwrap();
    let cinfo = ClassifierInfo::measure(&clf, &test, &copts, report).unwrap();
    let cached = CachedClassifier {
        classifier: clf,
        info: cinfo,
        path: None::<PathBuf>,
        trained_now: true,
    };
    let count = 40;
    let evaluator = Evaluator::with_classifier(cached, &[0, 1], count, 7, None).unwrap();
    let opts = EvalOptions {
        count,
        sampler: SamplerKind::Ddpm,
        steps: Some(50),
        batch_size: 0,
        ..EvalOptions::default()
    };
    let (plain, _) =
        evaluate_guided(model.as_mut(), &info, &evaluator, &opts, &[0, 1], 1.0).unwrap();
    let (guided, samples) =
        evaluate_guided(model.as_mut(), &info, &evaluator, &opts, &[0, 1], 3.0).unwrap();
    eprintln!(
        "asked-for share: w=1 {:.2} ({:?}), w=3 {:.2} ({:?})",
        plain.agreement, plain.agreement_per_digit, guided.agreement, guided.agreement_per_digit
    );
    // Chance is 50%: with guidance each digit must come out clearly more often than that, and
    // guidance must help (measured: w = 1 gets 60%, w = 3 gets 93%).
    assert!(guided.agreement >= 0.8, "{guided:?}");
    assert!(
        guided.agreement > plain.agreement,
        "{plain:?} vs {guided:?}"
    );
    assert!(
        guided.agreement_per_digit.iter().all(|&a| a >= 0.6),
        "{guided:?}"
    );
    let again = sample_guided(model.as_mut(), &info, &opts, &[0, 1], 3.0).unwrap();
    assert_eq!(again.images.data(), samples.images.data());
}

fn stderr_of_failure(args: &[&str]) -> String {
    let out = difflab(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a clear error, not a panic: {args:?}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `difflab sample --digit` end to end on untrained checkpoints (conditional on digits 0-3,
/// and unconditional), a few steps: the figures, and the errors the issue lists.
#[test]
fn the_sample_cli_asks_for_digits_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let save = |name: &str, conditional: bool| {
        let mut s = TrainSettings::defaults(Arch::Toy);
        if let difflab::models::ModelConfig::Toy(c) = &mut s.model {
            c.channels = [8, 8, 8];
            c.groups = 4;
        }
        if conditional {
            s.make_conditional(0.15).unwrap();
        }
        s.schedule = ScheduleConfig::linear(20);
        let p = dir.path().join(name);
        Trainer::new(s).unwrap().save(&p).unwrap();
        p.to_str().unwrap().to_string()
    };
    let cond = save("cond", true);
    let plain = save("plain", false);
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let run = difflab(&[
        "sample",
        "--model",
        &cond,
        "--digit",
        "2,3",
        "--guidance",
        "3",
        "--steps",
        "4",
        "--count",
        "4",
        "--out",
        o,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for f in ["samples.png", "conditional.png", "summary.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let img = image::open(out.join("conditional.png")).unwrap();
    assert!(img.height() > 4 * 64, "a row per trained digit (4)");

    let e = stderr_of_failure(&["sample", "--model", &cond, "--digit", "5", "--out", o]);
    assert!(e.contains("--digit 5") && e.contains("0, 1, 2, 3"), "{e}");
    let e = stderr_of_failure(&[
        "sample",
        "--model",
        &cond,
        "--digit",
        "1",
        "--guidance",
        "-1",
        "--out",
        o,
    ]);
    assert!(e.contains("guidance scale") && e.contains("-1"), "{e}");
    let e = stderr_of_failure(&["sample", "--model", &plain, "--digit", "1", "--out", o]);
    assert!(e.contains("unconditional") && e.contains(&plain), "{e}");
    let e = stderr_of_failure(&["sample", "--model", &cond, "--guidance", "2", "--out", o]);
    assert!(e.contains("--guidance needs --digit"), "{e}");
    let e = stderr_of_failure(&["train", "--conditional", "--arch", "lab", "--out", o]);
    assert!(e.contains("--arch toy"), "{e}");
}
