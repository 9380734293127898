//! Where the four MNIST files are found, in order:
//! 1. the folder given with the global `--mnist-dir DIR` flag;
//! 2. the folder in the environment variable `DIFFLAB_MNIST_DIR`;
//! 3. the cache folder, `$XDG_CACHE_HOME/difflab/mnist`, else `~/.cache/difflab/mnist`;
//! 4. else they are downloaded into the cache (see [`super::download`]).
//!
//! A folder named by the flag or the variable must hold the files: pointing difflab somewhere
//! and silently using something else would be surprising, so that is an error naming the folder
//! and the missing files. Each file may be raw or gzip-compressed (`name` or `name.gz`).

use super::download::{download_mnist, mirrors_from_env};
use super::files::{offline_hint, ENV_MNIST_DIR, MNIST_FILES};
use crate::{Error, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// How a folder of MNIST files was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MnistSource {
    /// The `--mnist-dir` flag.
    Flag,
    /// The `DIFFLAB_MNIST_DIR` environment variable.
    Env,
    /// Already in the cache folder.
    Cache,
    /// Downloaded into the cache folder just now.
    Downloaded,
}

/// A folder holding all four MNIST files, and how it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistLocation {
    /// The folder.
    pub dir: PathBuf,
    /// Which rule found it.
    pub source: MnistSource,
}

/// The lookup rules with their inputs made explicit, so tests can drive them without touching
/// the process environment. [`MnistLocator::from_env`] fills them as the CLI does.
#[derive(Clone, Debug, Default)]
pub struct MnistLocator {
    /// The `--mnist-dir` flag, if given.
    pub flag_dir: Option<PathBuf>,
    /// `DIFFLAB_MNIST_DIR`, if set and not empty.
    pub env_dir: Option<PathBuf>,
    /// The cache folder (`None` when neither `XDG_CACHE_HOME` nor `HOME` is known).
    pub cache_dir: Option<PathBuf>,
    /// Base URLs to download from, tried in turn; empty means "never download".
    pub mirrors: Vec<String>,
}

impl MnistLocator {
    /// The CLI's locator: `flag_dir`, then `DIFFLAB_MNIST_DIR`, then the cache, then the
    /// default mirrors (or those in `DIFFLAB_MNIST_MIRRORS`, comma-separated base URLs).
    pub fn from_env(flag_dir: Option<&Path>) -> Self {
        MnistLocator {
            flag_dir: flag_dir.map(Path::to_path_buf),
            env_dir: std::env::var_os(ENV_MNIST_DIR)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            cache_dir: default_cache_dir(),
            mirrors: mirrors_from_env(),
        }
    }

    /// Find (or download) a folder holding all four files. See the module documentation.
    pub fn locate(&self) -> Result<MnistLocation> {
        if let Some(dir) = &self.flag_dir {
            require_complete(dir, "the --mnist-dir flag")?;
            return Ok(MnistLocation {
                dir: dir.clone(),
                source: MnistSource::Flag,
            });
        }
        if let Some(dir) = &self.env_dir {
            require_complete(dir, &format!("the {ENV_MNIST_DIR} environment variable"))?;
            return Ok(MnistLocation {
                dir: dir.clone(),
                source: MnistSource::Env,
            });
        }
        let Some(cache) = &self.cache_dir else {
            return Err(Error::Unavailable(format!(
                "MNIST not found: no --mnist-dir, no {ENV_MNIST_DIR}, and no cache folder (neither XDG_CACHE_HOME nor HOME is set).\n{}",
                offline_hint()
            )));
        };
        if missing_files(cache).is_empty() {
            return Ok(MnistLocation {
                dir: cache.clone(),
                source: MnistSource::Cache,
            });
        }
        download_mnist(cache, &self.mirrors).map_err(|e| {
            Error::Unavailable(format!(
                "MNIST not found (no --mnist-dir flag, {ENV_MNIST_DIR} not set, not in the cache {}), so difflab tried to download it: {e}",
                cache.display()
            ))
        })?;
        Ok(MnistLocation {
            dir: cache.clone(),
            source: MnistSource::Downloaded,
        })
    }
}

/// The cache folder for this environment: see [`cache_dir_from`].
pub fn default_cache_dir() -> Option<PathBuf> {
    cache_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
}

/// `$XDG_CACHE_HOME/difflab/mnist` if that variable is an absolute path (the XDG rule: relative
/// values are ignored), else `$HOME/.cache/difflab/mnist`, else `None`.
pub fn cache_dir_from(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        home.filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache"))
    })?;
    Some(base.join("difflab").join("mnist"))
}

/// The path of MNIST file `name` in `dir`: `dir/name` if it exists, else `dir/name.gz`, else `None`.
pub fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let raw = dir.join(name);
    if raw.is_file() {
        return Some(raw);
    }
    let gz = dir.join(format!("{name}.gz"));
    gz.is_file().then_some(gz)
}

/// The names of the MNIST files that `dir` lacks (neither raw nor `.gz`).
pub fn missing_files(dir: &Path) -> Vec<&'static str> {
    MNIST_FILES
        .iter()
        .filter(|f| find_file(dir, f.name).is_none())
        .map(|f| f.name)
        .collect()
}

fn require_complete(dir: &Path, given_by: &str) -> Result<()> {
    let missing = missing_files(dir);
    if missing.is_empty() {
        return Ok(());
    }
    let what = if dir.is_dir() {
        "does not hold"
    } else {
        "does not exist, so it lacks"
    };
    Err(Error::file(
        dir,
        format!(
            "this MNIST folder (given by {given_by}) {what} {} (each may be raw or .gz).\n{}",
            missing.join(", "),
            offline_hint()
        ),
    ))
}
