//! The classifier learns MNIST, and its cache file round-trips and recovers from damage.
//! Needs MNIST (DIFFLAB_MNIST_DIR, as CI sets it).

use difflab::data::digits::load_digits;
use difflab::data::Split;
use difflab::models::classifier::{
    cached_classifier_with, load_classifier, save_classifier, train_classifier, Classifier,
    ClassifierConfig, ClassifierInfo, TrainOptions,
};
use difflab::util::progress::Silent;
use std::sync::OnceLock;

/// A short run: the first 10,000 training digits at 16×16, one epoch of batch 32 at 5e-3.
fn quick_options() -> TrainOptions {
    TrainOptions {
        epochs: 1,
        batch_size: 32,
        lr: 5e-3,
        limit: Some(10_000),
        progress: false,
        ..TrainOptions::for_size(16)
    }
}

/// The quickly trained classifier and its test accuracy, shared by the tests of this file.
fn quick() -> &'static (Classifier, ClassifierInfo) {
    static Q: OnceLock<(Classifier, ClassifierInfo)> = OnceLock::new();
    Q.get_or_init(|| {
        let train = load_digits(Split::Train, 16, None).expect("MNIST (set DIFFLAB_MNIST_DIR)");
        let test = load_digits(Split::Test, 16, None).unwrap();
        let opts = quick_options();
        let (model, report) =
            train_classifier(&ClassifierConfig::for_size(16), &train, &opts, &mut Silent).unwrap();
        let info = ClassifierInfo::measure(&model, &test, &opts, report).unwrap();
        (model, info)
    })
}

#[test]
fn a_short_run_on_10k_digits_clears_95_percent_on_the_test_set() {
    let (_, info) = quick();
    assert_eq!(info.report.images, 10_000);
    assert_eq!(info.report.steps, 10_000usize.div_ceil(32));
    assert!(
        info.report.final_loss < 0.6,
        "mean loss of the epoch {}",
        info.report.final_loss
    );
    assert!(
        info.test_accuracy >= 0.95,
        "test accuracy {:.4} after 1 epoch on 10k digits",
        info.test_accuracy
    );
}

#[test]
fn noise_is_not_recognised_but_test_digits_are() {
    // Outlier exposure: trained to be unsure of non-digits, the classifier does not call the
    // output of an untrained denoiser a digit.
    let (_, info) = quick();
    assert!(
        info.noise_recognised < 0.02,
        "pure noise recognised: {}",
        info.noise_recognised
    );
    assert!(
        info.test_recognised > 0.8,
        "test digits recognised: {}",
        info.test_recognised
    );
}

#[test]
fn classification_gives_probabilities_and_128_features() {
    let (model, _) = quick();
    let test = load_digits(Split::Test, 16, None).unwrap();
    let n = 37;
    let c = model.classify(&test.images[..n * 256]).unwrap();
    assert_eq!((c.len(), c.classes, c.feature_dim), (n, 10, 128));
    assert_eq!(c.features.len(), n * 128);
    for row in c.probs.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(row.iter().all(|&p| (0.0..=1.0).contains(&p)));
    }
    assert!(
        c.features.iter().all(|&f| f >= 0.0),
        "features are ReLU outputs"
    );
    // Batching does not change results: the same images one batch or split in two.
    let a = model.classify(&test.images[..20 * 256]).unwrap();
    assert_eq!(a.probs[..], c.probs[..20 * 10]);
    assert_eq!(a.features[..], c.features[..20 * 128]);
    let err = model.classify(&test.images[..100]).unwrap_err().to_string();
    assert!(err.contains("16×16"), "{err}");
}

#[test]
fn saved_classifier_loads_back_identically_and_damage_names_the_file() {
    let (model, info) = quick();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("classifier-16.safetensors");
    save_classifier(&path, model, info).unwrap();
    let (back, back_info) = load_classifier(&path).unwrap();
    assert_eq!(back.params(), model.params());
    // serde_json's default float parser may be one ulp off, so the seconds are compared loosely.
    assert!((back_info.report.train_seconds - info.report.train_seconds).abs() < 1e-9);
    let mut same = back_info.clone();
    same.report.train_seconds = info.report.train_seconds;
    assert_eq!(&same, info);

    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_classifier(&path).unwrap_err().to_string();
    assert!(err.contains("classifier-16.safetensors"), "{err}");

    let other = dir.path().join("weights.safetensors");
    model.to_weights().save_safetensors(&other).unwrap();
    let err = load_classifier(&other).unwrap_err().to_string();
    assert!(
        err.contains("weights.safetensors") && err.contains("not a difflab classifier"),
        "{err}"
    );
}

#[test]
fn the_cache_is_used_when_valid_and_retrained_when_damaged() {
    let (model, info) = quick();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache").join("classifier-16.safetensors");
    let tiny = TrainOptions {
        limit: Some(1_000),
        ..quick_options()
    };

    // A valid file is read, not retrained.
    save_classifier(&path, model, info).unwrap();
    let c = cached_classifier_with(16, Some(&path), None, &tiny, &mut Silent).unwrap();
    assert!(!c.trained_now);
    assert_eq!(c.classifier.params(), model.params());

    // A damaged file is replaced by a freshly trained classifier (with a warning).
    std::fs::write(&path, b"not safetensors at all").unwrap();
    let c = cached_classifier_with(16, Some(&path), None, &tiny, &mut Silent).unwrap();
    assert!(c.trained_now);
    assert_eq!(c.info.report.images, 1_000);
    let (reloaded, _) = load_classifier(&path).unwrap();
    assert_eq!(reloaded.params(), c.classifier.params());

    // A classifier of another size is replaced too; a missing file is trained and written.
    let c = cached_classifier_with(
        28,
        Some(&path),
        None,
        &TrainOptions {
            limit: Some(300),
            ..quick_options()
        },
        &mut Silent,
    )
    .unwrap();
    assert!(c.trained_now && c.classifier.image_size() == 28);
    let fresh = dir.path().join("new").join("classifier-16.safetensors");
    let c = cached_classifier_with(16, Some(&fresh), None, &tiny, &mut Silent).unwrap();
    assert!(c.trained_now && fresh.is_file());
}
