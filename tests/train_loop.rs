//! Training on real digits: the loss falls, checkpoints reload bit for bit, `--resume` after an
//! interruption reproduces an uninterrupted run exactly, and damaged checkpoints are clear
//! errors. MNIST comes from `DIFFLAB_MNIST_DIR` (CI sets it to the shared copy).

use difflab::models::Arch;
use difflab::models::NoisePredictor;
use difflab::nn::{Tensor, Weights};
use difflab::train::checkpoint::{self, Checkpoint};
use difflab::train::data::load_training_set;
use difflab::train::{load_denoiser, RunOptions, Silent, TrainSettings, Trainer};
use difflab::util::rng::Rng;
use std::path::Path;

fn settings(arch: Arch, limit: usize, batch: usize, epochs: usize) -> TrainSettings {
    let mut s = TrainSettings::defaults(arch);
    s.data.limit = Some(limit);
    s.training.batch_size = batch;
    s.training.epochs = epochs;
    s
}

fn train(s: &TrainSettings, out: &Path, stop_after: Option<usize>) -> Trainer {
    let data = load_training_set(None, &s.data.digits, s.data.image_size, s.data.limit).unwrap();
    let mut tr = Trainer::new(s.clone()).unwrap();
    tr.run(
        &data,
        out,
        &RunOptions {
            stop_after_epoch: stop_after,
        },
        &mut Silent,
    )
    .unwrap();
    tr
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

/// 200 steps of 32 images drawn from 640 real digits.
fn loss_falls(arch: Arch, below: f32) {
    let dir = tempfile::tempdir().unwrap();
    let tr = train(&settings(arch, 640, 32, 10), dir.path(), None);
    let l = &tr.step_losses;
    assert_eq!(l.len(), 200);
    let (first, last) = (mean(&l[..20]), mean(&l[180..]));
    assert!(
        first > 0.5,
        "{arch:?}: an untrained model's loss is near 1, got {first}"
    );
    assert!(
        last < below && last < 0.4 * first,
        "{arch:?}: loss {first} → {last} after 200 steps"
    );
    let ep = &tr.stats.epoch_losses;
    assert_eq!(ep.len(), 10);
    assert!(
        ep[9] < ep[0] && ep[9] < ep[4],
        "{arch:?}: epoch means {ep:?}"
    );
}

#[test]
fn toy_loss_falls_in_200_steps_on_real_digits() {
    loss_falls(Arch::Toy, 0.2);
}

#[test]
fn lab_loss_falls_in_200_steps_on_real_digits() {
    loss_falls(Arch::Lab, 0.25);
}

#[test]
fn resume_after_an_interruption_matches_an_uninterrupted_run_and_reloads_bit_for_bit() {
    let s = settings(Arch::Toy, 192, 32, 3);
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let whole = train(&s, a.path(), None);
    let stopped = train(&s, b.path(), Some(1));
    assert_eq!(stopped.stats.epochs_done, 1);
    assert_ne!(stopped.model.params(), whole.model.params());

    let data = load_training_set(None, &s.data.digits, 16, s.data.limit).unwrap();
    let mut resumed = Trainer::resume(b.path(), None).unwrap();
    assert_eq!(resumed.stats.steps_done, 6);
    assert_eq!(resumed.adam.t, 6);
    resumed
        .run(&data, b.path(), &RunOptions::default(), &mut Silent)
        .unwrap();
    assert_eq!(resumed.step_losses, whole.step_losses);
    assert!(
        resumed.model.params() == whole.model.params(),
        "weights differ after resuming"
    );
    assert!(
        resumed.ema.as_ref().unwrap().weights() == whole.ema.as_ref().unwrap().weights(),
        "EMA differs"
    );
    assert!(
        resumed.adam.m == whole.adam.m && resumed.adam.v == whole.adam.v,
        "Adam state differs"
    );
    assert_eq!(resumed.stats.epoch_losses, whole.stats.epoch_losses);

    // The saved files hold the same weights, and the loaded model predicts bit for bit like the
    // one in memory (EMA weights preferred).
    let ck = Checkpoint::load(b.path()).unwrap();
    assert_eq!(ck.model.params(), whole.model.params());
    assert_eq!(ck.config.stats.epochs_done, 3);
    let x = Tensor::new(vec![3, 16, 16, 1], Rng::seeded(5).normal_vec(3 * 256)).unwrap();
    let t = [0.0, 77.0, 199.0];
    let (mut loaded, cfg) = load_denoiser(b.path()).unwrap();
    assert_eq!(cfg.model().arch(), Arch::Toy);
    assert_eq!(cfg.settings.data.digits, vec![0, 1, 2, 3]);
    let want = whole.sampling_model().predict(&x, &t).unwrap();
    assert_eq!(
        loaded.predict(&x, &t).unwrap(),
        want,
        "same outputs bit for bit"
    );
    assert!(b.path().join(checkpoint::SCHEDULER_FILE).is_file());
}

#[test]
fn damaged_or_mismatched_checkpoints_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let (toy, lab) = (root.path().join("toy"), root.path().join("lab"));
    Trainer::new(TrainSettings::defaults(Arch::Toy))
        .unwrap()
        .save(&toy)
        .unwrap();
    let lab_s = TrainSettings::lab_recipe();
    Trainer::new(lab_s).unwrap().save(&lab).unwrap();
    assert!(Checkpoint::load(&toy).unwrap().ema.is_some());
    assert!(
        Checkpoint::load(&lab).unwrap().ema.is_none(),
        "the lab recipe keeps no EMA"
    );
    let err = |dir: &Path| Checkpoint::load(dir).unwrap_err().to_string();
    let copy = |name: &str| {
        let d = root.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in std::fs::read_dir(&toy).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), d.join(f.file_name())).unwrap();
        }
        d
    };

    // A config.json of the other architecture.
    let d = copy("mixed");
    std::fs::copy(lab.join("config.json"), d.join("config.json")).unwrap();
    let e = err(&d);
    assert!(
        e.contains("model.safetensors") && e.contains("`toy` model") && e.contains("`lab` model"),
        "{e}"
    );
    // The same without the arch tag in the weights' metadata: the shapes tell.
    let w = Weights::load_safetensors(toy.join("model.safetensors")).unwrap();
    let mut plain = Weights::new();
    for (k, v) in w.iter() {
        plain.insert(k, v.clone());
    }
    plain.save_safetensors(d.join("model.safetensors")).unwrap();
    let e = err(&d);
    assert!(
        e.contains("model.safetensors")
            && e.contains("enc1.conv1.weight")
            && e.contains("[3, 3, 65, 32]"),
        "{e}"
    );

    // A truncated weights file.
    let d = copy("truncated");
    let bytes = std::fs::read(d.join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let e = err(&d);
    assert!(
        e.contains("model.safetensors") && e.contains("not a valid safetensors file"),
        "{e}"
    );

    // A missing tensor (EMA copy).
    let d = copy("missing");
    let mut fewer = Weights::new();
    for (k, v) in w.iter().filter(|(k, _)| *k != "ema.mid.norm2.bias") {
        fewer.insert(k, v.clone());
    }
    fewer.set_metadata("arch", "toy");
    fewer.save_safetensors(d.join("model.safetensors")).unwrap();
    let e = err(&d);
    assert!(
        e.contains("model.safetensors") && e.contains("missing tensor `ema.mid.norm2.bias`"),
        "{e}"
    );

    // config.json: not a checkpoint, bad JSON, a bad field, missing.
    let d = copy("config");
    std::fs::write(d.join("config.json"), r#"{"_class_name": "UNet2DModel"}"#).unwrap();
    let e = err(&d);
    assert!(
        e.contains("config.json") && e.contains("not a difflab denoiser checkpoint"),
        "{e}"
    );
    std::fs::write(d.join("config.json"), "{ not json").unwrap();
    let e = err(&d);
    assert!(
        e.contains("config.json") && e.contains("not valid JSON"),
        "{e}"
    );
    let text = std::fs::read_to_string(toy.join("config.json"))
        .unwrap()
        .replace("\"groups\": 8", "\"groups\": 8, \"depth\": 3");
    std::fs::write(d.join("config.json"), text).unwrap();
    let e = err(&d);
    assert!(
        e.contains("config.json") && e.contains("unknown field `depth`"),
        "{e}"
    );
    std::fs::remove_file(d.join("config.json")).unwrap();
    assert!(err(&d).contains("config.json"));

    // Optimizer state from another epoch than the config: resuming is refused.
    let d = copy("torn");
    let mut opt = Weights::load_safetensors(d.join("optimizer.safetensors")).unwrap();
    opt.set_metadata("epochs_done", "3");
    opt.save_safetensors(d.join("optimizer.safetensors"))
        .unwrap();
    let e = Trainer::resume(&d, None).err().unwrap().to_string();
    assert!(
        e.contains("optimizer.safetensors") && e.contains("after epoch 3"),
        "{e}"
    );
}
