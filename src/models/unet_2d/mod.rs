//! diffusers' `UNet2DModel` on difflab's compute core (forward only), config-driven, so that
//! `google/ddpm-cifar10-32` and other unconditional diffusers U-Nets run natively.
//!
//! ```text
//! x ─ conv_in ─┬─ down block 0 ─┬─ … ─ down block k ─┬─ mid ─ up block 0 ─ … ─ up block k ─ norm·SiLU ─ conv_out ─ ε̂
//!              └────────────────┴──── skips ─────────┴────────▶ (concatenated, one per up ResNet)
//! t ─ sinusoidal ─ linear·SiLU·linear ─ temb (added inside every ResNet block)
//! ```
//!
//! **Layout.** difflab computes in NHWC: [`UNet2DModel::forward`] takes a sample `[n, h, w, c]`
//! and returns the prediction in the same layout. diffusers (and its fixtures) use NCHW:
//! [`UNet2DModel::forward_nchw`] converts on the way in and out. Timesteps are `f32` (integer
//! values for DDPM/DDIM models), one per sample or one for the whole batch.
//!
//! **Buffers.** Activations come from a pool owned by the model: after the first call for a
//! given batch and image size, a forward pass allocates nothing but the returned tensor
//! ([`UNet2DModel::forward_into`] writes into the caller's buffer and allocates nothing).

pub mod attention;
pub mod blocks;
pub mod config;
pub mod embeddings;
pub mod layers;
pub mod params;
pub mod profile;
pub mod resnet;
pub mod scratch;

pub use config::{SampleSize, UNet2DConfig};
pub use params::{FileParams, ParamSource, RandomParams};

use crate::models::NoisePredictor;
use crate::nn::conv::Padding;
use crate::nn::ops::silu_forward_inplace;
use crate::nn::{Device, Tensor};
use crate::{Error, Result};
use blocks::{AttnSettings, DownBlock, Feat, MidBlock, UpBlock};
use embeddings::{ClassEmbedding, TimeProjection, TimestepEmbedding};
use layers::{ConvLayer, GroupNormLayer, NormInput};
use resnet::{ResnetSettings, TimeScaleShift};
use scratch::Scratch;
use std::path::{Path, PathBuf};

/// The weight file names diffusers writes, in order of preference.
pub const WEIGHT_FILES: [&str; 2] = [
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
];

/// diffusers' `UNet2DModel`, inference only.
pub struct UNet2DModel {
    config: UNet2DConfig,
    conv_in: ConvLayer,
    time_proj: TimeProjection,
    time_embedding: TimestepEmbedding,
    class_embedding: Option<ClassEmbedding>,
    down_blocks: Vec<DownBlock>,
    mid_block: Option<MidBlock>,
    up_blocks: Vec<UpBlock>,
    conv_norm_out: GroupNormLayer,
    conv_out: ConvLayer,
    unused_weights: Vec<String>,
    scratch: Scratch,
    skips: Vec<Feat>,
}

impl UNet2DModel {
    /// Load a diffusers model folder: `config.json` plus `diffusion_pytorch_model.safetensors`
    /// (preferred) or `diffusion_pytorch_model.bin` (read without executing pickle code). A
    /// pipeline folder with the model in `unet/` also works. Errors name the file and the field
    /// or tensor at fault.
    pub fn from_pretrained(dir: impl AsRef<Path>, device: &Device) -> Result<Self> {
        let (config, weights) = locate_model_files(dir.as_ref())?;
        Self::from_files(&config, &weights, device)
    }

    /// Load from an explicit config.json and weights file.
    pub fn from_files(config_path: &Path, weights_path: &Path, _device: &Device) -> Result<Self> {
        let cfg = UNet2DConfig::from_file(config_path)?;
        let mut src = FileParams::load(weights_path)?;
        let mut model = Self::new(cfg, &mut src)?;
        model.unused_weights = src.unused_keys();
        Ok(model)
    }

    /// Seeded random weights with the architecture of `config` (benchmarks, tests).
    pub fn random(config: UNet2DConfig, seed: u64) -> Result<Self> {
        config.validate().map_err(Error::invalid)?;
        Self::new(config, &mut RandomParams::new(seed))
    }

    /// Build the network described by `cfg` (assumed validated) from `src`.
    pub fn new(cfg: UNet2DConfig, src: &mut dyn ParamSource) -> Result<Self> {
        let ch = &cfg.block_out_channels;
        let temb = cfg.time_embed_dim();
        let groups = cfg.norm_num_groups;
        let time = if cfg.resnet_time_scale_shift == "scale_shift" {
            TimeScaleShift::ScaleShift
        } else {
            TimeScaleShift::Default
        };
        let set = ResnetSettings {
            temb_dim: temb,
            groups,
            eps: cfg.norm_eps,
            time,
            output_scale: 1.0,
        };
        let mut conv_in = ConvLayer::load(
            src,
            "conv_in",
            cfg.in_channels,
            ch[0],
            3,
            1,
            Padding::same(3),
        )?;
        // Only when wide enough: with 3 input channels im2col is faster.
        conv_in.enable_winograd();
        let time_proj = TimeProjection::load(src, &cfg)?;
        let time_embedding =
            TimestepEmbedding::load(src, "time_embedding", cfg.timestep_input_dim(), temb)?;
        let class_embedding = ClassEmbedding::load(src, &cfg)?;

        let down_blocks = load_down_blocks(&cfg, src, &set)?;
        let mid_block = load_mid_block(&cfg, src, &set)?;
        let up_blocks = load_up_blocks(&cfg, src, &set)?;
        let conv_norm_out =
            GroupNormLayer::load(src, "conv_norm_out", ch[0], groups, cfg.norm_eps)?;
        let conv_out = ConvLayer::load(
            src,
            "conv_out",
            ch[0],
            cfg.out_channels,
            3,
            1,
            Padding::same(3),
        )?;
        Ok(UNet2DModel {
            config: cfg,
            conv_in,
            time_proj,
            time_embedding,
            class_embedding,
            down_blocks,
            mid_block,
            up_blocks,
            conv_norm_out,
            conv_out,
            unused_weights: Vec::new(),
            scratch: Scratch::new(),
            skips: Vec::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &UNet2DConfig {
        &self.config
    }

    /// Tensors of the weights file that this configuration did not use (diffusers ignores them
    /// with a warning; they usually mean the file and config.json do not belong together).
    pub fn unused_weights(&self) -> &[String] {
        &self.unused_weights
    }

    /// Number of parameters (as PyTorch's `sum(p.numel() for p in model.parameters())`).
    pub fn num_parameters(&self) -> usize {
        self.conv_in.num_params()
            + self.time_proj.num_params()
            + self.time_embedding.num_params()
            + self
                .class_embedding
                .as_ref()
                .map_or(0, ClassEmbedding::num_params)
            + self
                .down_blocks
                .iter()
                .map(DownBlock::num_params)
                .sum::<usize>()
            + self.mid_block.as_ref().map_or(0, MidBlock::num_params)
            + self
                .up_blocks
                .iter()
                .map(UpBlock::num_params)
                .sum::<usize>()
            + self.conv_norm_out.num_params()
            + self.conv_out.num_params()
    }

    /// Buffers the pool has allocated so far (constant once warmed up for a batch shape).
    pub fn scratch_allocations(&self) -> usize {
        self.scratch.allocations()
    }

    /// Predict for an NHWC batch `sample` `[n, h, w, in_channels]`; `timesteps` has `n` entries
    /// or one for the whole batch. Returns `[n, h, w, out_channels]`.
    pub fn forward(&mut self, sample: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.forward_with_classes(sample, timesteps, None)
    }

    /// [`Self::forward`] for a class-conditional model (`num_class_embeds` or
    /// `class_embed_type: timestep`): one class label per sample.
    pub fn forward_with_classes(
        &mut self,
        sample: &Tensor,
        timesteps: &[f32],
        class_labels: Option<&[usize]>,
    ) -> Result<Tensor> {
        let [n, h, w, _] = sample.dims4()?;
        let mut out = Tensor::zeros(vec![n, h, w, self.config.out_channels]);
        self.forward_into(
            sample.data(),
            n,
            h,
            w,
            timesteps,
            class_labels,
            out.data_mut(),
        )?;
        Ok(out)
    }

    /// The NCHW convenience: `sample` `[n, c, h, w]` as diffusers takes it, result `[n, c, h, w]`.
    pub fn forward_nchw(&mut self, sample: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.forward(&sample.nchw_to_nhwc()?, timesteps)?
            .nhwc_to_nchw()
    }

    /// The forward pass into a caller-provided NHWC buffer `out` (`n · h · w · out_channels`);
    /// allocates nothing once warmed up.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_into(
        &mut self,
        sample: &[f32],
        n: usize,
        h: usize,
        w: usize,
        timesteps: &[f32],
        class_labels: Option<&[usize]>,
        out: &mut [f32],
    ) -> Result<()> {
        self.check_inputs(sample.len(), n, h, w, timesteps, class_labels, out.len())?;

        // 1. time (and class) embedding; every ResNet applies SiLU to it first, so do it once.
        let mut ts = self.scratch.take(n);
        for (b, t) in ts.iter_mut().enumerate() {
            *t = timesteps[if timesteps.len() == 1 { 0 } else { b }];
        }
        let temb = self.embed_time(&ts, n, class_labels)?;

        // 2. conv_in (after centring the input if asked)
        let h0 = self.conv_in_forward(sample, n, h, w);
        let (cfg, s) = (&self.config, &mut self.scratch);
        let skips = &mut self.skips;
        skips.clear();
        skips.push(Feat {
            data: h0,
            h,
            w,
            c: cfg.block_out_channels[0],
        });

        // 3. down, 4. mid, 5. up
        for block in &self.down_blocks {
            block.forward(skips, n, &temb, s);
        }
        let mut cur = match &self.mid_block {
            Some(mid) => mid.forward(skips.last().expect("down outputs"), n, &temb, s),
            None => {
                let top = skips.last().expect("down outputs");
                let mut data = s.take(top.data.len());
                data.copy_from_slice(&top.data);
                Feat {
                    data,
                    h: top.h,
                    w: top.w,
                    c: top.c,
                }
            }
        };
        for block in &self.up_blocks {
            cur = block.forward(cur, skips, n, &temb, s);
        }
        debug_assert!(skips.is_empty());

        // 6. conv_norm_out → SiLU → conv_out
        let mut t = s.take(cur.data.len());
        let input = NormInput::One(&cur.data);
        self.conv_norm_out
            .forward_into(input, (n, h * w), &mut t, true, s);
        s.give(cur.data);
        self.conv_out.forward_into(&t, n, h, w, out, &mut s.conv);
        s.give(t);
        s.give(temb);

        if cfg.time_embedding_type == "fourier" {
            let per = h * w * cfg.out_channels;
            for (chunk, &t) in out.chunks_exact_mut(per).zip(ts.iter()) {
                chunk.iter_mut().for_each(|v| *v /= t);
            }
        }
        s.give(ts);
        Ok(())
    }

    /// `silu(temb)` for the timesteps `ts` (plus the class embedding of `class_labels`), in a
    /// pool buffer: every ResNet applies SiLU to the embedding first, so it is done once.
    fn embed_time(
        &mut self,
        ts: &[f32],
        n: usize,
        class_labels: Option<&[usize]>,
    ) -> Result<Vec<f32>> {
        let s = &mut self.scratch;
        let temb_dim = self.config.time_embed_dim();
        let mut tproj = s.take(n * self.time_proj.dim());
        self.time_proj.forward_into(ts, &mut tproj)?;
        let mut tmp = s.take(n * temb_dim);
        let mut temb = s.take(n * temb_dim);
        self.time_embedding
            .forward_into(&tproj, n, &mut tmp, &mut temb);
        if let (Some(ce), Some(labels)) = (&self.class_embedding, class_labels) {
            add_class_embedding(
                ce,
                &self.time_proj,
                labels,
                n,
                temb_dim,
                &mut tproj,
                &mut tmp,
                &mut temb,
                s,
            )?;
        }
        s.give(tmp);
        s.give(tproj);
        silu_forward_inplace(&mut temb);
        Ok(temb)
    }

    /// `conv_in` of `sample` (centred to `2·x − 1` first when the config asks), in a pool buffer.
    fn conv_in_forward(&mut self, sample: &[f32], n: usize, h: usize, w: usize) -> Vec<f32> {
        let s = &mut self.scratch;
        let c_in = self.config.in_channels;
        let x0 = if self.config.center_input_sample {
            let mut c = s.take(n * h * w * c_in);
            for (d, &v) in c.iter_mut().zip(sample) {
                *d = 2.0 * v - 1.0;
            }
            Some(c)
        } else {
            None
        };
        let (h0, _, _) = self
            .conv_in
            .forward(x0.as_deref().unwrap_or(sample), n, h, w, s);
        if let Some(c) = x0 {
            s.give(c);
        }
        h0
    }

    #[allow(clippy::too_many_arguments)]
    fn check_inputs(
        &self,
        len: usize,
        n: usize,
        h: usize,
        w: usize,
        timesteps: &[f32],
        class_labels: Option<&[usize]>,
        out_len: usize,
    ) -> Result<()> {
        let cfg = &self.config;
        if n == 0 || len != n * h * w * cfg.in_channels {
            return Err(Error::invalid(format!(
                "UNet2DModel: sample must be NHWC [n, h, w, {}] with n ≥ 1 ({} values for n={n}, h={h}, w={w})",
                cfg.in_channels, len
            )));
        }
        if out_len != n * h * w * cfg.out_channels {
            return Err(Error::invalid(format!(
                "UNet2DModel: output buffer has {out_len} values, expected {}",
                n * h * w * cfg.out_channels
            )));
        }
        let downs = self.down_blocks.len() - 1;
        let m = 1usize << downs;
        if h == 0 || w == 0 || !h.is_multiple_of(m) || !w.is_multiple_of(m) {
            return Err(Error::invalid(format!(
                "UNet2DModel: a {h}×{w} sample cannot pass {downs} downsamplings and come back: height and width must be positive multiples of {m}"
            )));
        }
        if timesteps.len() != 1 && timesteps.len() != n {
            return Err(Error::invalid(format!(
                "UNet2DModel: {} timesteps for a batch of {n} (give one per sample, or one for all)",
                timesteps.len()
            )));
        }
        if let Some(t) = timesteps.iter().find(|t| !t.is_finite()) {
            return Err(Error::invalid(format!(
                "UNet2DModel: timestep {t} is not finite"
            )));
        }
        match (&self.class_embedding, class_labels) {
            (Some(_), None) => Err(Error::invalid(
                "UNet2DModel: this model is class-conditional: pass class labels (forward_with_classes)",
            )),
            (None, Some(_)) => Err(Error::invalid("UNet2DModel: class labels given, but the model has no class embedding")),
            (Some(_), Some(l)) if l.len() != n => {
                Err(Error::invalid(format!("UNet2DModel: {} class labels for a batch of {n}", l.len())))
            }
            _ => Ok(()),
        }
    }
}

/// `temb += class_embedding(labels)`; `tproj`/`tmp` are free scratch of the right sizes.
#[allow(clippy::too_many_arguments)]
fn add_class_embedding(
    ce: &ClassEmbedding,
    time_proj: &TimeProjection,
    labels: &[usize],
    n: usize,
    dim: usize,
    tproj: &mut [f32],
    tmp: &mut [f32],
    temb: &mut [f32],
    s: &mut Scratch,
) -> Result<()> {
    match ce {
        ClassEmbedding::Table { table, dim } => {
            let k = table.len() / dim;
            for (row, &l) in temb.chunks_exact_mut(*dim).zip(labels) {
                if l >= k {
                    return Err(Error::invalid(format!(
                        "class label {l} is out of range (the model has {k} classes)"
                    )));
                }
                for (v, &e) in row.iter_mut().zip(&table[l * dim..(l + 1) * dim]) {
                    *v += e;
                }
            }
        }
        ClassEmbedding::Timestep(mlp) => {
            let mut lf = s.take(n);
            for (d, &l) in lf.iter_mut().zip(labels) {
                *d = l as f32;
            }
            time_proj.forward_into(&lf, tproj)?;
            s.give(lf);
            let mut e = s.take(n * dim);
            mlp.forward_into(tproj, n, tmp, &mut e);
            for (v, &x) in temb.iter_mut().zip(&e) {
                *v += x;
            }
            s.give(e);
        }
    }
    Ok(())
}

/// Find `config.json` and the weights in a model folder (or its `unet/` subfolder).
pub fn locate_model_files(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    if !dir.is_dir() {
        return Err(Error::file(dir, "model folder not found"));
    }
    let dir =
        if !dir.join("config.json").is_file() && dir.join("unet").join("config.json").is_file() {
            dir.join("unet")
        } else {
            dir.to_path_buf()
        };
    let config = dir.join("config.json");
    if !config.is_file() {
        return Err(Error::file(
            &config,
            "config.json not found: is this a diffusers UNet2DModel folder?",
        ));
    }
    match WEIGHT_FILES
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file())
    {
        Some(weights) => Ok((config, weights)),
        None => Err(Error::file(
            &dir,
            format!(
                "no weights: expected {} or {} in this folder",
                WEIGHT_FILES[0], WEIGHT_FILES[1]
            ),
        )),
    }
}

impl NoisePredictor for UNet2DModel {
    fn predict(&mut self, x: &Tensor, timesteps: &[f32]) -> Result<Tensor> {
        self.forward(x, timesteps)
    }
}

/// The down blocks of `cfg`, loaded in order from `src`.
fn load_down_blocks(
    cfg: &UNet2DConfig,
    src: &mut dyn ParamSource,
    set: &ResnetSettings,
) -> Result<Vec<DownBlock>> {
    let ch = &cfg.block_out_channels;
    let nb = ch.len();
    let mut down_blocks = Vec::with_capacity(nb);
    for (i, kind) in cfg.down_block_types.iter().enumerate() {
        let cin = if i == 0 { ch[0] } else { ch[i - 1] };
        let last = i == nb - 1;
        let is_attn = kind == "AttnDownBlock2D";
        let attn = is_attn.then(|| AttnSettings {
            head_dim: cfg.head_dim(ch[i]),
            groups: Some(cfg.norm_num_groups),
        });
        let down = (!last).then_some(is_attn && cfg.downsample_type == "resnet");
        let name = format!("down_blocks.{i}");
        down_blocks.push(DownBlock::load(
            src,
            &name,
            cfg.layers_per_block,
            cin,
            ch[i],
            set,
            attn,
            down,
            cfg.downsample_padding,
        )?);
    }
    Ok(down_blocks)
}

/// The mid block of `cfg` (if it has one) from `src`.
fn load_mid_block(
    cfg: &UNet2DConfig,
    src: &mut dyn ParamSource,
    set: &ResnetSettings,
) -> Result<Option<MidBlock>> {
    if cfg.mid_block_type.is_none() {
        return Ok(None);
    }
    let c = cfg.block_out_channels[cfg.block_out_channels.len() - 1];
    let mid_set = ResnetSettings {
        output_scale: cfg.mid_block_scale_factor as f32,
        ..*set
    };
    let attn = cfg.add_attention.then(|| AttnSettings {
        head_dim: cfg.head_dim(c),
        groups: cfg.mid_attn_groups(),
    });
    Ok(Some(MidBlock::load(src, c, &mid_set, attn)?))
}

/// The up blocks of `cfg`, loaded in order from `src`.
fn load_up_blocks(
    cfg: &UNet2DConfig,
    src: &mut dyn ParamSource,
    set: &ResnetSettings,
) -> Result<Vec<UpBlock>> {
    let rev: Vec<usize> = cfg.block_out_channels.iter().rev().copied().collect();
    let nb = rev.len();
    let mut up_blocks = Vec::with_capacity(nb);
    for (i, kind) in cfg.up_block_types.iter().enumerate() {
        let prev = if i == 0 { rev[0] } else { rev[i - 1] };
        let skip_last = rev[(i + 1).min(nb - 1)];
        let last = i == nb - 1;
        let is_attn = kind == "AttnUpBlock2D";
        let attn = is_attn.then(|| AttnSettings {
            head_dim: cfg.head_dim(rev[i]),
            groups: Some(cfg.norm_num_groups),
        });
        let up = (!last).then_some(is_attn && cfg.upsample_type == "resnet");
        let name = format!("up_blocks.{i}");
        up_blocks.push(UpBlock::load(
            src,
            &name,
            cfg.layers_per_block + 1,
            prev,
            rev[i],
            skip_last,
            set,
            attn,
            up,
        )?);
    }
    Ok(up_blocks)
}
