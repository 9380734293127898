//! FID in the classifier's features: zero for a set against itself, growing as Gaussian noise
//! is added to the images. Needs MNIST (DIFFLAB_MNIST_DIR, as CI sets it).

use difflab::data::digits::load_digits;
use difflab::data::Split;
use difflab::eval::{feature_gaussian, fid, frechet_distance};
use difflab::models::classifier::{train_classifier, ClassifierConfig, TrainOptions};
use difflab::util::progress::Silent;
use difflab::util::rng::Rng;

#[test]
fn fid_is_zero_for_a_set_with_itself_and_grows_with_noise() {
    let train = load_digits(Split::Train, 16, None).expect("MNIST (set DIFFLAB_MNIST_DIR)");
    // A briefly trained classifier is enough for its features to separate clean from noisy.
    let opts = TrainOptions {
        epochs: 1,
        batch_size: 32,
        lr: 5e-3,
        limit: Some(3_000),
        progress: false,
        ..TrainOptions::for_size(16)
    };
    let (model, _) =
        train_classifier(&ClassifierConfig::for_size(16), &train, &opts, &mut Silent).unwrap();

    let test = load_digits(Split::Test, 16, None).unwrap();
    let n = 600;
    let a = &test.images[..n * 256];
    let b = &test.images[n * 256..2 * n * 256];

    let ga = feature_gaussian(&model, a).unwrap();
    let tr: f64 = (0..ga.dim).map(|i| ga.cov[i * ga.dim + i]).sum();
    let same = fid(&model, a, a).unwrap();
    assert!(
        same < 1e-9 * tr,
        "FID of a set with itself = {same} (tr Σ = {tr})"
    );

    // Two different samples of real test digits: small, but not zero.
    let real = fid(&model, a, b).unwrap();
    assert!(real > 0.0);

    let mut rng = Rng::seeded(11);
    let base = rng.normal_vec(a.len());
    let mut last = same;
    let mut fids = vec![];
    for sigma in [0.05f32, 0.1, 0.2, 0.4, 0.8] {
        let noisy: Vec<f32> = a
            .iter()
            .zip(&base)
            .map(|(&v, &z)| (v + sigma * z).clamp(0.0, 1.0))
            .collect();
        let d = frechet_distance(&ga, &feature_gaussian(&model, &noisy).unwrap()).unwrap();
        fids.push(d);
        assert!(
            d > last,
            "FID must grow with the noise: {fids:?} (σ up to {sigma})"
        );
        last = d;
    }
    assert!(
        fids[4] > 10.0 * real,
        "heavy noise ({}) should be far worse than another real sample ({real})",
        fids[4]
    );
}
