//! Training the classifier: softmax cross-entropy, Adam with a cosine learning-rate decay,
//! light random shifts of the digits, synthetic non-digits with a uniform target (see
//! [`super::outliers`]), progress reported through a [`Progress`].
//!
//! A batch holds `batch_size` digits followed by `k = round(outlier_fraction · batch_size)`
//! non-digits; the loss is the mean over all rows of the digits' cross-entropy and the
//! non-digits' cross-entropy against the uniform distribution.

use super::outliers::synth_outlier;
use super::{Classifier, ClassifierConfig, ClassifierCtx};
use crate::data::digits::LabeledDigits;
use crate::nn::cross_entropy::{softmax_cross_entropy, softmax_cross_entropy_uniform};
use crate::nn::optim::{Adam, AdamConfig};
use crate::util::progress::{check_cancelled, Progress};
use crate::util::rng::Rng;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Passes over the training images.
    pub epochs: usize,
    /// Images per Adam step (the last, smaller batch of an epoch is kept).
    pub batch_size: usize,
    /// Peak learning rate; it decays along a half cosine to 2% of it at the last step.
    pub lr: f32,
    /// Each training image is shifted by a random whole number of pixels in
    /// `−max_shift ..= max_shift` along each axis (zero fill) every time it is seen.
    pub max_shift: usize,
    /// Synthetic non-digits added to each batch, as a fraction of the batch size (0 = none).
    pub outlier_fraction: f32,
    /// Train on only the first `limit` training images (tests, quick runs).
    pub limit: Option<usize>,
    /// Fixes the initial weights, the order of the images and the shifts.
    pub seed: u64,
    /// Whether the caller shows progress; kept with the options in the classifier file. The
    /// training itself reports through the [`Progress`] given to [`train_classifier`].
    pub progress: bool,
}

impl TrainOptions {
    /// difflab's recipe for `size × size` digits: 3 epochs of batch 64 (plus 8 non-digits),
    /// Adam at 3e-3 (cosine decay), shifts of ±1 px at 16×16 and ±2 px at 28×28, seed 0, with a
    /// progress bar.
    pub fn for_size(size: usize) -> Self {
        TrainOptions {
            epochs: 3,
            batch_size: 64,
            lr: 3e-3,
            max_shift: if size >= 24 { 2 } else { 1 },
            outlier_fraction: 0.125,
            limit: None,
            seed: 0,
            progress: true,
        }
    }
}

/// What a training run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Training images used per epoch.
    pub images: usize,
    /// Passes over them.
    pub epochs: usize,
    /// Adam steps taken.
    pub steps: usize,
    /// Mean loss of the digits (cross-entropy against their labels) over the last epoch.
    pub final_loss: f32,
    /// Wall time of the training loop in seconds (not counting data loading or the test pass).
    pub train_seconds: f64,
}

/// The learning rate at `step` of `total`: a half cosine from `lr` down to `0.02·lr`.
fn lr_at(lr: f32, step: usize, total: usize) -> f32 {
    let p = step as f64 / (total.max(2) - 1) as f64;
    let c = 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos());
    (lr as f64 * (0.02 + 0.98 * c)) as f32
}

/// Copy `src` (`s × s`) into `dst` shifted by `(dy, dx)` pixels, filling with 0.
fn shifted(src: &[f32], s: usize, dy: isize, dx: isize, dst: &mut [f32]) {
    dst.fill(0.0);
    let si = s as isize;
    for y in 0..si {
        let sy = y - dy;
        if !(0..si).contains(&sy) {
            continue;
        }
        let (x0, x1) = (dx.max(0), (si + dx).min(si));
        if x0 >= x1 {
            continue;
        }
        let d = (y * si) as usize;
        let so = (sy * si) as usize;
        dst[d + x0 as usize..d + x1 as usize]
            .copy_from_slice(&src[so + (x0 - dx) as usize..so + (x1 - dx) as usize]);
    }
}

/// An error unless `data` and `opts` can train a classifier of `cfg`; the number of training
/// images otherwise.
fn check_inputs(
    cfg: &ClassifierConfig,
    data: &LabeledDigits,
    opts: &TrainOptions,
) -> Result<usize> {
    let s = cfg.image_size;
    if data.size != s {
        return Err(Error::invalid(format!(
            "training digits are {0}×{0} but the classifier takes {s}×{s}",
            data.size
        )));
    }
    if !(0.0..=4.0).contains(&opts.outlier_fraction) {
        return Err(Error::invalid(format!(
            "the outlier fraction must lie in [0, 4], got {}",
            opts.outlier_fraction
        )));
    }
    if opts.epochs == 0 || opts.batch_size == 0 || !(opts.lr.is_finite() && opts.lr > 0.0) {
        return Err(Error::invalid(format!(
            "classifier training needs epochs, batch size and learning rate above 0 (got {}, {}, {})",
            opts.epochs, opts.batch_size, opts.lr
        )));
    }
    let n = opts.limit.map_or(data.len(), |l| l.min(data.len()));
    if n == 0 {
        return Err(Error::invalid("classifier training: no training images"));
    }
    Ok(n)
}

/// Fill the context's input with the digits `chunk` of `data`, each shifted by up to
/// `max_shift` pixels, followed by `k` synthetic non-digits, and `labels` with their digits.
#[allow(clippy::too_many_arguments)]
fn fill_batch(
    ctx: &mut ClassifierCtx,
    data: &LabeledDigits,
    chunk: &[usize],
    k: usize,
    max_shift: usize,
    s: usize,
    rng: &mut Rng,
    labels: &mut [usize],
) {
    let (px, r) = (s * s, max_shift as isize);
    let len = chunk.len();
    let input = ctx.input_mut(len + k);
    let (digits, outliers) = input.split_at_mut(len * px);
    for out in outliers.chunks_exact_mut(px) {
        synth_outlier(rng, s, out);
    }
    for ((dst, &i), l) in digits
        .chunks_exact_mut(px)
        .zip(chunk)
        .zip(labels.iter_mut())
    {
        let (dy, dx) = if r > 0 {
            (
                rng.below(2 * r as usize + 1) as isize - r,
                rng.below(2 * r as usize + 1) as isize - r,
            )
        } else {
            (0, 0)
        };
        shifted(data.image(i), s, dy, dx, dst);
        *l = data.labels[i] as usize;
    }
}

/// The loss of the last forward pass over `len` digits (with `labels`) and `k` non-digits, with
/// its gradient in the context: the digits' cross-entropy, and the non-digits' against the
/// uniform distribution, weighted into one mean over all rows. Returns the digits' loss, or an
/// error if either loss is not finite.
fn batch_loss(
    ctx: &mut ClassifierCtx,
    classes: usize,
    labels: &[usize],
    k: usize,
    step: usize,
) -> Result<f32> {
    let (len, c) = (labels.len(), classes);
    let rows = len + k;
    let logits = ctx.logits(rows).to_vec();
    let dlogits = ctx.dlogits_mut(rows);
    let (d_digits, d_outliers) = dlogits.split_at_mut(len * c);
    let loss = softmax_cross_entropy(&logits[..len * c], labels, c, Some(d_digits));
    let loss_out = softmax_cross_entropy_uniform(&logits[len * c..], c, Some(&mut *d_outliers));
    // Each kernel averages over its own rows; weight them into one mean over all rows.
    let (wd, wo) = (len as f32 / rows as f32, k as f32 / rows as f32);
    d_digits.iter_mut().for_each(|g| *g *= wd);
    d_outliers.iter_mut().for_each(|g| *g *= wo);
    if !(loss.is_finite() && loss_out.is_finite()) {
        return Err(Error::invalid(format!(
            "classifier training diverged at step {step} (loss {loss}, non-digit loss {loss_out})"
        )));
    }
    Ok(loss)
}

/// Train a fresh classifier of `cfg` on `data` (whose images must be `cfg.image_size` square),
/// reporting each Adam step to `progress` (with the epoch and its running loss) and stopping
/// with [`Error::Cancelled`] between batches when it asks.
pub fn train_classifier(
    cfg: &ClassifierConfig,
    data: &LabeledDigits,
    opts: &TrainOptions,
    progress: &mut dyn Progress,
) -> Result<(Classifier, TrainReport)> {
    let n = check_inputs(cfg, data, opts)?;
    let s = cfg.image_size;
    let mut rng = Rng::seeded(opts.seed);
    let mut model = Classifier::new(cfg.clone(), &mut rng)?;
    let batch = opts.batch_size.min(n);
    let k = (opts.outlier_fraction * batch as f32).round() as usize;
    let mut ctx = ClassifierCtx::new(cfg, batch + k, true);
    let mut adam = Adam::new(AdamConfig::adam(opts.lr), model.num_params());
    let total = n.div_ceil(batch) * opts.epochs;
    progress.start(&format!("classifier {s}×{s}"), total as u64);
    let started = Instant::now();
    let mut order: Vec<usize> = (0..n).collect();
    let mut labels = vec![0usize; batch];
    let (mut step, mut final_loss) = (0, 0.0);
    for epoch in 0..opts.epochs {
        let mut erng = Rng::stream(opts.seed, epoch as u64 + 1);
        erng.shuffle(&mut order);
        let (mut loss_sum, mut seen) = (0.0f64, 0usize);
        for chunk in order.chunks(batch) {
            check_cancelled(progress, "classifier training")?;
            let (len, labels) = (chunk.len(), &mut labels[..chunk.len()]);
            fill_batch(
                &mut ctx,
                data,
                chunk,
                k,
                opts.max_shift,
                s,
                &mut erng,
                labels,
            );
            ctx.forward(&model, len + k);
            let loss = batch_loss(&mut ctx, cfg.classes, labels, k, step)?;
            ctx.backward(&model, len + k);
            adam.cfg.lr = lr_at(opts.lr, step, total);
            adam.step(model.params_mut(), ctx.grads());
            loss_sum += loss as f64 * len as f64;
            seen += len;
            step += 1;
            let mean = loss_sum / seen as f64;
            let msg = format!("epoch {}/{} loss {mean:.4}", epoch + 1, opts.epochs);
            progress.update(step as u64, &msg);
        }
        final_loss = (loss_sum / seen as f64) as f32;
    }
    progress.finish();
    let report = TrainReport {
        images: n,
        epochs: opts.epochs,
        steps: total,
        final_loss,
        train_seconds: started.elapsed().as_secs_f64(),
    };
    Ok((model, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_moves_pixels_and_fills_with_zero() {
        let src: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut dst = vec![0.0; 9];
        shifted(&src, 3, 1, -1, &mut dst);
        assert_eq!(dst, vec![0.0, 0.0, 0.0, 2.0, 3.0, 0.0, 5.0, 6.0, 0.0]);
        shifted(&src, 3, 0, 0, &mut dst);
        assert_eq!(dst, src);
        shifted(&src, 3, -3, 0, &mut dst);
        assert!(dst.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn cosine_decay_runs_from_peak_to_two_percent() {
        assert!((lr_at(1.0, 0, 100) - 1.0).abs() < 1e-6);
        assert!((lr_at(1.0, 99, 100) - 0.02).abs() < 1e-6);
        assert!(lr_at(1.0, 50, 100) < lr_at(1.0, 49, 100));
    }
}
