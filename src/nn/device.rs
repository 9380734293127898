//! Where a model runs. Only the CPU today; the type keeps the door open for a second backend.

/// A compute device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// difflab's own CPU core.
    #[default]
    Cpu,
}
