//! Sinusoidal timestep embeddings.

/// Sinusoidal embedding of (possibly fractional) timesteps, with the semantics of diffusers'
/// `get_timestep_embedding`:
///
/// `half = dim / 2`, `f_i = exp(−ln(max_period) · i / (half − downscale_freq_shift))` for
/// `i < half`, and `out[b] = [sin(t_b f_0) … sin(t_b f_{half−1}), cos(t_b f_0) … cos(t_b f_{half−1})]`
/// (cos half first when `flip_sin_to_cos`); an odd `dim` gets a trailing zero. `out` is
/// `[t.len(), dim]`. The arithmetic is f32 in PyTorch's order, so that values match diffusers.
///
/// The lab's embedding (width 32, `f_i = exp(−ln(10000) · i / 15)`, sin half first) is
/// `timestep_embedding(t, 32, 10000.0, false, 1.0, out)`; UNet2DModel's default is
/// `flip_sin_to_cos = true`, `downscale_freq_shift = 0` (or 1 for old checkpoints).
pub fn timestep_embedding(
    t: &[f32],
    dim: usize,
    max_period: f32,
    flip_sin_to_cos: bool,
    downscale_freq_shift: f32,
    out: &mut [f32],
) {
    assert_eq!(
        out.len(),
        t.len() * dim,
        "timestep_embedding: out must be [n, dim]"
    );
    let half = dim / 2;
    let neg_log = -(max_period as f64).ln() as f32;
    let denom = half as f32 - downscale_freq_shift;
    let (sin_at, cos_at) = if flip_sin_to_cos {
        (half, 0)
    } else {
        (0, half)
    };
    for (row, &tb) in out.chunks_exact_mut(dim).zip(t) {
        for i in 0..half {
            let freq = (neg_log * i as f32 / denom).exp();
            let arg = tb * freq;
            row[sin_at + i] = arg.sin();
            row[cos_at + i] = arg.cos();
        }
        if dim % 2 == 1 {
            row[dim - 1] = 0.0;
        }
    }
}
