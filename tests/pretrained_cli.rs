//! `difflab pretrained` (Module 4) end to end on the tiny diffusers fixtures used as local
//! folders (and as a cached hub repo): files, sizes, summary.json, determinism, the toy
//! comparison, and clear errors offline or on bad options.

mod common;

use difflab::demos::pretrained::{run_pretrained, PretrainedConfig};
use difflab::models::unet_2d::UNet2DModel;
use difflab::nn::Device;
use difflab::pipelines::sample::{sample, SampleOptions};
use difflab::schedulers::AnySampler;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join(name)
}

/// The binary with a hub environment that can never reach the network.
fn difflab(args: &[&str], hf_home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_difflab"))
        .args(args)
        .env("HF_HOME", hf_home)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("HF_HUB_CACHE")
        .output()
        .expect("the difflab binary runs")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A quick run: 4 images, 3 steps, steps.png at 2 and 4 steps, no toy.
fn quick_args<'a>(model: &'a str, out: &'a str, toy: &'a str, seed: &'a str) -> Vec<&'a str> {
    vec![
        "pretrained",
        "--model",
        model,
        "--count",
        "4",
        "--steps",
        "3",
        "--compare-steps",
        "2,4",
        "--seed",
        seed,
        "--out",
        out,
        "--toy",
        toy,
    ]
}

fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn png_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Parameters counted from the weights file itself: the sum of every tensor's element count.
fn params_in(weights: &Path) -> usize {
    common::read_safetensors(weights)
        .values()
        .map(|t| t.shape.iter().product::<usize>())
        .sum()
}

#[test]
fn tiny_local_folder_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m4");
    let no_toy = tmp.path().join("no-toy");
    let model = fixture("unet_tiny");
    let (m, o, t) = (
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        no_toy.to_str().unwrap(),
    );
    let res = difflab(&quick_args(m, o, t, "42"), tmp.path());
    ok(&res);
    let stdout = String::from_utf8_lossy(&res.stdout);
    let stderr = String::from_utf8_lossy(&res.stderr);
    assert!(stderr.contains("estimated time"), "{stderr}");
    assert!(
        stdout.contains("samples.png") && stdout.contains("total"),
        "{stdout}"
    );
    assert!(stdout.contains("no toy checkpoint"), "{stdout}");
    assert!(!out.join("toy_vs_pretrained.png").exists());

    let s = summary(&out);
    assert_eq!(s["model"]["id"], m);
    assert_eq!(s["model"]["source"], "local folder");
    assert!(s["model"]["revision"].is_null());
    let expected_params = params_in(&model.join("diffusion_pytorch_model.safetensors"));
    assert_eq!(s["model"]["parameters"], expected_params as u64);
    assert_eq!(
        (
            &s["model"]["height"],
            &s["model"]["width"],
            &s["model"]["channels"]
        ),
        (&Value::from(8), &Value::from(8), &Value::from(3))
    );
    // The model's own scheduler_config.json: DDPM with fixed_large variance.
    assert_eq!(s["scheduler"]["class_name"], "DDPMScheduler");
    assert_eq!(s["scheduler"]["config"]["variance_type"], "fixed_large");
    assert_eq!(s["scheduler"]["sampler"], "DDPM (fixed_large)");
    assert!(s["scheduler"]["source"]
        .as_str()
        .unwrap()
        .ends_with("scheduler_config.json"));
    assert_eq!(
        (s["count"].as_u64(), s["steps"].as_u64(), s["seed"].as_u64()),
        (Some(4), Some(3), Some(42))
    );
    let t = &s["timings"];
    for k in [
        "load_seconds",
        "estimated_seconds",
        "samples_seconds",
        "seconds_per_step",
        "total_seconds",
    ] {
        assert!(t[k].as_f64().unwrap() > 0.0, "{k}: {}", t[k]);
    }
    let runs: Vec<(String, u64)> = t["steps_figure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sampler"].as_str().unwrap().to_string(),
                r["steps"].as_u64().unwrap(),
            )
        })
        .collect();
    // The step counts asked for with DDPM and DDIM, then DPM-Solver++ at 10 and 20 steps.
    let want: Vec<(String, u64)> = [
        ("ddpm", 2),
        ("ddpm", 4),
        ("ddim", 2),
        ("ddim", 4),
        ("dpm++", 10),
        ("dpm++", 20),
    ]
    .iter()
    .map(|(k, n)| (k.to_string(), *n))
    .collect();
    assert_eq!(runs, want);
    assert!(s["toy"].is_null());
    assert!(s["toy_note"].as_str().unwrap().contains("no-toy"));

    // Each figure on disk has the size the summary records; samples.png is 2×2 tiles of 8×8
    // pixels ×4 under a header; steps.png has three rows of four cells.
    let files = s["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["samples.png", "steps.png"]);
    for f in files {
        let size = png_size(&out.join(f["name"].as_str().unwrap()));
        assert_eq!(
            size,
            (
                f["width"].as_u64().unwrap() as u32,
                f["height"].as_u64().unwrap() as u32
            )
        );
        assert!(size.0 >= 960 && size.1 > 2 * 32, "{size:?}");
    }
}

#[test]
fn library_samples_match_the_sampling_pipeline_with_the_models_scheduler() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = fixture("unet_tiny");
    let cfg = PretrainedConfig {
        model: dir.to_str().unwrap().into(),
        count: 3,
        steps: 4,
        seed: 7,
        out_dir: tmp.path().join("out"),
        toy_dirs: vec![],
        step_counts: vec![],
        progress: false,
        ..PretrainedConfig::default()
    };
    let report = run_pretrained(&cfg).unwrap();
    assert!(
        !tmp.path().join("out/steps.png").exists(),
        "no step counts: no steps.png"
    );
    assert!(tmp.path().join("out/samples.png").is_file());

    let mut model = UNet2DModel::from_pretrained(&dir, &Device::Cpu).unwrap();
    let mut sched = AnySampler::from_config_file(dir.join("scheduler_config.json"), None).unwrap();
    let opts = SampleOptions {
        count: 3,
        seed: 7,
        ..SampleOptions::new([8, 8, 3], 4)
    };
    let expected = sample(&mut model, &mut sched, &opts).unwrap().images;
    assert_eq!(report.samples.shape(), &[3, 8, 8, 3]);
    assert_eq!(report.samples.max_abs_diff(&expected), 0.0);
    assert_eq!(report.summary.model.parameters, model.num_parameters());
}

#[test]
fn same_seed_same_samples_other_seed_other_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("unet_tiny");
    let m = model.to_str().unwrap();
    let toy = tmp.path().join("none");
    let run = |name: &str, seed: &str| -> Vec<u8> {
        let out = tmp.path().join(name);
        ok(&difflab(
            &quick_args(m, out.to_str().unwrap(), toy.to_str().unwrap(), seed),
            tmp.path(),
        ));
        std::fs::read(out.join("samples.png")).unwrap()
    };
    let (a, b, c) = (run("a", "5"), run("b", "5"), run("c", "6"));
    assert!(a == b, "the same seed gave different samples.png");
    assert!(a != c, "seeds 5 and 6 gave the same samples.png");
}

#[test]
fn folder_without_scheduler_config_uses_ddpm_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("unet_tiny_legacy");
    assert!(!model.join("scheduler_config.json").exists());
    let out = tmp.path().join("m4");
    let toy = tmp.path().join("none");
    let args = quick_args(
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        toy.to_str().unwrap(),
        "1",
    );
    ok(&difflab(&args, tmp.path()));
    let s = summary(&out);
    assert_eq!(s["scheduler"]["class_name"], "DDPMScheduler");
    assert!(s["scheduler"]["source"]
        .as_str()
        .unwrap()
        .contains("defaults"));
    // DDPMScheduler's defaults, not the CIFAR model's fixed_large.
    assert_eq!(s["scheduler"]["config"]["variance_type"], "fixed_small");
    assert_eq!(s["scheduler"]["config"]["num_train_timesteps"], 1000);
    assert!(out.join("samples.png").is_file() && out.join("steps.png").is_file());
}

#[test]
fn ddim_sampler_is_used_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("unet_tiny");
    let out = tmp.path().join("m4");
    let toy = tmp.path().join("none");
    let mut args = quick_args(
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        toy.to_str().unwrap(),
        "1",
    );
    args.extend(["--sampler", "ddim", "--no-steps-figure"]);
    ok(&difflab(&args, tmp.path()));
    let s = summary(&out);
    assert_eq!(s["scheduler"]["class_name"], "DDIMScheduler");
    assert_eq!(s["scheduler"]["sampler"], "DDIM (η = 0)");
    assert!(s["timings"]["steps_figure"].as_array().unwrap().is_empty());
    assert!(!out.join("steps.png").exists());
}

#[test]
fn every_few_step_sampler_runs_the_pretrained_model() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("unet_tiny");
    let toy = tmp.path().join("none");
    for (name, class, title) in [
        ("dpm++", "DPMSolverMultistepScheduler", "DPM-Solver++"),
        ("unipc", "UniPCMultistepScheduler", "UniPC"),
        (
            "euler-a",
            "EulerAncestralDiscreteScheduler",
            "Euler ancestral",
        ),
        ("euler", "EulerDiscreteScheduler", "Euler"),
    ] {
        let out = tmp.path().join(name);
        let mut args = quick_args(
            model.to_str().unwrap(),
            out.to_str().unwrap(),
            toy.to_str().unwrap(),
            "1",
        );
        args.extend(["--sampler", name, "--no-steps-figure"]);
        ok(&difflab(&args, tmp.path()));
        let s = summary(&out);
        assert_eq!(s["scheduler"]["class_name"], class);
        assert_eq!(s["scheduler"]["sampler"], title);
        // The model's own schedule carries over (diffusers' from_config).
        assert_eq!(s["scheduler"]["config"]["num_train_timesteps"], 1000);
    }
}

#[test]
fn offline_without_cache_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m4");
    let res = difflab(
        &[
            "pretrained",
            "--model",
            "some/repo",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!res.status.success());
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.contains("some/repo"), "{err}");
    assert!(err.contains("HF_HUB_OFFLINE"), "{err}");
    assert!(
        err.contains(&tmp.path().join("hub").display().to_string()),
        "{err}"
    );
    assert!(err.contains("--model path/to/folder"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        !out.exists(),
        "nothing is written when the model is unavailable"
    );
}

#[test]
fn offline_error_is_unavailable_for_the_library() {
    // The lab skips Module 4 on this variant; a local folder error must not look like it.
    let tmp = tempfile::tempdir().unwrap();
    std::env::remove_var("HF_HUB_CACHE");
    std::env::set_var("HF_HOME", tmp.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");
    let cfg = PretrainedConfig {
        model: "some/repo".into(),
        out_dir: tmp.path().join("out"),
        progress: false,
        ..PretrainedConfig::default()
    };
    let err = run_pretrained(&cfg).unwrap_err();
    assert!(matches!(err, difflab::Error::Unavailable(_)), "{err:?}");
}

#[test]
fn cached_repo_id_records_revision_and_known_training_facts() {
    let home = tempfile::tempdir().unwrap();
    let repo = home.path().join("hub/models--google--ddpm-cifar10-32");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    for f in [
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "scheduler_config.json",
    ] {
        std::fs::copy(fixture("unet_tiny").join(f), snap.join(f)).unwrap();
    }
    let out = home.path().join("m4");
    let toy = home.path().join("none");
    let args = quick_args(
        "google/ddpm-cifar10-32",
        out.to_str().unwrap(),
        toy.to_str().unwrap(),
        "42",
    );
    ok(&difflab(&args, home.path()));
    let s = summary(&out);
    assert_eq!(s["model"]["id"], "google/ddpm-cifar10-32");
    assert_eq!(s["model"]["revision"], commit);
    assert_eq!(s["model"]["source"], "cache");
    assert!(s["model"]["data"].as_str().unwrap().contains("CIFAR-10"));
}

#[test]
fn bad_options_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let model = fixture("unet_tiny");
    let m = model.to_str().unwrap();
    let out = tmp.path().join("m4");
    let o = out.to_str().unwrap();
    for (args, needle) in [
        (
            vec!["pretrained", "--model", m, "--out", o, "--count", "0"],
            "--count",
        ),
        (
            vec!["pretrained", "--model", m, "--out", o, "--steps", "2000"],
            "1000",
        ),
        (
            vec![
                "pretrained",
                "--model",
                m,
                "--out",
                o,
                "--steps",
                "2",
                "--compare-steps",
                "5000",
            ],
            "5000",
        ),
        (
            vec!["pretrained", "--model", "no/such/dir", "--out", o],
            "no/such/dir",
        ),
    ] {
        let res = difflab(&args, tmp.path());
        assert!(!res.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&res.stderr);
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

/// Trains a tiny toy (real MNIST, 128 images, one epoch, T = 10) and compares with it.
#[test]
fn toy_comparison_when_a_checkpoint_exists() {
    let mnist = std::env::var_os("DIFFLAB_MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    assert!(
        mnist.is_dir(),
        "MNIST not found at {} (set DIFFLAB_MNIST_DIR)",
        mnist.display()
    );
    let tmp = tempfile::tempdir().unwrap();
    let toy = tmp.path().join("toy");
    let train = Command::new(env!("CARGO_BIN_EXE_difflab"))
        .args([
            "train",
            "--limit",
            "128",
            "--epochs",
            "1",
            "--timesteps",
            "10",
            "--no-figures",
            "--out",
        ])
        .arg(&toy)
        .env("DIFFLAB_MNIST_DIR", &mnist)
        .output()
        .unwrap();
    ok(&train);
    let toy_cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(toy.join("config.json")).unwrap()).unwrap();

    let out = tmp.path().join("m4");
    let model = fixture("unet_tiny");
    let args = quick_args(
        model.to_str().unwrap(),
        out.to_str().unwrap(),
        toy.to_str().unwrap(),
        "42",
    );
    let res = difflab(&args, tmp.path());
    ok(&res);
    let s = summary(&out);
    assert!(s["toy_note"].is_null());
    assert_eq!(s["toy"]["dir"], toy.to_str().unwrap());
    assert_eq!(s["toy"]["parameters"], toy_cfg["stats"]["params"]);
    assert_eq!(s["toy"]["image_size"], 16);
    assert_eq!(s["toy"]["num_train_timesteps"], 10);
    assert!(s["timings"]["toy_seconds"].as_f64().unwrap() > 0.0);
    let names: Vec<&str> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["samples.png", "steps.png", "toy_vs_pretrained.png"]);
    let (w, h) = png_size(&out.join("toy_vs_pretrained.png"));
    assert!(w >= 960 && h > 300, "{w}×{h}");
    assert!(String::from_utf8_lossy(&res.stdout).contains("toy"));
}
