//! Growable scratch memory for kernels, so that nothing is allocated after the first call.

/// Scratch space shared by the kernels (im2col buffers, per-thread partial sums, ...).
///
/// A kernel asks for what it needs with [`Workspace::scratch`]; the buffer grows on first use
/// and is then reused, so a training loop that keeps one `Workspace` allocates only during its
/// first step. The contents between calls are unspecified: kernels never rely on them.
#[derive(Debug, Default)]
pub struct Workspace {
    buf: Vec<f32>,
}

impl Workspace {
    /// An empty workspace; it grows on first use.
    pub fn new() -> Self {
        Workspace { buf: Vec::new() }
    }

    /// A scratch slice of exactly `len` values with unspecified contents, growing the
    /// workspace if it is smaller.
    pub fn scratch(&mut self, len: usize) -> &mut [f32] {
        if self.buf.len() < len {
            self.buf.resize(len, 0.0);
        }
        &mut self.buf[..len]
    }

    /// How many values the workspace holds now (its high-water mark).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }
}
