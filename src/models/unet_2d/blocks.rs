//! The U-Net's blocks: `DownBlock2D`/`AttnDownBlock2D`, `UNetMidBlock2D`,
//! `UpBlock2D`/`AttnUpBlock2D` (see `diffusers/models/unets/unet_2d_blocks.py`).
//!
//! Skip connections live on a stack of [`Feat`]s: `conv_in`'s output and every output of the
//! down path are pushed (each is also the next layer's input, so nothing is copied), and each
//! ResNet of the up path pops one and concatenates it after its input along the channels.

use super::attention::AttentionBlock;
use super::layers::ConvLayer;
use super::params::ParamSource;
use super::profile;
use super::resnet::{load_downsample2d, Resample, ResnetBlock2D, ResnetSettings, Upsample2D};
use super::scratch::Scratch;
use crate::nn::ops::copy_into_channels;
use crate::Result;

/// An NHWC activation of the batch with its spatial size and channels.
pub struct Feat {
    /// `[n, h, w, c]` values.
    pub data: Vec<f32>,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

/// Attention settings of a block (`None` for blocks without attention).
#[derive(Clone, Copy, Debug)]
pub struct AttnSettings {
    /// Channels per head.
    pub head_dim: usize,
    /// Groups of the attention's GroupNorm (`None`: no norm).
    pub groups: Option<usize>,
}

/// How a down block halves the resolution.
pub enum Downsampler {
    /// `Downsample2D`: a 3×3 stride-2 convolution.
    Conv(ConvLayer),
    /// A ResNet block with average pooling (`downsample_type: resnet`).
    Resnet(Box<ResnetBlock2D>),
}

/// How an up block doubles the resolution.
pub enum Upsampler {
    /// `Upsample2D`: nearest ×2 and a 3×3 convolution.
    Conv(Upsample2D),
    /// A ResNet block with nearest upsampling (`upsample_type: resnet`).
    Resnet(Box<ResnetBlock2D>),
}

/// The `layers` ResNets of block `name` (layer `l` takes `c_in(l)` channels to `cout`), each
/// followed by its attention when `attn` is set, loaded in that order.
fn load_layers(
    src: &mut dyn ParamSource,
    name: &str,
    layers: usize,
    c_in: impl Fn(usize) -> usize,
    cout: usize,
    set: &ResnetSettings,
    attn: Option<AttnSettings>,
) -> Result<(Vec<ResnetBlock2D>, Vec<AttentionBlock>)> {
    let mut resnets = Vec::new();
    let mut attentions = Vec::new();
    for l in 0..layers {
        resnets.push(ResnetBlock2D::load(
            src,
            &format!("{name}.resnets.{l}"),
            c_in(l),
            cout,
            set,
            Resample::None,
        )?);
        if let Some(a) = attn {
            attentions.push(AttentionBlock::load(
                src,
                &format!("{name}.attentions.{l}"),
                cout,
                a.head_dim,
                a.groups,
                set.eps,
                set.output_scale,
            )?);
        }
    }
    Ok((resnets, attentions))
}

/// Parameters of a block's ResNets and attentions.
fn layers_params(resnets: &[ResnetBlock2D], attentions: &[AttentionBlock]) -> usize {
    resnets.iter().map(ResnetBlock2D::num_params).sum::<usize>()
        + attentions
            .iter()
            .map(AttentionBlock::num_params)
            .sum::<usize>()
}

/// `DownBlock2D` (no attention) or `AttnDownBlock2D`.
pub struct DownBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<AttentionBlock>,
    downsampler: Option<Downsampler>,
}

impl DownBlock {
    /// Load `down_blocks.{i}` with `layers` ResNets `cin → cout`, attention after each ResNet
    /// when `attn` is set, and a downsampler unless `down` is `None` (`Some(true)` for the
    /// ResNet kind, `Some(false)` for the convolution with `padding`).
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        layers: usize,
        cin: usize,
        cout: usize,
        set: &ResnetSettings,
        attn: Option<AttnSettings>,
        down: Option<bool>,
        padding: usize,
    ) -> Result<Self> {
        let c_in = |l: usize| if l == 0 { cin } else { cout };
        let (resnets, attentions) = load_layers(src, name, layers, c_in, cout, set, attn)?;
        let dname = format!("{name}.downsamplers.0");
        let downsampler = match down {
            None => None,
            Some(false) => Some(Downsampler::Conv(load_downsample2d(
                src, &dname, cout, padding,
            )?)),
            Some(true) => Some(Downsampler::Resnet(Box::new(ResnetBlock2D::load(
                src,
                &dname,
                cout,
                cout,
                set,
                Resample::Down,
            )?))),
        };
        Ok(DownBlock {
            resnets,
            attentions,
            downsampler,
        })
    }

    /// Run on the top of `skips`, pushing every output (ResNet/attention outputs, then the
    /// downsampled one).
    pub fn forward(&self, skips: &mut Vec<Feat>, n: usize, temb_act: &[f32], s: &mut Scratch) {
        for (l, r) in self.resnets.iter().enumerate() {
            let x = skips.last().expect("conv_in output is on the stack");
            let (h, w) = (x.h, x.w);
            let mut y = r.forward(&x.data, (n, h, w), temb_act, s);
            if let Some(a) = self.attentions.get(l) {
                let z = a.forward(&y, n, h, w, s);
                s.give(std::mem::replace(&mut y, z));
            }
            skips.push(Feat {
                data: y,
                h,
                w,
                c: r.cout,
            });
        }
        if let Some(d) = &self.downsampler {
            let x = skips.last().expect("a ResNet output is on the stack");
            let (data, h, w) = match d {
                Downsampler::Conv(conv) => conv.forward(&x.data, n, x.h, x.w, s),
                Downsampler::Resnet(r) => {
                    let (h, w) = r.out_hw(x.h, x.w);
                    (r.forward(&x.data, (n, x.h, x.w), temb_act, s), h, w)
                }
            };
            let c = x.c;
            skips.push(Feat { data, h, w, c });
        }
    }

    /// Number of skip tensors this block pushes.
    pub fn outputs(&self) -> usize {
        self.resnets.len() + usize::from(self.downsampler.is_some())
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        layers_params(&self.resnets, &self.attentions)
            + match &self.downsampler {
                Some(Downsampler::Conv(d)) => d.num_params(),
                Some(Downsampler::Resnet(r)) => r.num_params(),
                None => 0,
            }
    }
}

/// `UNetMidBlock2D`: ResNet, then (attention, ResNet), at the lowest resolution.
pub struct MidBlock {
    first: ResnetBlock2D,
    attention: Option<AttentionBlock>,
    second: ResnetBlock2D,
}

impl MidBlock {
    /// Load `mid_block` over `c` channels (`set.output_scale` is `mid_block_scale_factor`).
    pub fn load(
        src: &mut dyn ParamSource,
        c: usize,
        set: &ResnetSettings,
        attn: Option<AttnSettings>,
    ) -> Result<Self> {
        let first = ResnetBlock2D::load(src, "mid_block.resnets.0", c, c, set, Resample::None)?;
        let attention = match attn {
            Some(a) => Some(AttentionBlock::load(
                src,
                "mid_block.attentions.0",
                c,
                a.head_dim,
                a.groups,
                set.eps,
                set.output_scale,
            )?),
            None => None,
        };
        let second = ResnetBlock2D::load(src, "mid_block.resnets.1", c, c, set, Resample::None)?;
        Ok(MidBlock {
            first,
            attention,
            second,
        })
    }

    /// `x` → same shape, in a pool buffer.
    pub fn forward(&self, x: &Feat, n: usize, temb_act: &[f32], s: &mut Scratch) -> Feat {
        let (h, w) = (x.h, x.w);
        let mut y = self.first.forward(&x.data, (n, h, w), temb_act, s);
        if let Some(a) = &self.attention {
            let z = a.forward(&y, n, h, w, s);
            s.give(std::mem::replace(&mut y, z));
        }
        let z = self.second.forward(&y, (n, h, w), temb_act, s);
        s.give(y);
        Feat {
            data: z,
            h,
            w,
            c: x.c,
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.first.num_params()
            + self
                .attention
                .as_ref()
                .map_or(0, AttentionBlock::num_params)
            + self.second.num_params()
    }
}

/// `UpBlock2D` (no attention) or `AttnUpBlock2D`.
pub struct UpBlock {
    resnets: Vec<ResnetBlock2D>,
    attentions: Vec<AttentionBlock>,
    upsampler: Option<Upsampler>,
}

impl UpBlock {
    /// Load `up_blocks.{i}` with `layers` ResNets: the first takes `prev` channels from below,
    /// the others `cout`; each also takes one skip (`cout` channels, `skip_last` for the last).
    /// `up` as for [`DownBlock::load`]'s `down`.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        src: &mut dyn ParamSource,
        name: &str,
        layers: usize,
        prev: usize,
        cout: usize,
        skip_last: usize,
        set: &ResnetSettings,
        attn: Option<AttnSettings>,
        up: Option<bool>,
    ) -> Result<Self> {
        let c_in = |l: usize| {
            let skip = if l == layers - 1 { skip_last } else { cout };
            (if l == 0 { prev } else { cout }) + skip
        };
        let (resnets, attentions) = load_layers(src, name, layers, c_in, cout, set, attn)?;
        let uname = format!("{name}.upsamplers.0");
        let upsampler = match up {
            None => None,
            Some(false) => Some(Upsampler::Conv(Upsample2D::load(src, &uname, cout)?)),
            Some(true) => Some(Upsampler::Resnet(Box::new(ResnetBlock2D::load(
                src,
                &uname,
                cout,
                cout,
                set,
                Resample::Up,
            )?))),
        };
        Ok(UpBlock {
            resnets,
            attentions,
            upsampler,
        })
    }

    /// Run from `x`, popping one skip per ResNet; returns the (upsampled) output.
    pub fn forward(
        &self,
        x: Feat,
        skips: &mut Vec<Feat>,
        n: usize,
        temb_act: &[f32],
        s: &mut Scratch,
    ) -> Feat {
        let mut cur = x;
        for (l, r) in self.resnets.iter().enumerate() {
            let skip = skips
                .pop()
                .expect("the forward pass checked the skip count");
            let (h, w) = (cur.h, cur.w);
            debug_assert_eq!((skip.h, skip.w), (h, w), "skip connection size");
            // The ResNet reads `[cur, skip]` in place when it can; else concatenate.
            let mut y = if r.takes_concat() {
                r.forward_concat((&cur.data, cur.c), &skip.data, (n, h, w), temb_act, s)
            } else {
                let rows = n * h * w;
                let cc = cur.c + skip.c;
                let mut cat = s.take(rows * cc);
                let t = profile::span("concat");
                copy_into_channels(&cur.data, rows, cur.c, &mut cat, cc, 0);
                copy_into_channels(&skip.data, rows, skip.c, &mut cat, cc, cur.c);
                drop(t);
                let y = r.forward(&cat, (n, h, w), temb_act, s);
                s.give(cat);
                y
            };
            s.give(cur.data);
            s.give(skip.data);
            if let Some(a) = self.attentions.get(l) {
                let z = a.forward(&y, n, h, w, s);
                s.give(std::mem::replace(&mut y, z));
            }
            cur = Feat {
                data: y,
                h,
                w,
                c: r.cout,
            };
        }
        match &self.upsampler {
            None => cur,
            Some(u) => {
                let (data, h, w) = match u {
                    Upsampler::Conv(up) => up.forward(&cur.data, (n, cur.h, cur.w), s),
                    Upsampler::Resnet(r) => {
                        let (h, w) = r.out_hw(cur.h, cur.w);
                        (r.forward(&cur.data, (n, cur.h, cur.w), temb_act, s), h, w)
                    }
                };
                let c = cur.c;
                s.give(cur.data);
                Feat { data, h, w, c }
            }
        }
    }

    /// Number of skip tensors this block consumes.
    pub fn inputs(&self) -> usize {
        self.resnets.len()
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        layers_params(&self.resnets, &self.attentions)
            + match &self.upsampler {
                Some(Upsampler::Conv(u)) => u.num_params(),
                Some(Upsampler::Resnet(r)) => r.num_params(),
                None => 0,
            }
    }
}
