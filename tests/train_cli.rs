//! `difflab train` from the command line: bad options are clear errors before any work, and a
//! short run writes the checkpoint, the four figures and the summary.

use clap::Parser;
use difflab::cli::{run, Cli};
use difflab::demos::train::Summary;
use difflab::train::Checkpoint;

fn train(args: &[&str]) -> difflab::Result<()> {
    let mut argv = vec!["difflab", "train"];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv).expect("options parse"))
}

fn err(args: &[&str]) -> String {
    train(args).expect_err("should fail").to_string()
}

#[test]
fn bad_options_are_clear_errors() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let e = err(&["--classes", "0", "--out", o]);
    assert!(e.contains("--classes 0") && e.contains("1 to 10"), "{e}");
    let e = err(&["--classes", "11", "--out", o]);
    assert!(e.contains("--classes 11") && e.contains("1 to 10"), "{e}");
    let e = err(&["--batch-size", "0", "--out", o]);
    assert!(e.contains("--batch-size must be at least 1"), "{e}");
    let e = err(&["--digits", "3,12", "--out", o]);
    assert!(e.contains("12 is not a digit"), "{e}");
    let e = err(&["--digits", "3,3", "--out", o]);
    assert!(e.contains("3 is listed twice"), "{e}");
    let e = err(&["--size", "20", "--out", o]);
    assert!(e.contains("--size must be 16 or 28"), "{e}");
    let e = err(&["--epochs", "0", "--out", o]);
    assert!(e.contains("--epochs must be at least 1"), "{e}");
    let e = err(&["--lr=-1", "--out", o]);
    assert!(e.contains("--lr must be a positive number"), "{e}");
    let e = err(&["--ema-decay", "1.5", "--out", o]);
    assert!(e.contains("--ema-decay must lie in [0, 1)"), "{e}");
    let e = err(&["--adam-beta2", "1", "--out", o]);
    assert!(e.contains("--adam-beta2 must lie in [0, 1)"), "{e}");
    let e = err(&["--recipe", "keras", "--out", o]);
    assert!(e.contains("the only recipe is `lab`"), "{e}");
    let e = err(&["--recipe", "lab", "--lr", "0.01", "--out", o]);
    assert!(
        e.contains("--recipe lab fixes every training setting") && e.contains("--lr"),
        "{e}"
    );
    let e = err(&["--resume", "--out", o]);
    assert!(
        e.contains("--resume: no checkpoint in") && e.contains(o),
        "{e}"
    );
    let e = err(&["--resume", "--batch-size", "64", "--out", o]);
    assert!(e.contains("drop --batch-size"), "{e}");
    let e = err(&["--batch-size", "512", "--limit", "300", "--out", o]);
    assert!(
        e.contains("300 training images are fewer than one batch of 512"),
        "{e}"
    );
    assert!(
        Cli::try_parse_from(["difflab", "train", "--classes", "3", "--digits", "1,2"]).is_err(),
        "--classes and --digits conflict"
    );
    assert!(
        !out.path().join("config.json").exists(),
        "nothing written by failed runs"
    );
}

#[test]
fn a_short_run_writes_checkpoint_figures_and_summary() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    train(&[
        "--digits",
        "1,7",
        "--limit",
        "256",
        "--batch-size",
        "64",
        "--epochs",
        "1",
        "--out",
        o,
    ])
    .unwrap();
    for f in [
        "config.json",
        "model.safetensors",
        "optimizer.safetensors",
        "scheduler_config.json",
        "summary.json",
        "loss.png",
        "denoising.png",
        "filters.png",
        "preview.png",
    ] {
        assert!(out.path().join(f).is_file(), "{f} missing");
    }
    let s: Summary =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        (
            s.arch.as_str(),
            s.images,
            s.steps,
            s.epochs,
            s.digits.as_slice()
        ),
        ("toy", 256, 4, 1, &[1u8, 7][..])
    );
    assert!(
        s.final_loss.is_finite()
            && s.final_loss > 0.0
            && s.images_per_second > 0.0
            && s.wall_seconds >= s.train_seconds
    );
    let ck = Checkpoint::load(out.path()).unwrap();
    assert_eq!(ck.config.stats.params, s.params);
    // The training pixels' moments, where sampling starts: digits are mostly background (−1).
    let m = ck
        .config
        .stats
        .pixel_moments
        .expect("pixel moments recorded");
    assert!(
        m.mean > -0.95 && m.mean < -0.5 && m.std > 0.3 && m.std < 0.9,
        "{m:?}"
    );
    assert_eq!(ck.config.start_noise().name(), "matched");
    let img = image::open(out.path().join("preview.png")).unwrap();
    assert!(img.width() >= 800 && img.height() >= 200);

    // --resume with more epochs continues from the checkpoint.
    train(&["--resume", "--epochs", "2", "--no-figures", "--out", o]).unwrap();
    let ck = Checkpoint::load(out.path()).unwrap();
    assert_eq!(
        (ck.config.stats.epochs_done, ck.config.stats.steps_done),
        (2, 8)
    );

    // The lab architecture at 28×28 (28 → 14 → 7 and back).
    let out28 = tempfile::tempdir().unwrap();
    let o28 = out28.path().to_str().unwrap();
    train(&[
        "--arch",
        "lab",
        "--size",
        "28",
        "--limit",
        "128",
        "--batch-size",
        "64",
        "--epochs",
        "1",
        "--no-figures",
        "--out",
        o28,
    ])
    .unwrap();
    let s: Summary =
        serde_json::from_str(&std::fs::read_to_string(out28.path().join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        (s.arch.as_str(), s.image_size, s.steps, s.params),
        ("lab", 28, 2, 495_937)
    );
    assert!(s.final_loss.is_finite());
}

/// The settings `difflab train` would run with, from its options (nothing is trained).
fn settings(args: &[&str]) -> difflab::train::TrainSettings {
    let mut argv = vec!["difflab", "train"];
    argv.extend_from_slice(args);
    match Cli::try_parse_from(argv).expect("options parse").command {
        difflab::cli::Command::Train(t) => t.settings().expect("valid settings"),
        other => panic!("parsed as {other:?}"),
    }
}

#[test]
fn conditional_runs_default_to_their_own_epochs_unless_given() {
    use difflab::train::settings::{CONDITIONAL_EPOCHS, DEFAULT_LABEL_DROPOUT, TOY_EPOCHS};
    let plain = settings(&[]);
    assert_eq!(plain.training.epochs, TOY_EPOCHS);
    assert!(!plain.is_conditional());
    let cond = settings(&["--conditional"]);
    assert_eq!(cond.training.epochs, CONDITIONAL_EPOCHS);
    assert_ne!(
        CONDITIONAL_EPOCHS, TOY_EPOCHS,
        "the test would not tell them apart"
    );
    assert_eq!(cond.training.label_dropout, Some(DEFAULT_LABEL_DROPOUT));
    // Everything else is the plain default's.
    assert_eq!(
        (
            cond.training.lr,
            cond.training.adam_beta2,
            cond.training.batch_size
        ),
        (
            plain.training.lr,
            plain.training.adam_beta2,
            plain.training.batch_size
        )
    );
    let given = settings(&["--conditional", "--epochs", "2", "--label-dropout", "0.2"]);
    assert_eq!(given.training.epochs, 2);
    assert_eq!(given.training.label_dropout, Some(0.2));
}

#[test]
fn v_prediction_with_zero_snr_is_recorded_trained_and_sampled() {
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("vz");
    let o = o.to_str().unwrap();
    let e = err(&["--zero-snr", "--out", o]);
    assert!(e.contains("--zero-snr needs --prediction v"), "{e}");
    let s = settings(&["--prediction", "v", "--zero-snr"]);
    assert!(s.schedule.rescale_betas_zero_snr);
    let built = s.schedule.build().unwrap();
    assert_eq!(built.alpha_bar(s.schedule.num_train_timesteps - 1), 0.0);
    // The default writes neither field: old and new default checkpoints read the same.
    let plain = serde_json::to_value(&settings(&[]).schedule).unwrap();
    assert!(
        plain.get("prediction_type").is_none() && plain.get("rescale_betas_zero_snr").is_none()
    );

    let quick = "--prediction v --zero-snr --digits 1 --limit 64 --batch-size 32 --epochs 1";
    let mut args: Vec<&str> = quick.split(' ').collect();
    args.extend(["--timesteps", "40", "--no-figures", "--out", o]);
    train(&args).unwrap();
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(out.path().join("vz").join(f)).unwrap())
            .unwrap()
    };
    let cfg = read("config.json");
    assert_eq!(cfg["schedule"]["prediction_type"], "v_prediction");
    assert_eq!(cfg["schedule"]["rescale_betas_zero_snr"], true);
    let sc = read("scheduler_config.json");
    assert_eq!(sc["prediction_type"], "v_prediction");
    assert_eq!(sc["rescale_betas_zero_snr"], true);
    assert!(cfg["stats"]["epoch_losses"][0]
        .as_f64()
        .unwrap()
        .is_finite());

    let m = difflab::train::TrainedModel::open(out.path().join("vz")).unwrap();
    use difflab::schedulers::{Sampler, SamplerKind};
    for kind in [
        SamplerKind::Ddpm,
        SamplerKind::DpmSolverSde,
        SamplerKind::UniPc,
    ] {
        let s = m.sampler(kind, 0.0).unwrap();
        assert!(s.alphas_cumprod()[39] < 1e-7, "{}", kind.name());
    }
    // PNDM has no zero-SNR rescaling (as in diffusers): refused rather than run on the wrong
    // schedule.
    let e = m.sampler(SamplerKind::Pndm, 0.0).unwrap_err().to_string();
    assert!(
        e.contains("scheduler_config.json") && e.contains("pndm sampler cannot follow"),
        "{e}"
    );
}
