//! Reusable activation buffers for the forward pass.
//!
//! Every forward pass asks for buffers in the same order and with the same sizes (for a given
//! batch and image size), so a pool of returned buffers serves every request after the first
//! pass: the U-Net allocates during warm-up and never again while sampling.

use crate::nn::conv::Workspace;

/// A pool of f32 buffers plus the kernels' scratch.
#[derive(Default)]
pub struct Scratch {
    free: Vec<Vec<f32>>,
    /// Scratch of the convolution kernels (im2col blocks).
    pub conv: Workspace,
    /// GroupNorm statistics (mean and 1/σ per sample and group; not needed after the pass).
    pub stats: Vec<f32>,
    /// Scratch of the attention kernel (score matrices).
    pub attn: Workspace,
    allocations: usize,
}

impl Scratch {
    /// An empty pool.
    pub fn new() -> Self {
        Scratch {
            conv: Workspace::new(),
            attn: Workspace::new(),
            ..Default::default()
        }
    }

    /// A buffer of exactly `len` values (contents unspecified: callers overwrite it). Reuses the
    /// smallest free buffer that is large enough; allocates only when none is.
    pub fn take(&mut self, len: usize) -> Vec<f32> {
        let mut best: Option<usize> = None;
        for (i, v) in self.free.iter().enumerate() {
            if v.capacity() >= len && best.is_none_or(|b| v.capacity() < self.free[b].capacity()) {
                best = Some(i);
            }
        }
        let mut v = match best {
            Some(i) => self.free.swap_remove(i),
            None => {
                self.allocations += 1;
                Vec::with_capacity(len)
            }
        };
        if v.len() >= len {
            v.truncate(len);
        } else {
            v.resize(len, 0.0);
        }
        v
    }

    /// Return a buffer to the pool.
    pub fn give(&mut self, v: Vec<f32>) {
        self.free.push(v);
    }

    /// Buffers allocated so far (constant after warm-up; tests check this).
    pub fn allocations(&self) -> usize {
        self.allocations
    }

    /// `stats` with room for two `[n, groups]` arrays (mean, 1/σ).
    pub fn stats_for(&mut self, n_groups: usize) -> (&mut [f32], &mut [f32]) {
        if self.stats.len() < 2 * n_groups {
            self.stats.resize(2 * n_groups, 0.0);
        }
        let (a, b) = self.stats[..2 * n_groups].split_at_mut(n_groups);
        (a, b)
    }
}
