//! The spatial self-attention of diffusers' `AttnDownBlock2D`/`AttnUpBlock2D`/`UNetMidBlock2D`
//! (`Attention` with `residual_connection=True`, `_from_deprecated_attn_block=True`).
//!
//! Every pixel is a token: `x` `[n, h, w, c]` is read as `[n, hw, c]` (NHWC needs no transpose),
//! `t = GroupNorm(x)`, `q, k, v = t·W_q, t·W_k, t·W_v`, `o = softmax(q·kᵀ/√d)·v` per head, and
//! `y = (o·W_out + b_out + x) / rescale`.
//!
//! Two key schemes exist: the current one (`to_q`, `to_k`, `to_v`, `to_out.0`) and the legacy
//! one of checkpoints saved before diffusers 0.14, such as `google/ddpm-*` (`query`, `key`,
//! `value`, `proj_attn`); both load.

use super::layers::{GroupNormLayer, LinearLayer, NormInput};
use super::params::ParamSource;
use super::profile;
use super::scratch::Scratch;
use crate::nn::ops::attention_forward;
use crate::Result;

/// A single- or multi-head spatial self-attention block with a residual connection.
pub struct AttentionBlock {
    c: usize,
    heads: usize,
    head_dim: usize,
    group_norm: Option<GroupNormLayer>,
    to_q: LinearLayer,
    to_k: LinearLayer,
    to_v: LinearLayer,
    to_out: LinearLayer,
    rescale: f32,
}

impl AttentionBlock {
    /// Load the block `name` over `c` channels with `head_dim` channels per head; `groups` is
    /// `None` for a block without its GroupNorm.
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        c: usize,
        head_dim: usize,
        groups: Option<usize>,
        eps: f64,
        rescale: f32,
    ) -> Result<Self> {
        let heads = c / head_dim;
        let inner = heads * head_dim;
        let legacy = src.contains(&format!("{name}.query.weight"));
        let [q, k, v, o] = if legacy {
            ["query", "key", "value", "proj_attn"]
        } else {
            ["to_q", "to_k", "to_v", "to_out.0"]
        };
        let group_norm = match groups {
            Some(g) => Some(GroupNormLayer::load(
                src,
                &format!("{name}.group_norm"),
                c,
                g,
                eps,
            )?),
            None => None,
        };
        Ok(AttentionBlock {
            c,
            heads,
            head_dim,
            group_norm,
            to_q: LinearLayer::load(src, &format!("{name}.{q}"), c, inner)?,
            to_k: LinearLayer::load(src, &format!("{name}.{k}"), c, inner)?,
            to_v: LinearLayer::load(src, &format!("{name}.{v}"), c, inner)?,
            to_out: LinearLayer::load(src, &format!("{name}.{o}"), inner, c)?,
            rescale,
        })
    }

    /// `x` `[n, h, w, c]` → same shape, in a pool buffer.
    pub fn forward(&self, x: &[f32], n: usize, h: usize, w: usize, s: &mut Scratch) -> Vec<f32> {
        let (c, seq) = (self.c, h * w);
        let m = n * seq;
        let inner = self.heads * self.head_dim;
        let mut t = s.take(m * c);
        match &self.group_norm {
            Some(norm) => norm.forward_into(NormInput::One(x), (n, seq), &mut t, false, s),
            None => t.copy_from_slice(&x[..m * c]),
        }
        let mut q = s.take(m * inner);
        let mut k = s.take(m * inner);
        let mut v = s.take(m * inner);
        self.to_q.forward_into(&t, m, &mut q);
        self.to_k.forward_into(&t, m, &mut k);
        self.to_v.forward_into(&t, m, &mut v);
        s.give(t);
        let mut o = s.take(m * inner);
        let t = profile::span("attention core");
        attention_forward(
            &q,
            &k,
            &v,
            n,
            self.heads,
            seq,
            self.head_dim,
            &mut o,
            &mut s.attn,
        );
        drop(t);
        s.give(q);
        s.give(k);
        s.give(v);
        let mut y = s.take(m * c);
        self.to_out.forward_residual(&o, m, x, &mut y);
        s.give(o);
        if self.rescale != 1.0 {
            let inv = 1.0 / self.rescale;
            y.iter_mut().for_each(|v| *v *= inv);
        }
        y
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.group_norm
            .as_ref()
            .map_or(0, GroupNormLayer::num_params)
            + self.to_q.num_params()
            + self.to_k.num_params()
            + self.to_v.num_params()
            + self.to_out.num_params()
    }
}
