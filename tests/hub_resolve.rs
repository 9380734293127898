//! `--model` resolution: local folders, the Hugging Face cache layout offline, and the message
//! when a model is neither cached nor downloadable. No test touches the network: every hub
//! lookup here runs with `offline: true` and a temporary cache.

mod common;
use difflab::hub::{resolve_cached, resolve_model_with, HubEnv, ModelSource};
use difflab::models::unet_2d::UNet2DModel;
use difflab::nn::{Device, Tensor};
use std::path::Path;

fn offline(cache: &Path) -> HubEnv {
    HubEnv {
        cache_dir: cache.to_path_buf(),
        offline: true,
        endpoint: None,
    }
}

/// Lay out `files` of fixture folder `src` in a cache the way `huggingface_hub`/`hf-hub` do:
/// blobs named by hash, `snapshots/<commit>/<file>` symlinks to them, `refs/main` = commit.
fn populate_cache(cache: &Path, repo_id: &str, src: &Path, files: &[&str], commit: &str) {
    let repo = cache.join(format!("models--{}", repo_id.replace('/', "--")));
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    for (i, f) in files.iter().enumerate() {
        let blob = repo.join("blobs").join(format!("{:040x}", i + 1));
        std::fs::copy(src.join(f), &blob).unwrap();
        let link = snap.join(f);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&blob, &link).unwrap();
        #[cfg(not(unix))]
        std::fs::copy(&blob, &link).unwrap();
    }
    std::fs::write(repo.join("refs").join("main"), commit).unwrap();
}

#[test]
fn a_local_folder_resolves_with_or_without_a_scheduler_config() {
    let fx = common::fixtures_dir();
    let env = offline(Path::new("/nonexistent-cache"));
    let m = resolve_model_with(fx.join("unet_tiny").to_str().unwrap(), &env).unwrap();
    assert_eq!(m.source, ModelSource::LocalFolder);
    assert!(m.config.ends_with("unet_tiny/config.json"));
    assert!(m.weights.ends_with("diffusion_pytorch_model.safetensors"));
    assert!(m
        .scheduler_config
        .as_ref()
        .unwrap()
        .ends_with("unet_tiny/scheduler_config.json"));
    for name in ["unet_tiny_legacy", "unet_mnist16_multihead"] {
        let m = resolve_model_with(fx.join(name).to_str().unwrap(), &env).unwrap();
        assert!(
            m.scheduler_config.is_none(),
            "{name} has no scheduler_config.json: use DDPMScheduler defaults"
        );
    }
    let m = resolve_model_with(fx.join("unet_tiny_legacy_bin").to_str().unwrap(), &env).unwrap();
    assert!(m.weights.ends_with("diffusion_pytorch_model.bin"));
}

#[test]
fn offline_without_a_cache_explains_what_to_run() {
    let cache = tempfile::tempdir().unwrap();
    let e = resolve_model_with("google/ddpm-cifar10-32", &offline(cache.path())).unwrap_err();
    assert!(matches!(e, difflab::Error::Unavailable(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("google/ddpm-cifar10-32"), "{msg}");
    assert!(msg.contains("HF_HUB_OFFLINE"), "{msg}");
    assert!(msg.contains(&cache.path().display().to_string()), "{msg}");
    assert!(
        msg.contains("difflab pretrained --model google/ddpm-cifar10-32"),
        "{msg}"
    );
    assert!(msg.contains("--model path/to/folder"), "{msg}");
}

#[test]
fn neither_a_folder_nor_a_repo_id_is_an_error() {
    let e = resolve_model_with("./no/such/folder", &offline(Path::new("/nonexistent")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no such folder") && e.contains("./no/such/folder"),
        "{e}"
    );
}

#[test]
fn a_populated_cache_resolves_offline_and_the_model_runs() {
    let cache = tempfile::tempdir().unwrap();
    let fx = common::fixtures_dir();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    populate_cache(
        cache.path(),
        "difflab-test/unet-tiny",
        &fx.join("unet_tiny"),
        &[
            "config.json",
            "diffusion_pytorch_model.safetensors",
            "scheduler_config.json",
        ],
        commit,
    );
    let m = resolve_model_with("difflab-test/unet-tiny", &offline(cache.path())).unwrap();
    assert_eq!(m.source, ModelSource::Cache);
    assert_eq!(m.revision.as_deref(), Some(commit));
    assert!(m.scheduler_config.is_some());
    let mut model = UNet2DModel::from_files(&m.config, &m.weights, &Device::Cpu).unwrap();
    let io = common::read_safetensors(&fx.join("unet_tiny/io.safetensors"));
    let x = Tensor::new(io["sample"].shape.clone(), io["sample"].f32s()).unwrap();
    let want = Tensor::new(io["expected"].shape.clone(), io["expected"].f32s()).unwrap();
    let got = model.forward_nchw(&x, &io["timesteps"].f32s()).unwrap();
    assert!(got.max_abs_diff(&want) <= 1e-4);
}

#[test]
fn a_cache_with_only_the_bin_weights_falls_back_to_them() {
    let cache = tempfile::tempdir().unwrap();
    let fx = common::fixtures_dir();
    populate_cache(
        cache.path(),
        "difflab-test/legacy",
        &fx.join("unet_tiny_legacy_bin"),
        &["config.json", "diffusion_pytorch_model.bin"],
        "fedcba9876543210fedcba9876543210fedcba98",
    );
    let m = resolve_cached("difflab-test/legacy", cache.path()).unwrap();
    assert!(m.weights.ends_with("diffusion_pytorch_model.bin"));
    assert!(m.scheduler_config.is_none());
    UNet2DModel::from_files(&m.config, &m.weights, &Device::Cpu).unwrap();
}

#[test]
fn an_incomplete_cache_is_not_taken_for_a_model() {
    let cache = tempfile::tempdir().unwrap();
    populate_cache(
        cache.path(),
        "difflab-test/partial",
        &common::fixtures_dir().join("unet_tiny"),
        &["config.json"],
        "1111111111111111111111111111111111111111",
    );
    assert!(resolve_cached("difflab-test/partial", cache.path()).is_none());
    let e = resolve_model_with("difflab-test/partial", &offline(cache.path()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not in the Hugging Face cache"), "{e}");
}
