//! Time (and class) conditioning: the timestep projection (`time_proj`), the time MLP
//! (`time_embedding`: linear_1 → SiLU → linear_2) and the optional class embedding.
//! See `diffusers/models/embeddings.py` (`Timesteps`, `GaussianFourierProjection`,
//! `TimestepEmbedding`).

use super::config::UNet2DConfig;
use super::layers::LinearLayer;
use super::params::ParamSource;
use crate::nn::ops::{silu_forward_inplace, timestep_embedding};
use crate::{Error, Result};

/// `time_proj`: timesteps `[n]` → features `[n, dim]`.
pub enum TimeProjection {
    /// Sinusoidal features (`get_timestep_embedding`, max period 10000).
    Positional {
        /// Output width.
        dim: usize,
        /// `[cos, sin]` order instead of `[sin, cos]`.
        flip_sin_to_cos: bool,
        /// `downscale_freq_shift`.
        freq_shift: f32,
    },
    /// Gaussian Fourier features of `ln t`: `[sin(2π·ln t·w), cos(2π·ln t·w)]` (score-SDE models,
    /// whose "timesteps" are noise levels σ > 0).
    Fourier {
        /// The fixed random frequencies `w` (`time_proj.weight`).
        w: Vec<f32>,
    },
    /// A learned table indexed by the integer timestep.
    Learned {
        /// `[num_train_timesteps, dim]`.
        table: Vec<f32>,
        /// Output width.
        dim: usize,
    },
}

impl TimeProjection {
    /// Build from the config (loading `time_proj.weight` for `fourier` and `learned`).
    pub fn load(src: &mut dyn ParamSource, cfg: &UNet2DConfig) -> Result<Self> {
        let c0 = cfg.block_out_channels[0];
        Ok(match cfg.time_embedding_type.as_str() {
            "fourier" => {
                let name = if src.contains("time_proj.W") {
                    "time_proj.W"
                } else {
                    "time_proj.weight"
                };
                TimeProjection::Fourier {
                    w: src.take(name, &[c0])?,
                }
            }
            "learned" => {
                let t = cfg.num_train_timesteps.unwrap_or(0);
                TimeProjection::Learned {
                    table: src.take("time_proj.weight", &[t, c0])?,
                    dim: c0,
                }
            }
            _ => TimeProjection::Positional {
                dim: c0,
                flip_sin_to_cos: cfg.flip_sin_to_cos,
                freq_shift: cfg.freq_shift as f32,
            },
        })
    }

    /// Output width.
    pub fn dim(&self) -> usize {
        match self {
            TimeProjection::Positional { dim, .. } | TimeProjection::Learned { dim, .. } => *dim,
            TimeProjection::Fourier { w } => 2 * w.len(),
        }
    }

    /// `out[n, dim]` for timesteps `t[n]`.
    pub fn forward_into(&self, t: &[f32], out: &mut [f32]) -> Result<()> {
        match self {
            TimeProjection::Positional {
                dim,
                flip_sin_to_cos,
                freq_shift,
            } => {
                timestep_embedding(t, *dim, 10000.0, *flip_sin_to_cos, *freq_shift, out);
            }
            TimeProjection::Fourier { w } => {
                let half = w.len();
                for (row, &tb) in out.chunks_exact_mut(2 * half).zip(t) {
                    if tb.is_nan() || tb <= 0.0 {
                        return Err(Error::invalid(format!(
                            "a Fourier-embedding model takes noise levels σ > 0 as timesteps, got {tb}"
                        )));
                    }
                    let x = tb.ln();
                    for (i, &wi) in w.iter().enumerate() {
                        let arg = x * wi * 2.0 * std::f32::consts::PI;
                        row[i] = arg.sin();
                        row[half + i] = arg.cos();
                    }
                }
            }
            TimeProjection::Learned { table, dim } => {
                let rows = table.len() / dim;
                for (row, &tb) in out.chunks_exact_mut(*dim).zip(t) {
                    let i = tb as usize;
                    if tb < 0.0 || tb.fract() != 0.0 || i >= rows {
                        return Err(Error::invalid(format!(
                            "timestep {tb} is not an integer in 0..{rows} (learned time embedding)"
                        )));
                    }
                    row.copy_from_slice(&table[i * dim..(i + 1) * dim]);
                }
            }
        }
        Ok(())
    }

    /// Number of parameters (the Fourier frequencies are a buffer-like parameter in diffusers).
    pub fn num_params(&self) -> usize {
        match self {
            TimeProjection::Positional { .. } => 0,
            TimeProjection::Fourier { w } => w.len(),
            TimeProjection::Learned { table, .. } => table.len(),
        }
    }
}

/// `TimestepEmbedding`: `linear_2(silu(linear_1(x)))`.
pub struct TimestepEmbedding {
    linear_1: LinearLayer,
    linear_2: LinearLayer,
}

impl TimestepEmbedding {
    /// Load `{name}.linear_1` (`in → dim`) and `{name}.linear_2` (`dim → dim`).
    pub fn load(src: &mut dyn ParamSource, name: &str, in_f: usize, dim: usize) -> Result<Self> {
        Ok(TimestepEmbedding {
            linear_1: LinearLayer::load(src, &format!("{name}.linear_1"), in_f, dim)?,
            linear_2: LinearLayer::load(src, &format!("{name}.linear_2"), dim, dim)?,
        })
    }

    /// `x[n, in]` → `out[n, dim]`; `tmp` holds `n · dim` values.
    pub fn forward_into(&self, x: &[f32], n: usize, tmp: &mut [f32], out: &mut [f32]) {
        self.linear_1.forward_into(x, n, tmp);
        silu_forward_inplace(tmp);
        self.linear_2.forward_into(tmp, n, out);
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.linear_1.num_params() + self.linear_2.num_params()
    }
}

/// The optional class conditioning, summed with the time embedding.
pub enum ClassEmbedding {
    /// `nn.Embedding(num_class_embeds, time_embed_dim)` (`class_embed_type` null).
    Table {
        /// `[num_classes, dim]`.
        table: Vec<f32>,
        /// Embedding width.
        dim: usize,
    },
    /// Class labels embedded like timesteps, through their own MLP (`class_embed_type: timestep`).
    Timestep(TimestepEmbedding),
}

impl ClassEmbedding {
    /// Build from the config; `None` for an unconditional model.
    pub fn load(src: &mut dyn ParamSource, cfg: &UNet2DConfig) -> Result<Option<Self>> {
        let dim = cfg.time_embed_dim();
        Ok(
            match (cfg.class_embed_type.as_deref(), cfg.num_class_embeds) {
                (None, Some(k)) => Some(ClassEmbedding::Table {
                    table: src.take("class_embedding.weight", &[k, dim])?,
                    dim,
                }),
                (Some("timestep"), _) => Some(ClassEmbedding::Timestep(TimestepEmbedding::load(
                    src,
                    "class_embedding",
                    cfg.timestep_input_dim(),
                    dim,
                )?)),
                _ => None,
            },
        )
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            ClassEmbedding::Table { table, .. } => table.len(),
            ClassEmbedding::Timestep(m) => m.num_params(),
        }
    }
}
