//! `difflab eval` end to end on a tiny checkpoint: eval.json with every field, the sweep's
//! files, determinism, and clear errors. Needs MNIST (DIFFLAB_MNIST_DIR, as CI sets it).

use clap::Parser;
use difflab::cli::{run, Cli};
use difflab::data::digits::load_digits;
use difflab::data::Split;
use difflab::eval::{evaluate_model, EvalOptions, EvalReport};
use difflab::models::classifier::{
    save_classifier, train_classifier, ClassifierConfig, ClassifierInfo, TrainOptions,
};
use difflab::models::toy_unet::ToyUNetConfig;
use difflab::models::{Arch, ModelConfig};
use difflab::schedulers::SamplerKind;
use difflab::train::{ScheduleConfig, TrainSettings, Trainer};
use difflab::util::progress::Silent;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A temporary folder holding a quickly trained classifier and a tiny (untrained) toy
/// checkpoint on digits 0 and 1 with T = 20; shared by the tests of this file.
fn fixture() -> &'static (tempfile::TempDir, PathBuf, PathBuf) {
    static F: OnceLock<(tempfile::TempDir, PathBuf, PathBuf)> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let train = load_digits(Split::Train, 16, None).expect("MNIST (set DIFFLAB_MNIST_DIR)");
        let opts = TrainOptions {
            epochs: 1,
            batch_size: 32,
            lr: 5e-3,
            limit: Some(5_000),
            progress: false,
            ..TrainOptions::for_size(16)
        };
        let (model, report) =
            train_classifier(&ClassifierConfig::for_size(16), &train, &opts, &mut Silent).unwrap();
        let test = load_digits(Split::Test, 16, None).unwrap();
        let info = ClassifierInfo::measure(&model, &test, &opts, report).unwrap();
        let classifier = dir.path().join("classifier-16.safetensors");
        save_classifier(&classifier, &model, &info).unwrap();

        let mut s = TrainSettings::defaults(Arch::Toy);
        s.model = ModelConfig::Toy(ToyUNetConfig {
            channels: [8, 8, 8],
            groups: 4,
            time_hidden: 16,
            ..ToyUNetConfig::default()
        });
        s.schedule = ScheduleConfig::linear(20);
        s.data.digits = vec![0, 1];
        let ckpt = dir.path().join("model");
        Trainer::new(s).unwrap().save(&ckpt).unwrap();
        (dir, classifier, ckpt)
    })
}

fn options(classifier: &Path) -> EvalOptions {
    EvalOptions {
        count: 40,
        steps: Some(5),
        batch_size: 16,
        classifier: Some(classifier.to_path_buf()),
        ..EvalOptions::default()
    }
}

#[test]
fn evaluation_reports_consistent_scores_and_is_deterministic() {
    let (_, classifier, ckpt) = fixture();
    let r = evaluate_model(ckpt, &options(classifier)).unwrap();
    assert_eq!(
        (
            r.sampler.as_str(),
            r.steps,
            r.num_train_timesteps,
            r.image_size
        ),
        ("ddpm", 5, 20, 16)
    );
    assert_eq!(r.digits, vec![0, 1]);
    let g = &r.generated;
    assert_eq!(g.count, 40);
    assert_eq!(g.class_histogram.len(), 10);
    assert_eq!(g.class_histogram.iter().sum::<usize>(), 40);
    let in01 = (g.class_histogram[0] + g.class_histogram[1]) as f64 / 40.0;
    assert!(
        (g.in_classes - in01).abs() < 1e-12,
        "in_classes {} vs histogram {in01}",
        g.in_classes
    );
    assert!((0.0..=1.0).contains(&g.recognised) && g.fid.is_finite() && g.fid >= 0.0);
    // The floor: 40 real training digits of 0 and 1, classified as such.
    assert_eq!(r.floor.count, 40);
    assert!(
        r.floor.in_classes >= 0.95,
        "real 0s and 1s classified as 0 or 1: {}",
        r.floor.in_classes
    );
    assert!(
        r.floor.fid < g.fid,
        "real digits ({}) beat an untrained model ({})",
        r.floor.fid,
        g.fid
    );
    // MNIST's test split has 980 zeros and 1135 ones.
    assert_eq!(r.reference_count, 2115);
    assert_eq!(r.classifier.path.as_deref(), Some(classifier.as_path()));

    let again = evaluate_model(ckpt, &options(classifier)).unwrap();
    assert_eq!(
        again.generated, r.generated,
        "same seed, same digits, same scores"
    );
    let other = evaluate_model(
        ckpt,
        &EvalOptions {
            seed: 7,
            sampler: SamplerKind::Ddim,
            ..options(classifier)
        },
    )
    .unwrap();
    assert_ne!(other.generated.fid, r.generated.fid);
    assert_eq!(other.sampler, "ddim");
}

fn cli(args: &[&str]) -> difflab::Result<()> {
    let mut full = vec!["difflab"];
    full.extend_from_slice(args);
    run(Cli::parse_from(full))
}

#[test]
fn the_cli_writes_eval_json_with_every_field() {
    let (dir, classifier, ckpt) = fixture();
    let out = dir.path().join("out-single");
    let (c, m, o) = (
        classifier.to_str().unwrap(),
        ckpt.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    cli(&[
        "eval",
        "--model",
        m,
        "--count",
        "30",
        "--steps",
        "4",
        "--classifier",
        c,
        "--out",
        o,
    ])
    .unwrap();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    for key in [
        "model",
        "sampler",
        "steps",
        "num_train_timesteps",
        "seed",
        "image_size",
        "digits",
        "confidence_threshold",
        "count",
        "recognised",
        "in_classes",
        "class_histogram",
        "fid",
        "floor",
        "reference_count",
        "classifier",
        "sample_seconds",
        "images_per_second",
        "score_seconds",
    ] {
        assert!(v.get(key).is_some(), "eval.json lacks `{key}`: {v}");
    }
    for key in [
        "count",
        "recognised",
        "in_classes",
        "class_histogram",
        "fid",
    ] {
        assert!(
            v["floor"].get(key).is_some(),
            "eval.json's floor lacks `{key}`"
        );
    }
    assert_eq!(v["count"], 30);
    assert_eq!(v["steps"], 4);
    assert_eq!(v["class_histogram"].as_array().unwrap().len(), 10);
    assert!(v["classifier"]["test_accuracy"].as_f64().unwrap() > 0.5);
    let back: EvalReport = serde_json::from_value(v).unwrap();
    assert_eq!(back.generated.count, 30);
}

#[test]
fn the_sweep_writes_its_table_json_and_figure() {
    let (dir, classifier, ckpt) = fixture();
    let out = dir.path().join("out-sweep");
    let (c, m, o) = (
        classifier.to_str().unwrap(),
        ckpt.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    cli(&[
        "eval",
        "--model",
        m,
        "--count",
        "20",
        "--sweep",
        "--sampler",
        "ddim",
        "--classifier",
        c,
        "--out",
        o,
    ])
    .unwrap();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("quality_vs_steps.json")).unwrap())
            .unwrap();
    let runs = v["runs"].as_array().unwrap();
    // T = 20: steps 10 and 20, for every sampler in --help's order.
    let got: Vec<(String, u64)> = runs
        .iter()
        .map(|r| {
            (
                r["sampler"].as_str().unwrap().to_string(),
                r["steps"].as_u64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, u64)> = SamplerKind::ALL
        .iter()
        .flat_map(|k| [(k.name().to_string(), 10), (k.name().to_string(), 20)])
        .collect();
    assert_eq!(got, want);
    let main: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(
        (main["sampler"].as_str(), main["steps"].as_u64()),
        (Some("ddim"), Some(20))
    );
    let png = image::open(out.join("quality_vs_steps.png")).unwrap();
    assert!(
        png.width() >= 900 && png.height() >= 400,
        "{}×{}",
        png.width(),
        png.height()
    );
}

#[test]
fn the_sweep_can_be_limited_to_some_samplers() {
    let (dir, classifier, ckpt) = fixture();
    let out = dir.path().join("out-sweep-some");
    let (c, m, o) = (
        classifier.to_str().unwrap(),
        ckpt.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    let args = [
        "eval",
        "--model",
        m,
        "--count",
        "20",
        "--sweep",
        "--samplers",
        "dpm++,unipc",
        "--sampler",
        "euler",
        "--steps",
        "5",
        "--classifier",
        c,
        "--out",
        o,
    ];
    cli(&args).unwrap();
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("quality_vs_steps.json")).unwrap())
            .unwrap();
    let got: Vec<(String, u64)> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sampler"].as_str().unwrap().into(),
                r["steps"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut want = Vec::new();
    for s in ["euler", "dpm++", "unipc"] {
        for n in [5, 10, 20] {
            want.push((s.to_string(), n));
        }
    }
    assert_eq!(
        got, want,
        "--sampler first, then --samplers; --steps joins the counts"
    );
    let main: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(
        (main["sampler"].as_str(), main["steps"].as_u64()),
        (Some("euler"), Some(5))
    );
    assert!(main["fid"].as_f64().unwrap().is_finite());
}

#[test]
fn bad_options_and_missing_models_are_clear_errors() {
    let (dir, classifier, ckpt) = fixture();
    let o = |steps| EvalOptions {
        steps: Some(steps),
        ..options(classifier)
    };
    let err = evaluate_model(ckpt, &o(0)).unwrap_err().to_string();
    assert!(
        err.contains("--steps 0") && err.contains("1 to 20"),
        "{err}"
    );
    let err = evaluate_model(ckpt, &o(21)).unwrap_err().to_string();
    assert!(
        err.contains("--steps 21") && err.contains("T = 20"),
        "{err}"
    );
    let missing = dir.path().join("no-such-model");
    let err = evaluate_model(&missing, &options(classifier))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-such-model") && err.contains("config.json"),
        "{err}"
    );
    let (c, m) = (classifier.to_str().unwrap(), ckpt.to_str().unwrap());
    let err = cli(&["eval", "--model", m, "--count", "1", "--classifier", c])
        .unwrap_err()
        .to_string();
    assert!(err.contains("--count 1"), "{err}");
}
