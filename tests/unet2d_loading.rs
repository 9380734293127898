//! Loading UNet2DModel: config defaults and errors, weight errors, the PyTorch `.bin` reader's
//! refusals, and the architecture of google/ddpm-cifar10-32.

mod common;
use difflab::models::unet_2d::{UNet2DConfig, UNet2DModel};
use difflab::nn::torch_bin::load_torch_bin;
use difflab::nn::{Device, Tensor, Weights};
use std::io::Write;
use std::path::Path;

fn tiny() -> std::path::PathBuf {
    common::fixtures_dir().join("unet_tiny")
}

/// A temp folder with unet_tiny's config.json and the given weights.
fn folder_with(weights: &Weights, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), config).unwrap();
    weights
        .save_safetensors(dir.path().join("diffusion_pytorch_model.safetensors"))
        .unwrap();
    dir
}

fn tiny_config() -> String {
    std::fs::read_to_string(tiny().join("config.json")).unwrap()
}

fn tiny_weights() -> Weights {
    Weights::load_safetensors(tiny().join("diffusion_pytorch_model.safetensors")).unwrap()
}

fn load_err(dir: &Path) -> String {
    match UNet2DModel::from_pretrained(dir, &Device::Cpu) {
        Ok(_) => panic!("{} loaded, but it should not", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_cifar10_architecture_has_35_7m_parameters() {
    // diffusers: sum(p.numel() for p in UNet2DModel(**config).parameters()) = 35,746,307
    let model = UNet2DModel::random(UNet2DConfig::ddpm_cifar10_32(), 1).unwrap();
    assert_eq!(model.num_parameters(), 35_746_307);
}

#[test]
fn the_cifar10_config_json_parses_to_the_built_in_config() {
    let text = r#"{"_class_name":"UNet2DModel","_diffusers_version":"0.0.4","act_fn":"silu","attention_head_dim":null,
      "block_out_channels":[128,256,256,256],"center_input_sample":false,
      "down_block_types":["DownBlock2D","AttnDownBlock2D","DownBlock2D","DownBlock2D"],"downsample_padding":0,
      "flip_sin_to_cos":false,"freq_shift":1,"in_channels":3,"layers_per_block":2,"mid_block_scale_factor":1,
      "norm_eps":1e-06,"norm_num_groups":32,"out_channels":3,"sample_size":32,"time_embedding_type":"positional",
      "up_block_types":["UpBlock2D","UpBlock2D","AttnUpBlock2D","UpBlock2D"]}"#;
    let cfg = UNet2DConfig::from_json_str(text, Path::new("config.json")).unwrap();
    assert_eq!(cfg, UNet2DConfig::ddpm_cifar10_32());
    // fields the 2022 file lacks take diffusers' defaults
    assert_eq!(cfg.resnet_time_scale_shift, "default");
    assert_eq!(cfg.downsample_type, "conv");
    assert_eq!(cfg.mid_block_type.as_deref(), Some("UNetMidBlock2D"));
    assert!(cfg.add_attention);
    assert_eq!(cfg.time_embed_dim(), 512);
}

#[test]
fn absent_fields_take_diffusers_defaults_and_unknown_fields_are_ignored() {
    let cfg = UNet2DConfig::from_json_str(
        r#"{"some_future_field": [1, 2], "_use_default_values": []}"#,
        Path::new("c.json"),
    )
    .unwrap();
    assert_eq!(cfg, UNet2DConfig::default());
    assert_eq!(cfg.block_out_channels, vec![224, 448, 672, 896]);
    assert_eq!(cfg.attention_head_dim, Some(8));
    assert!(cfg.flip_sin_to_cos);
    assert_eq!(cfg.freq_shift, 0.0);
    assert_eq!(cfg.norm_eps, 1e-5);
    // an explicit null differs from an absent field
    let cfg = UNet2DConfig::from_json_str(
        r#"{"attention_head_dim": null, "mid_block_type": null}"#,
        Path::new("c.json"),
    )
    .unwrap();
    assert_eq!(cfg.attention_head_dim, None);
    assert_eq!(cfg.mid_block_type, None);
}

#[test]
fn a_config_field_of_the_wrong_type_is_named_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bad = tiny_config().replace("\"layers_per_block\": 1", "\"layers_per_block\": \"one\"");
    assert_ne!(bad, tiny_config());
    std::fs::write(dir.path().join("config.json"), bad).unwrap();
    tiny_weights()
        .save_safetensors(dir.path().join("diffusion_pytorch_model.safetensors"))
        .unwrap();
    let e = load_err(dir.path());
    assert!(e.contains("config.json"), "{e}");
    assert!(e.contains("`layers_per_block`"), "{e}");
    assert!(e.contains("invalid type"), "{e}");

    let e = UNet2DConfig::from_json_str(
        r#"{"block_out_channels": [32, "64"]}"#,
        Path::new("x/config.json"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("x/config.json") && e.contains("`block_out_channels`"),
        "{e}"
    );
    let e = UNet2DConfig::from_json_str("{not json", Path::new("x/config.json"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("x/config.json") && e.contains("not valid JSON"),
        "{e}"
    );
}

#[test]
fn unsupported_or_inconsistent_configs_are_rejected_by_field() {
    let check = |json: &str, needle: &str| {
        let e = UNet2DConfig::from_json_str(json, Path::new("config.json"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{json}: {e}");
    };
    check(
        r#"{"down_block_types": ["CrossAttnDownBlock2D","DownBlock2D","DownBlock2D","DownBlock2D"]}"#,
        "down_block_types",
    );
    check(
        r#"{"block_out_channels": [32, 64]}"#,
        "down_block_types has 4",
    );
    check(r#"{"norm_num_groups": 5}"#, "norm_num_groups");
    check(r#"{"act_fn": "gelu"}"#, "act_fn");
    check(
        r#"{"_class_name": "UNet2DConditionModel"}"#,
        "UNet2DConditionModel",
    );
    check(
        r#"{"attention_head_dim": 7, "block_out_channels": [32,64,64,64], "norm_num_groups": 8}"#,
        "attention_head_dim",
    );
    check(
        r#"{"time_embedding_type": "learned"}"#,
        "num_train_timesteps",
    );
}

#[test]
fn a_folder_without_weights_says_which_files_it_wanted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), tiny_config()).unwrap();
    let e = load_err(dir.path());
    assert!(e.contains(&dir.path().display().to_string()), "{e}");
    assert!(
        e.contains("diffusion_pytorch_model.safetensors")
            && e.contains("diffusion_pytorch_model.bin"),
        "{e}"
    );

    let empty = tempfile::tempdir().unwrap();
    let e = load_err(empty.path());
    assert!(e.contains("config.json not found"), "{e}");
}

#[test]
fn a_tensor_of_the_wrong_shape_names_the_key_both_shapes_and_the_file() {
    let mut w = tiny_weights();
    let name = "up_blocks.0.resnets.1.conv1.weight"; // [64, 96, 3, 3]
    w.insert(name, Tensor::zeros(vec![64, 95, 3, 3]));
    let dir = folder_with(&w, &tiny_config());
    let e = load_err(dir.path());
    assert!(e.contains(name), "{e}");
    assert!(
        e.contains("[64, 95, 3, 3]") && e.contains("[64, 96, 3, 3]"),
        "{e}"
    );
    assert!(e.contains("diffusion_pytorch_model.safetensors"), "{e}");
}

#[test]
fn a_missing_tensor_is_named() {
    let src = tiny_weights();
    let mut w = Weights::new();
    for (k, t) in src.iter() {
        if k != "mid_block.attentions.0.to_v.bias" {
            w.insert(k, t.clone());
        }
    }
    let dir = folder_with(&w, &tiny_config());
    let e = load_err(dir.path());
    assert!(
        e.contains("mid_block.attentions.0.to_v.bias") && e.contains("missing"),
        "{e}"
    );
    assert!(e.contains("diffusion_pytorch_model.safetensors"), "{e}");
}

#[test]
fn weights_that_do_not_fit_the_config_fail_on_the_first_mismatch() {
    // the tiny weights with a config claiming 48 base channels
    let cfg = tiny_config().replace(
        "\"block_out_channels\": [\n    32,",
        "\"block_out_channels\": [\n    48,",
    );
    assert_ne!(cfg, tiny_config());
    let dir = folder_with(
        &tiny_weights(),
        &cfg.replace("\"norm_num_groups\": 8", "\"norm_num_groups\": 16"),
    );
    let e = load_err(dir.path());
    assert!(
        e.contains("conv_in.weight") && e.contains("[32, 3, 3, 3]") && e.contains("[48, 3, 3, 3]"),
        "{e}"
    );
}

/// A zip holding `archive/data.pkl` = `pickle` (stored, like torch.save).
fn write_torch_zip(path: &Path, pickle: &[u8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    z.start_file("archive/data.pkl", opts).unwrap();
    z.write_all(pickle).unwrap();
    z.finish().unwrap();
}

#[test]
fn the_bin_reader_refuses_code_and_unknown_opcodes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("evil.bin");
    // PROTO 2; GLOBAL posix.system; SHORT_BINUNICODE 'id'; TUPLE1; REDUCE; STOP
    let mut pk = vec![0x80, 2];
    pk.extend(b"cposix\nsystem\n");
    pk.extend([0x8c, 2]);
    pk.extend(b"id");
    pk.extend([0x85, b'R', b'.']);
    write_torch_zip(&p, &pk);
    let e = load_torch_bin(&p).unwrap_err().to_string();
    assert!(
        e.contains("evil.bin") && e.contains("refusing") && e.contains("posix.system"),
        "{e}"
    );

    // PROTO 2; EMPTY_DICT; INST opcode 'i' (old-style object creation) → refused
    write_torch_zip(&p, &[0x80, 2, b'}', b'i', b'.']);
    let e = load_torch_bin(&p).unwrap_err().to_string();
    assert!(e.contains("opcode 0x69"), "{e}");

    std::fs::write(&p, b"\x80\x02}q\x00.").unwrap(); // a bare pickle, not a zip
    let e = load_torch_bin(&p).unwrap_err().to_string();
    assert!(e.contains("not a PyTorch zip archive"), "{e}");
}

#[test]
fn the_bin_reader_matches_the_safetensors_copy_tensor_for_tensor() {
    let fx = common::fixtures_dir();
    let bin = load_torch_bin(&fx.join("unet_tiny_legacy_bin/diffusion_pytorch_model.bin")).unwrap();
    let st =
        Weights::load_safetensors(fx.join("unet_tiny_legacy/diffusion_pytorch_model.safetensors"))
            .unwrap();
    assert_eq!(bin.len(), st.len());
    for (k, t) in st.iter() {
        let b = &bin[k];
        assert_eq!(b.shape(), t.shape(), "{k}");
        assert_eq!(b.data(), t.data(), "{k}");
    }
}
