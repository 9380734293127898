//! Find a pretrained diffusers model: a local folder, or a Hugging Face repo id fetched with
//! `hf-hub` into the standard Hugging Face cache (so Python's `diffusers` and difflab share it).
//!
//! Resolution order for a repo id: the cache first (no network at all when `config.json` and
//! the weights are there, so a cached model works offline), then the hub unless
//! `HF_HUB_OFFLINE` is set. The cache folder follows `huggingface_hub`: `HF_HUB_CACHE`, else
//! `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
//! Files: `config.json`, the weights (`diffusion_pytorch_model.safetensors`, else `.bin`) and
//! the optional `scheduler_config.json` — at the repo root or in `unet/` and `scheduler/`.

use crate::models::unet_2d::WEIGHT_FILES;
use crate::{Error, Result};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo};
use std::path::{Path, PathBuf};

/// The model `difflab pretrained` runs by default.
pub const DEFAULT_MODEL: &str = "google/ddpm-cifar10-32";

/// Where a model's files were found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A folder given on the command line.
    LocalFolder,
    /// The Hugging Face cache, without touching the network.
    Cache,
    /// Downloaded from the hub just now (and now cached).
    Download,
}

/// The files of a resolved model.
#[derive(Clone, Debug)]
pub struct ModelFiles {
    /// The repo id, or the folder as given.
    pub id: String,
    /// The commit of a hub snapshot (its folder name in the cache), if known.
    pub revision: Option<String>,
    /// Where the files came from.
    pub source: ModelSource,
    /// `config.json` of the UNet.
    pub config: PathBuf,
    /// `diffusion_pytorch_model.safetensors` or `.bin`.
    pub weights: PathBuf,
    /// `scheduler_config.json`, when the model has one (else use DDPMScheduler's defaults).
    pub scheduler_config: Option<PathBuf>,
}

/// The hub settings taken from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubEnv {
    /// The hub cache folder (the one holding `models--owner--name`).
    pub cache_dir: PathBuf,
    /// `HF_HUB_OFFLINE`: never touch the network.
    pub offline: bool,
    /// `HF_ENDPOINT`, if set.
    pub endpoint: Option<String>,
}

impl HubEnv {
    /// Read `HF_HUB_CACHE`, `HF_HOME`, `XDG_CACHE_HOME`, `HOME`, `HF_HUB_OFFLINE`, `HF_ENDPOINT`.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Like [`Self::from_env`] with an explicit variable lookup (tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Self {
        let cache_dir = if let Some(c) = var("HF_HUB_CACHE") {
            PathBuf::from(c)
        } else if let Some(h) = var("HF_HOME") {
            PathBuf::from(h).join("hub")
        } else if let Some(x) = var("XDG_CACHE_HOME") {
            PathBuf::from(x).join("huggingface").join("hub")
        } else {
            let home = var("HOME")
                .or_else(|| var("USERPROFILE"))
                .unwrap_or_else(|| ".".into());
            PathBuf::from(home)
                .join(".cache")
                .join("huggingface")
                .join("hub")
        };
        let offline = var("HF_HUB_OFFLINE")
            .map(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            })
            .unwrap_or(false);
        HubEnv {
            cache_dir,
            offline,
            endpoint: var("HF_ENDPOINT"),
        }
    }
}

/// Resolve `--model`: an existing folder, else a Hugging Face repo id (environment as in
/// [`HubEnv::from_env`]).
pub fn resolve_model(spec: &str) -> Result<ModelFiles> {
    resolve_model_with(spec, &HubEnv::from_env())
}

/// [`resolve_model`] with explicit hub settings.
pub fn resolve_model_with(spec: &str, env: &HubEnv) -> Result<ModelFiles> {
    let path = Path::new(spec);
    if path.is_dir() {
        return resolve_local(path);
    }
    if !looks_like_repo_id(spec) {
        return Err(Error::invalid(format!(
            "--model {spec}: no such folder, and not a Hugging Face repo id (owner/name)"
        )));
    }
    if let Some(found) = resolve_cached(spec, &env.cache_dir) {
        return Ok(found);
    }
    if env.offline {
        return Err(unavailable(
            spec,
            env,
            "HF_HUB_OFFLINE is set and the model is not in the cache",
        ));
    }
    download(spec, env)
}

/// A model folder on disk (`config.json` and weights at its root or in `unet/`).
pub fn resolve_local(dir: &Path) -> Result<ModelFiles> {
    let (config, weights) = crate::models::unet_2d::locate_model_files(dir)?;
    let scheduler_config = ["scheduler_config.json", "scheduler/scheduler_config.json"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file());
    Ok(ModelFiles {
        id: dir.display().to_string(),
        revision: None,
        source: ModelSource::LocalFolder,
        config,
        weights,
        scheduler_config,
    })
}

/// The model from the cache alone, if `config.json` and a weights file are there.
pub fn resolve_cached(repo_id: &str, cache_dir: &Path) -> Option<ModelFiles> {
    let repo = Cache::new(cache_dir.to_path_buf()).repo(Repo::model(repo_id.to_string()));
    for sub in ["", "unet/"] {
        let Some(config) = repo.get(&format!("{sub}config.json")) else {
            continue;
        };
        let Some(weights) = WEIGHT_FILES
            .iter()
            .find_map(|f| repo.get(&format!("{sub}{f}")))
        else {
            continue;
        };
        let scheduler_config = repo
            .get("scheduler_config.json")
            .or_else(|| repo.get("scheduler/scheduler_config.json"));
        return Some(ModelFiles {
            id: repo_id.to_string(),
            revision: snapshot_of(&config, sub),
            source: ModelSource::Cache,
            config,
            weights,
            scheduler_config,
        });
    }
    None
}

/// The snapshot folder name (a commit hash) of a file `snapshots/<rev>/<sub><file>`.
fn snapshot_of(file: &Path, sub: &str) -> Option<String> {
    let mut dir = file.parent()?;
    if !sub.is_empty() {
        dir = dir.parent()?;
    }
    Some(dir.file_name()?.to_string_lossy().into_owned())
}

/// `owner/name` made of the characters the hub allows.
fn looks_like_repo_id(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && !p.starts_with('.')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        })
}

/// Fetch the files from the hub into the cache (progress bars from `hf-hub`).
fn download(repo_id: &str, env: &HubEnv) -> Result<ModelFiles> {
    let mut builder = ApiBuilder::from_cache(Cache::new(env.cache_dir.clone())).with_progress(true);
    if let Some(ep) = &env.endpoint {
        builder = builder.with_endpoint(ep.clone());
    }
    let api = builder
        .build()
        .map_err(|e| unavailable(repo_id, env, &e.to_string()))?;
    let repo = api.model(repo_id.to_string());
    let (sub, config) = match repo.get("config.json") {
        Ok(p) => ("", p),
        Err(root_err) => match repo.get("unet/config.json") {
            Ok(p) => ("unet/", p),
            Err(_) => {
                return Err(unavailable(
                    repo_id,
                    env,
                    &format!("config.json: {root_err}"),
                ))
            }
        },
    };
    let mut errors = Vec::new();
    let mut weights = None;
    for f in WEIGHT_FILES {
        match repo.get(&format!("{sub}{f}")) {
            Ok(p) => {
                weights = Some(p);
                break;
            }
            Err(e) => errors.push(format!("{f}: {e}")),
        }
    }
    let weights = weights.ok_or_else(|| unavailable(repo_id, env, &errors.join("; ")))?;
    let scheduler_config = repo
        .get("scheduler_config.json")
        .or_else(|_| repo.get("scheduler/scheduler_config.json"))
        .ok();
    Ok(ModelFiles {
        id: repo_id.to_string(),
        revision: snapshot_of(&config, sub),
        source: ModelSource::Download,
        config,
        weights,
        scheduler_config,
    })
}

/// The message for a model that is neither cached nor downloadable: what to run once online,
/// and how to use a local folder instead.
fn unavailable(repo_id: &str, env: &HubEnv, why: &str) -> Error {
    Error::Unavailable(format!(
        "cannot load `{repo_id}`: it is not in the Hugging Face cache ({cache}) and could not be downloaded ({why}).\n\
         To fix this, either:\n  \
         - run once with network access (and HF_HUB_OFFLINE unset): `difflab pretrained --model {repo_id}` \
           (or `huggingface-cli download {repo_id}`); the files are cached in {cache} and later runs work offline;\n  \
         - or copy config.json, {weights} (and scheduler_config.json) from https://huggingface.co/{repo_id} into a folder \
           and pass it: `difflab pretrained --model path/to/folder`.",
        cache = env.cache_dir.display(),
        weights = WEIGHT_FILES[0],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_told_from_paths() {
        assert!(looks_like_repo_id("google/ddpm-cifar10-32"));
        assert!(looks_like_repo_id("a_b/c.d"));
        assert!(!looks_like_repo_id("google"));
        assert!(!looks_like_repo_id("./models/x"));
        assert!(!looks_like_repo_id("/abs/path"));
        assert!(!looks_like_repo_id("a/b/c"));
        assert!(!looks_like_repo_id("a/../b"));
    }

    #[test]
    fn cache_folder_follows_huggingface_hub_precedence() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            HubEnv::from_lookup(move |k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        assert_eq!(
            env(&[("HF_HUB_CACHE", "/c"), ("HF_HOME", "/h")]).cache_dir,
            PathBuf::from("/c")
        );
        assert_eq!(
            env(&[("HF_HOME", "/h"), ("XDG_CACHE_HOME", "/x")]).cache_dir,
            PathBuf::from("/h/hub")
        );
        assert_eq!(
            env(&[("XDG_CACHE_HOME", "/x"), ("HOME", "/u")]).cache_dir,
            PathBuf::from("/x/huggingface/hub")
        );
        assert_eq!(
            env(&[("HOME", "/u")]).cache_dir,
            PathBuf::from("/u/.cache/huggingface/hub")
        );
        assert!(env(&[("HF_HUB_OFFLINE", "1")]).offline);
        assert!(env(&[("HF_HUB_OFFLINE", "True")]).offline);
        assert!(!env(&[("HF_HUB_OFFLINE", "0")]).offline);
        assert!(!env(&[]).offline);
    }
}
