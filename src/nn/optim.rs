//! Optimisers over one flat parameter buffer: Adam / AdamW with bias correction in a single fused
//! pass, and an exponential moving average (EMA) of the weights.
//!
//! Models keep all their parameters in one `Vec<f32>` and their gradients in another aligned
//! with it, so a step is one streaming pass over four arrays, split into fixed chunks over
//! rayon's threads (elementwise, hence bit-identical whatever the thread count).

use crate::{Error, Result};
use rayon::prelude::*;

/// Values per rayon task.
const CHUNK: usize = 1 << 14;

/// Adam's hyper-parameters. `weight_decay` is decoupled (AdamW) when `decoupled`, otherwise it is
/// L2 regularisation added to the gradient (PyTorch's `Adam(weight_decay=…)`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamConfig {
    /// Learning rate α.
    pub lr: f32,
    /// Decay of the first moment, β₁.
    pub beta1: f32,
    /// Decay of the second moment, β₂.
    pub beta2: f32,
    /// ε added to √v̂.
    pub eps: f32,
    /// Weight decay λ (0 = none).
    pub weight_decay: f32,
    /// AdamW's decoupled decay `θ ← θ − α·λ·θ` instead of `g ← g + λ·θ`.
    pub decoupled: bool,
}

impl AdamConfig {
    /// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8) and learning rate `lr`.
    pub fn adam(lr: f32) -> Self {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled: false,
        }
    }
    /// AdamW with PyTorch's defaults and the given learning rate and decoupled weight decay.
    pub fn adamw(lr: f32, weight_decay: f32) -> Self {
        AdamConfig {
            weight_decay,
            decoupled: true,
            ..Self::adam(lr)
        }
    }
}

/// Adam / AdamW state for one flat parameter buffer.
///
/// Step `t` (from 1): `g ← ∇ (+ λθ unless decoupled)`, `m ← β₁m + (1−β₁)g`,
/// `v ← β₂v + (1−β₂)g²`, `θ ← θ − α·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε) (− α·λ·θ if decoupled)`,
/// which is PyTorch's `torch.optim.Adam`/`AdamW` update.
#[derive(Clone, Debug)]
pub struct Adam {
    /// The hyper-parameters (the learning rate may be changed between steps).
    pub cfg: AdamConfig,
    /// First moments, aligned with the parameters.
    pub m: Vec<f32>,
    /// Second moments, aligned with the parameters.
    pub v: Vec<f32>,
    /// Steps taken so far.
    pub t: u64,
}

impl Adam {
    /// Fresh state (zero moments) for `n` parameters.
    pub fn new(cfg: AdamConfig, n: usize) -> Self {
        Adam {
            cfg,
            m: vec![0.0; n],
            v: vec![0.0; n],
            t: 0,
        }
    }

    /// Restore a saved state; the moment vectors must have the same length.
    pub fn from_state(cfg: AdamConfig, m: Vec<f32>, v: Vec<f32>, t: u64) -> Result<Self> {
        if m.len() != v.len() {
            return Err(Error::invalid(format!(
                "Adam state: first moments have {} values, second moments {}",
                m.len(),
                v.len()
            )));
        }
        Ok(Adam { cfg, m, v, t })
    }

    /// One update of `params` from `grads` (both as long as the state), in one fused pass.
    pub fn step(&mut self, params: &mut [f32], grads: &[f32]) {
        assert!(
            params.len() == self.m.len() && grads.len() == self.m.len(),
            "Adam::step: {} parameters and {} gradients for a state of {}",
            params.len(),
            grads.len(),
            self.m.len()
        );
        self.t += 1;
        let c = self.cfg;
        let bc1 = 1.0 - (c.beta1 as f64).powi(self.t.min(i32::MAX as u64) as i32);
        let bc2 = 1.0 - (c.beta2 as f64).powi(self.t.min(i32::MAX as u64) as i32);
        let step_size = (c.lr as f64 / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        let wd = c.weight_decay;
        let (l2, decay) = if c.decoupled {
            (0.0, 1.0 - c.lr * wd)
        } else {
            (wd, 1.0)
        };
        params
            .par_chunks_mut(CHUNK)
            .zip(grads.par_chunks(CHUNK))
            .zip(self.m.par_chunks_mut(CHUNK))
            .zip(self.v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                for i in 0..p.len() {
                    let gi = g[i] + l2 * p[i];
                    let mi = c.beta1 * m[i] + (1.0 - c.beta1) * gi;
                    let vi = c.beta2 * v[i] + (1.0 - c.beta2) * gi * gi;
                    m[i] = mi;
                    v[i] = vi;
                    p[i] = p[i] * decay - step_size * mi / (vi.sqrt() * inv_sqrt_bc2 + c.eps);
                }
            });
    }
}

/// An exponential moving average of the weights: `θ̄ ← d·θ̄ + (1 − d)·θ` after every step.
#[derive(Clone, Debug)]
pub struct Ema {
    /// The decay `d` (e.g. 0.999).
    pub decay: f32,
    /// The averaged weights, aligned with the model's flat parameter buffer.
    pub shadow: Vec<f32>,
    /// Updates so far.
    pub updates: u64,
}

impl Ema {
    /// Start the average at the current weights.
    pub fn new(params: &[f32], decay: f32) -> Self {
        Ema {
            decay,
            shadow: params.to_vec(),
            updates: 0,
        }
    }

    /// Fold the current weights into the average.
    pub fn update(&mut self, params: &[f32]) {
        assert_eq!(
            params.len(),
            self.shadow.len(),
            "Ema::update: parameter count changed"
        );
        let d = self.decay;
        self.shadow
            .par_chunks_mut(CHUNK)
            .zip(params.par_chunks(CHUNK))
            .for_each(|(s, p)| {
                for (s, &p) in s.iter_mut().zip(p) {
                    *s = d * *s + (1.0 - d) * p;
                }
            });
        self.updates += 1;
    }

    /// The averaged weights.
    pub fn weights(&self) -> &[f32] {
        &self.shadow
    }
}
