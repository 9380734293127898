//! `UNet2DConfig`: diffusers' `UNet2DModel` config.json, field for field.
//!
//! Every field takes diffusers' default when absent (the 2022 checkpoints lack many of them), and
//! unknown fields are ignored. A field of the wrong type is reported by name, together with the
//! file. [`UNet2DConfig::validate`] then checks the combinations difflab can run, so that a bad
//! config fails at load time with a message rather than deep inside the forward pass.

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `sample_size`: an int (square) or `[height, width]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SampleSize {
    /// Height and width are equal.
    Square(usize),
    /// `[height, width]`.
    Rect([usize; 2]),
}

impl SampleSize {
    /// `(height, width)`.
    pub fn hw(&self) -> (usize, usize) {
        match *self {
            SampleSize::Square(s) => (s, s),
            SampleSize::Rect([h, w]) => (h, w),
        }
    }
}

/// diffusers' `UNet2DModel` configuration (its `config.json`). Field names and defaults are
/// diffusers' own; see `diffusers/models/unets/unet_2d.py`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UNet2DConfig {
    /// `_class_name`, kept to reject configs of other model classes.
    #[serde(rename = "_class_name")]
    pub class_name: Option<String>,
    /// Height and width of the samples the model was trained on.
    pub sample_size: Option<SampleSize>,
    /// Channels of the input sample.
    pub in_channels: usize,
    /// Channels of the output.
    pub out_channels: usize,
    /// Map the input from [0, 1] to [−1, 1] first (`2x − 1`).
    pub center_input_sample: bool,
    /// `positional` (sinusoidal), `fourier` (Gaussian Fourier features of log σ) or `learned`.
    pub time_embedding_type: String,
    /// Width of the time embedding; `block_out_channels[0] * 4` when null.
    pub time_embedding_dim: Option<usize>,
    /// `downscale_freq_shift` of the sinusoidal embedding (1 in the original DDPM code).
    pub freq_shift: f64,
    /// Order the sinusoidal embedding as `[cos, sin]` instead of `[sin, cos]`.
    pub flip_sin_to_cos: bool,
    /// Down blocks, first (highest resolution) to last.
    pub down_block_types: Vec<String>,
    /// `UNetMidBlock2D`, or null for no mid block.
    pub mid_block_type: Option<String>,
    /// Up blocks, first (lowest resolution) to last.
    pub up_block_types: Vec<String>,
    /// Output channels of each down block (reversed for the up blocks).
    pub block_out_channels: Vec<usize>,
    /// ResNet layers per down block (up blocks have one more).
    pub layers_per_block: usize,
    /// `output_scale_factor` of the mid block's ResNets and attention.
    pub mid_block_scale_factor: f64,
    /// 0: pad right/bottom by one then a 3×3 stride-2 conv; 1: symmetric padding of one.
    pub downsample_padding: usize,
    /// `conv` or `resnet` (a ResNet block with 2×2 average pooling), for `AttnDownBlock2D`.
    pub downsample_type: String,
    /// `conv` or `resnet` (a ResNet block with nearest ×2 upsampling), for `AttnUpBlock2D`.
    pub upsample_type: String,
    /// Training-time dropout; irrelevant for inference.
    pub dropout: f64,
    /// Activation of the ResNet blocks (`silu`/`swish`).
    pub act_fn: String,
    /// Channels per attention head; null means one head over all channels of the block.
    pub attention_head_dim: Option<usize>,
    /// Groups of every GroupNorm.
    pub norm_num_groups: usize,
    /// Groups of the mid block's attention GroupNorm (default: see [`Self::mid_attn_groups`]).
    pub attn_norm_num_groups: Option<usize>,
    /// Epsilon of every GroupNorm.
    pub norm_eps: f64,
    /// `default` (add the time projection) or `scale_shift` (FiLM after the second norm).
    pub resnet_time_scale_shift: String,
    /// Attention in the mid block.
    pub add_attention: bool,
    /// `null` (a learned table when `num_class_embeds` is set), `timestep` or `identity`.
    pub class_embed_type: Option<String>,
    /// Number of classes of the class-embedding table.
    pub num_class_embeds: Option<usize>,
    /// Size of the `learned` time-embedding table.
    pub num_train_timesteps: Option<usize>,
}

impl Default for UNet2DConfig {
    fn default() -> Self {
        let s = |v: &str| v.to_string();
        UNet2DConfig {
            class_name: None,
            sample_size: None,
            in_channels: 3,
            out_channels: 3,
            center_input_sample: false,
            time_embedding_type: s("positional"),
            time_embedding_dim: None,
            freq_shift: 0.0,
            flip_sin_to_cos: true,
            down_block_types: [
                "DownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
                "AttnDownBlock2D",
            ]
            .map(s)
            .to_vec(),
            mid_block_type: Some(s("UNetMidBlock2D")),
            up_block_types: [
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "AttnUpBlock2D",
                "UpBlock2D",
            ]
            .map(s)
            .to_vec(),
            block_out_channels: vec![224, 448, 672, 896],
            layers_per_block: 2,
            mid_block_scale_factor: 1.0,
            downsample_padding: 1,
            downsample_type: s("conv"),
            upsample_type: s("conv"),
            dropout: 0.0,
            act_fn: s("silu"),
            attention_head_dim: Some(8),
            norm_num_groups: 32,
            attn_norm_num_groups: None,
            norm_eps: 1e-5,
            resnet_time_scale_shift: s("default"),
            add_attention: true,
            class_embed_type: None,
            num_class_embeds: None,
            num_train_timesteps: None,
        }
    }
}

impl UNet2DConfig {
    /// The exact config of `google/ddpm-cifar10-32` (35.7M parameters), for benchmarks and tests
    /// that need the real architecture without its weights.
    pub fn ddpm_cifar10_32() -> Self {
        let s = |v: &str| v.to_string();
        UNet2DConfig {
            class_name: Some(s("UNet2DModel")),
            sample_size: Some(SampleSize::Square(32)),
            in_channels: 3,
            out_channels: 3,
            attention_head_dim: None,
            block_out_channels: vec![128, 256, 256, 256],
            down_block_types: [
                "DownBlock2D",
                "AttnDownBlock2D",
                "DownBlock2D",
                "DownBlock2D",
            ]
            .map(s)
            .to_vec(),
            up_block_types: ["UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"]
                .map(s)
                .to_vec(),
            downsample_padding: 0,
            flip_sin_to_cos: false,
            freq_shift: 1.0,
            layers_per_block: 2,
            mid_block_scale_factor: 1.0,
            norm_eps: 1e-6,
            norm_num_groups: 32,
            ..UNet2DConfig::default()
        }
    }

    /// Parse config.json text; `path` only names the file in errors. Validates the result.
    pub fn from_json_str(text: &str, path: &Path) -> Result<Self> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::file(path, format!("not valid JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| Error::file(path, "expected a JSON object of UNet2DModel settings"))?;
        let cfg: UNet2DConfig = match serde_json::from_value(value.clone()) {
            Ok(cfg) => cfg,
            Err(e) => return Err(Error::file(path, blame_field(obj, e))),
        };
        cfg.validate().map_err(|msg| Error::file(path, msg))?;
        Ok(cfg)
    }

    /// Read and validate a config.json file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    /// Width of the time embedding (`time_embedding_dim`, else `4 · block_out_channels[0]`).
    pub fn time_embed_dim(&self) -> usize {
        self.time_embedding_dim
            .unwrap_or(self.block_out_channels[0] * 4)
    }

    /// Width of the time projection fed to the time MLP (twice the base width for `fourier`).
    pub fn timestep_input_dim(&self) -> usize {
        match self.time_embedding_type.as_str() {
            "fourier" => 2 * self.block_out_channels[0],
            _ => self.block_out_channels[0],
        }
    }

    /// Channels per head in a block of `channels` channels (the whole block when null).
    pub fn head_dim(&self, channels: usize) -> usize {
        self.attention_head_dim.unwrap_or(channels)
    }

    /// Groups of the mid block's attention norm: `attn_norm_num_groups`, else `norm_num_groups`
    /// with `default` time scaling and no norm at all with `scale_shift` (diffusers' rule).
    pub fn mid_attn_groups(&self) -> Option<usize> {
        match self.attn_norm_num_groups {
            Some(g) => Some(g),
            None if self.resnet_time_scale_shift == "default" => Some(self.norm_num_groups),
            None => None,
        }
    }

    /// Check that difflab can run this config; the message names the offending field.
    pub fn validate(&self) -> std::result::Result<(), String> {
        self.validate_blocks()?;
        self.validate_options()?;
        self.validate_widths()
    }

    /// The class name, the block lists and their kinds.
    fn validate_blocks(&self) -> std::result::Result<(), String> {
        if let Some(name) = &self.class_name {
            if name != "UNet2DModel" {
                return Err(format!(
                    "_class_name is '{name}', but difflab only runs UNet2DModel"
                ));
            }
        }
        let n = self.block_out_channels.len();
        if n == 0 {
            return Err("block_out_channels is empty".into());
        }
        if self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err(format!(
                "block_out_channels has {n} entries but down_block_types has {} and up_block_types {}; all three must match",
                self.down_block_types.len(),
                self.up_block_types.len()
            ));
        }
        for t in &self.down_block_types {
            if !matches!(t.as_str(), "DownBlock2D" | "AttnDownBlock2D") {
                return Err(format!(
                    "down_block_types: '{t}' is not supported (difflab runs DownBlock2D and AttnDownBlock2D)"
                ));
            }
        }
        for t in &self.up_block_types {
            if !matches!(t.as_str(), "UpBlock2D" | "AttnUpBlock2D") {
                return Err(format!(
                    "up_block_types: '{t}' is not supported (difflab runs UpBlock2D and AttnUpBlock2D)"
                ));
            }
        }
        if let Some(m) = &self.mid_block_type {
            if m != "UNetMidBlock2D" {
                return Err(format!(
                    "mid_block_type: '{m}' is not supported (only UNetMidBlock2D or null)"
                ));
            }
        }
        Ok(())
    }

    /// The embedding, activation, resampling and scalar options.
    fn validate_options(&self) -> std::result::Result<(), String> {
        if !matches!(
            self.time_embedding_type.as_str(),
            "positional" | "fourier" | "learned"
        ) {
            return Err(format!(
                "time_embedding_type: '{}' is not one of positional, fourier, learned",
                self.time_embedding_type
            ));
        }
        if self.time_embedding_type == "learned" && self.num_train_timesteps.is_none() {
            return Err("time_embedding_type 'learned' needs num_train_timesteps".into());
        }
        if !matches!(self.act_fn.as_str(), "silu" | "swish") {
            return Err(format!(
                "act_fn: '{}' is not supported (only silu/swish)",
                self.act_fn
            ));
        }
        if !matches!(
            self.resnet_time_scale_shift.as_str(),
            "default" | "scale_shift"
        ) {
            return Err(format!(
                "resnet_time_scale_shift: '{}' is not supported (default or scale_shift)",
                self.resnet_time_scale_shift
            ));
        }
        for (field, v) in [
            ("downsample_type", &self.downsample_type),
            ("upsample_type", &self.upsample_type),
        ] {
            if !matches!(v.as_str(), "conv" | "resnet") {
                return Err(format!("{field}: '{v}' is not one of conv, resnet"));
            }
        }
        if self.downsample_padding > 1 {
            return Err(format!(
                "downsample_padding: {} is not supported (0 or 1)",
                self.downsample_padding
            ));
        }
        match self.class_embed_type.as_deref() {
            None | Some("timestep") => {}
            Some(other) => {
                return Err(format!("class_embed_type: '{other}' is not supported (null with num_class_embeds, or timestep)"))
            }
        }
        if self.layers_per_block == 0 {
            return Err("layers_per_block must be at least 1".into());
        }
        if self.norm_eps.is_nan() || self.norm_eps <= 0.0 {
            return Err(format!("norm_eps must be positive, got {}", self.norm_eps));
        }
        if self.mid_block_scale_factor == 0.0 {
            return Err("mid_block_scale_factor must not be 0".into());
        }
        Ok(())
    }

    /// That the GroupNorm groups and attention heads divide every channel count they meet.
    fn validate_widths(&self) -> std::result::Result<(), String> {
        let n = self.block_out_channels.len();
        let g = self.norm_num_groups;
        if g == 0 {
            return Err("norm_num_groups must be at least 1".into());
        }
        // Every GroupNorm sees one of these channel counts (concatenations included).
        let mut widths: Vec<usize> = self.block_out_channels.clone();
        let rev: Vec<usize> = self.block_out_channels.iter().rev().copied().collect();
        for i in 0..n {
            let prev = if i == 0 { rev[0] } else { rev[i - 1] };
            let skip_in = rev[(i + 1).min(n - 1)];
            widths.extend([prev + rev[i], rev[i] + rev[i], rev[i] + skip_in]);
        }
        for &c in &widths {
            if c == 0 {
                return Err("block_out_channels must be positive".into());
            }
            if c % g != 0 {
                return Err(format!(
                    "norm_num_groups: {g} does not divide {c} channels (block_out_channels {:?})",
                    self.block_out_channels
                ));
            }
        }
        if let Some(ag) = self.mid_attn_groups() {
            if ag == 0 || !rev[0].is_multiple_of(ag) {
                return Err(format!(
                    "attn_norm_num_groups: {ag} does not divide {} channels",
                    rev[0]
                ));
            }
        }
        if let Some(d) = self.attention_head_dim {
            if d == 0 {
                return Err("attention_head_dim must be positive".into());
            }
            for (i, &c) in self.block_out_channels.iter().enumerate() {
                let attn = self.down_block_types[i].starts_with("Attn")
                    || self.up_block_types[n - 1 - i].starts_with("Attn")
                    || (i == n - 1 && self.mid_block_type.is_some() && self.add_attention);
                if attn && c % d != 0 {
                    return Err(format!(
                        "attention_head_dim: {d} does not divide the {c} channels of block {i}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// serde's message does not name the field of a wrong type: find it by deserialising one field
/// at a time (all fields have defaults, so a one-entry object fails only for a bad value).
fn blame_field(obj: &serde_json::Map<String, serde_json::Value>, err: serde_json::Error) -> String {
    for (key, value) in obj {
        let mut one = serde_json::Map::new();
        one.insert(key.clone(), value.clone());
        if let Err(e) = serde_json::from_value::<UNet2DConfig>(serde_json::Value::Object(one)) {
            return format!("field `{key}`: {e}");
        }
    }
    format!("{err}")
}
