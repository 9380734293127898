//! A model's parameters: named tensors laid end to end in one flat f32 buffer, so that an
//! optimiser updates every parameter in one pass over a gradient buffer of the same layout, and
//! conversion to and from named [`Weights`] for checkpoints.
//!
//! A model builds a [`ParamLayout`] (name and shape of each tensor, in its forward order), keeps
//! the indices [`ParamLayout::push`] returns, and reads tensor `i` with [`Params::get`].

use crate::nn::{Tensor, Weights};
use crate::Result;
use std::ops::Range;

/// One named parameter tensor: its shape and where it sits in the flat buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamSpec {
    /// Readable name, e.g. `enc1.conv1.weight`.
    pub name: String,
    /// Shape (HWIO for convolutions, `[in, out]` for linear layers).
    pub shape: Vec<usize>,
    /// Position in the flat parameter (and gradient) buffer.
    pub range: Range<usize>,
}

/// The named tensors of a model, one after another in a flat buffer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParamLayout {
    specs: Vec<ParamSpec>,
}

impl ParamLayout {
    /// An empty layout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append the tensor `name` of `shape` after the others; returns its index.
    pub fn push(&mut self, name: impl Into<String>, shape: Vec<usize>) -> usize {
        let at = self.len();
        let len: usize = shape.iter().product();
        self.specs.push(ParamSpec {
            name: name.into(),
            shape,
            range: at..at + len,
        });
        self.specs.len() - 1
    }

    /// The tensors in buffer order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// Where tensor `i` sits in the flat buffer.
    pub fn range(&self, i: usize) -> Range<usize> {
        self.specs[i].range.clone()
    }

    /// Values in the flat buffer (the sum of the tensors' sizes).
    pub fn len(&self) -> usize {
        self.specs.last().map_or(0, |s| s.range.end)
    }

    /// True when there is no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tensors `a` and `b` (`a` before `b`) of a buffer laid out like this one, both mutable:
    /// e.g. a layer's weight and bias gradients.
    pub fn pair_mut<'a>(
        &self,
        buf: &'a mut [f32],
        a: usize,
        b: usize,
    ) -> (&'a mut [f32], &'a mut [f32]) {
        let (ra, rb) = (self.range(a), self.range(b));
        assert!(ra.end <= rb.start, "pair_mut: tensors out of order");
        let (lo, hi) = buf.split_at_mut(rb.start);
        (&mut lo[ra], &mut hi[..rb.len()])
    }

    /// Every tensor of a buffer laid out like this one, mutable, in order.
    pub fn split_mut<'a>(&self, buf: &'a mut [f32]) -> Vec<&'a mut [f32]> {
        let mut out = Vec::with_capacity(self.specs.len());
        let mut rest = buf;
        for s in &self.specs {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(s.range.len());
            out.push(head);
            rest = tail;
        }
        out
    }

    /// Add `values` (a flat buffer laid out like this one: parameters, EMA weights, optimiser
    /// moments) to `w` under `prefix + name`. Panics if `values` has another length.
    pub fn add_to_weights(&self, w: &mut Weights, prefix: &str, values: &[f32]) {
        assert_eq!(
            values.len(),
            self.len(),
            "add_to_weights: buffer is not parameter-shaped"
        );
        for s in &self.specs {
            let t = Tensor::new(s.shape.clone(), values[s.range.clone()].to_vec())
                .expect("spec shapes match their ranges");
            w.insert(format!("{prefix}{}", s.name), t);
        }
    }
}

/// A [`ParamLayout`] and its values.
#[derive(Clone, Debug)]
pub struct Params {
    layout: ParamLayout,
    values: Vec<f32>,
}

impl Params {
    /// Every parameter at zero.
    pub fn zeros(layout: ParamLayout) -> Self {
        let values = vec![0.0; layout.len()];
        Params { layout, values }
    }

    /// The tensors of `layout` read from `w` under `prefix + name` (e.g. `ema.` for EMA
    /// weights); a missing tensor or a wrong shape is an error naming the file, the key and
    /// the shapes.
    pub fn from_weights(layout: ParamLayout, w: &Weights, prefix: &str) -> Result<Self> {
        let mut p = Self::zeros(layout);
        for s in &p.layout.specs {
            let t = w.get(&format!("{prefix}{}", s.name), &s.shape)?;
            p.values[s.range.clone()].copy_from_slice(t.data());
        }
        Ok(p)
    }

    /// Every tensor by name.
    pub fn to_weights(&self) -> Weights {
        let mut w = Weights::new();
        self.layout.add_to_weights(&mut w, "", &self.values);
        w
    }

    /// The layout.
    pub fn layout(&self) -> &ParamLayout {
        &self.layout
    }

    /// The named tensors and their places in the flat buffer.
    pub fn specs(&self) -> &[ParamSpec] {
        self.layout.specs()
    }

    /// All values, flat.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// All values, flat and mutable (for an optimiser).
    pub fn values_mut(&mut self) -> &mut [f32] {
        &mut self.values
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there is no value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Tensor `i` of the layout.
    pub fn get(&self, i: usize) -> &[f32] {
        &self.values[self.layout.range(i)]
    }

    /// Tensor `i` of the layout, mutable (for initialisation).
    pub fn get_mut(&mut self, i: usize) -> &mut [f32] {
        let r = self.layout.range(i);
        &mut self.values[r]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> ParamLayout {
        let mut l = ParamLayout::new();
        assert_eq!(l.push("a.weight", vec![2, 3]), 0);
        assert_eq!(l.push("a.bias", vec![3]), 1);
        assert_eq!(l.push("b", vec![1, 1, 2, 2]), 2);
        l
    }

    #[test]
    fn layout_places_tensors_end_to_end() {
        let l = layout();
        assert_eq!((l.range(0), l.range(1), l.range(2)), (0..6, 6..9, 9..13));
        assert_eq!(l.len(), 13);
        let mut buf: Vec<f32> = (0..13).map(|v| v as f32).collect();
        let (a, b) = l.pair_mut(&mut buf, 0, 2);
        assert_eq!((a.len(), b[0]), (6, 9.0));
        let parts = l.split_mut(&mut buf);
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [6, 3, 4]);
    }

    #[test]
    fn weights_round_trip_and_errors_name_the_key() {
        let mut p = Params::zeros(layout());
        p.values_mut()
            .iter_mut()
            .enumerate()
            .for_each(|(i, v)| *v = i as f32);
        let w = p.to_weights();
        let q = Params::from_weights(layout(), &w, "").unwrap();
        assert_eq!(q.values(), p.values());
        assert_eq!(q.get(1), &[6.0, 7.0, 8.0]);
        let mut other = ParamLayout::new();
        other.push("a.weight", vec![3, 2]);
        let e = Params::from_weights(other, &w, "").unwrap_err().to_string();
        assert!(e.contains("a.weight") && e.contains("[2, 3]"), "{e}");
        let e = Params::from_weights(layout(), &w, "ema.")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ema.a.weight"), "{e}");
    }
}
