//! `resolve_model` reads HF_HOME and HF_HUB_OFFLINE from the process environment. This binary
//! holds a single test, so setting the variables cannot race with another test.

mod common;
use difflab::hub::{resolve_model, ModelSource};

#[test]
fn hf_home_and_hf_hub_offline_are_respected() {
    let home = tempfile::tempdir().unwrap();
    std::env::remove_var("HF_HUB_CACHE");
    std::env::set_var("HF_HOME", home.path());
    std::env::set_var("HF_HUB_OFFLINE", "1");

    // nothing cached: the offline error names $HF_HOME/hub
    let msg = resolve_model("google/ddpm-cifar10-32")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains(&home.path().join("hub").display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("HF_HUB_OFFLINE"), "{msg}");

    // cached under $HF_HOME/hub: resolves without the network
    let repo = home
        .path()
        .join("hub")
        .join("models--google--ddpm-cifar10-32");
    let commit = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    let fx = common::fixtures_dir().join("unet_tiny");
    for f in [
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "scheduler_config.json",
    ] {
        std::fs::copy(fx.join(f), snap.join(f)).unwrap();
    }
    let m = resolve_model("google/ddpm-cifar10-32").unwrap();
    assert_eq!(m.source, ModelSource::Cache);
    assert_eq!(m.revision.as_deref(), Some(commit));
    assert!(m.config.starts_with(home.path()));
}
