//! The one tensor type: an owned f32 buffer with a shape. Activations are NHWC (channels last).

use crate::{Error, Result};

/// An owned, contiguous f32 tensor in row-major order. Image activations use NHWC.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor from a shape and data; errors if the element count does not match the shape.
    pub fn new(shape: impl Into<Vec<usize>>, data: Vec<f32>) -> Result<Self> {
        let shape = shape.into();
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::invalid(format!(
                "tensor of shape {shape:?} needs {n} values, got {}",
                data.len()
            )));
        }
        Ok(Tensor { shape, data })
    }
    /// A tensor of zeros.
    pub fn zeros(shape: impl Into<Vec<usize>>) -> Self {
        let shape = shape.into();
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }
    /// The values, mutable.
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
    /// Give up the buffer.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
    /// Same data, new shape (element count must match).
    pub fn reshape(self, shape: impl Into<Vec<usize>>) -> Result<Self> {
        Tensor::new(shape, self.data)
    }
    /// NCHW → NHWC for a 4-d tensor (diffusers and PyTorch use NCHW; difflab computes in NHWC).
    pub fn nchw_to_nhwc(&self) -> Result<Self> {
        let [n, c, h, w] = self.dims4()?;
        let mut out = vec![0.0; self.data.len()];
        for b in 0..n {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        out[((b * h + y) * w + x) * c + ch] =
                            self.data[((b * c + ch) * h + y) * w + x];
                    }
                }
            }
        }
        Tensor::new(vec![n, h, w, c], out)
    }
    /// NHWC → NCHW for a 4-d tensor.
    pub fn nhwc_to_nchw(&self) -> Result<Self> {
        let [n, h, w, c] = self.dims4()?;
        let mut out = vec![0.0; self.data.len()];
        for b in 0..n {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        out[((b * c + ch) * h + y) * w + x] =
                            self.data[((b * h + y) * w + x) * c + ch];
                    }
                }
            }
        }
        Tensor::new(vec![n, c, h, w], out)
    }
    /// The four dimensions of a 4-d tensor, or an error.
    pub fn dims4(&self) -> Result<[usize; 4]> {
        match self.shape[..] {
            [a, b, c, d] => Ok([a, b, c, d]),
            _ => Err(Error::invalid(format!(
                "expected a 4-d tensor, got shape {:?}",
                self.shape
            ))),
        }
    }
    /// Largest absolute difference to `other` (same length required).
    pub fn max_abs_diff(&self, other: &Tensor) -> f32 {
        assert_eq!(
            self.data.len(),
            other.data.len(),
            "max_abs_diff: length mismatch"
        );
        self.data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max)
    }
    /// True if any value is NaN or infinite.
    pub fn has_non_finite(&self) -> bool {
        self.data.iter().any(|v| !v.is_finite())
    }
}
