//! MNIST: IDX parsing (gzip or raw), where the files are found (flag, env, cache, download),
//! selection of splits and digits, resizing, and pixel scaling.
//!
//! Typical use:
//! ```no_run
//! use difflab::data::{Digits, Mnist, PixelRange, Selection, Split};
//! let mnist = Mnist::load(Split::Train, None)?;           // --mnist-dir, env, cache or download
//! let set = mnist.select(&Selection::training(Digits::classes(4)?))?; // 16×16, bilinear
//! let x = set.tensor(PixelRange::Symmetric);              // [N, 16, 16, 1] in [-1, 1]
//! # Ok::<(), difflab::Error>(())
//! ```

pub mod digits;
pub mod download;
pub mod files;
pub mod idx;
pub mod image_file;
pub mod locate;
pub mod mnist;
pub mod resize;

pub use download::{download_mnist, sha256_hex, DEFAULT_MIRRORS, ENV_MNIST_MIRRORS};
pub use files::{offline_hint, MnistFile, ENV_MNIST_DIR, MNIST_FILES};
pub use image_file::{load_gray_image, GrayImport};
pub use locate::{
    cache_dir_from, default_cache_dir, find_file, missing_files, MnistLocation, MnistLocator,
    MnistSource,
};
pub use mnist::{to_display, Dataset, Digits, Mnist, PixelRange, Selection, Split};
pub use resize::{resize, ResizeFilter, Resizer};
