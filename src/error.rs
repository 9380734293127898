//! One error type for the whole crate. Every message names what was wrong and, where a file
//! is involved, which file, so that the CLI can print it as is.

use std::path::{Path, PathBuf};

/// Everything that can go wrong in difflab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while touching `path`.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The content of `path` is wrong (bad magic, truncated, wrong shape, missing tensor, ...).
    #[error("{}: {msg}", path.display())]
    File {
        /// The offending file.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A bad argument or value supplied by the caller (an option out of range, a shape mismatch).
    #[error("{0}")]
    Invalid(String),
    /// A network fetch failed, or the data needed is not available offline.
    #[error("{0}")]
    Unavailable(String),
    /// The job was stopped by its [`crate::util::progress::Progress`] observer (names the job).
    #[error("{0} was cancelled")]
    Cancelled(String),
}

/// `Result` with difflab's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
    /// Bad content in `path`.
    pub fn file(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::File {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }
    /// A bad argument or value.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}
