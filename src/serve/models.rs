//! The trained models the page can sample from: checkpoint folders under `--data/models/` (each
//! a normal `difflab train` folder) and the one given with `--model`. A request names a model
//! by its folder name only, checked against this list, so no request reaches outside `--data`.

use super::error::{ApiError, ApiResult};
use super::lab_api;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The name under which the `--model` folder is listed.
pub const GIVEN: &str = "given";

/// Where models live.
pub struct Models {
    dir: PathBuf,
    given: Option<PathBuf>,
    /// Serialises the choice of new run folders.
    naming: Mutex<()>,
}

/// A model name is 1-64 letters, digits, `-` or `_` (never a path).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Models {
    /// Models in `dir` (`--data/models`), plus `given` (`--model`).
    pub fn new(dir: PathBuf, given: Option<PathBuf>) -> Self {
        Models {
            dir,
            given,
            naming: Mutex::new(()),
        }
    }

    fn folders(&self) -> Vec<(String, PathBuf, std::time::SystemTime)> {
        let mut out = Vec::new();
        if let Some(g) = &self.given {
            out.push((
                GIVEN.to_string(),
                g.clone(),
                std::time::SystemTime::UNIX_EPOCH,
            ));
        }
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let cfg = e.path().join(lab_api::CHECKPOINT_CONFIG);
                if valid_name(&name) && name != GIVEN {
                    if let Ok(m) = std::fs::metadata(&cfg).and_then(|m| m.modified()) {
                        out.push((name, e.path(), m));
                    }
                }
            }
        }
        // Newest first; the given model after every model trained here.
        out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Every model with what its `config.json` says (newest first).
    pub fn list(&self) -> Vec<Value> {
        self.folders()
            .into_iter()
            .map(|(name, dir, _)| match lab_api::model_view(&dir) {
                Ok(m) => json!({
                    "name": name, "arch": m.arch, "digits": m.digits, "epochs": m.epochs,
                    "image_size": m.image_size, "timesteps": m.timesteps,
                    "conditional": m.conditional, "final_loss": m.final_loss,
                }),
                Err(e) => json!({ "name": name, "error": e.to_string() }),
            })
            .collect()
    }

    /// The folder of model `name`, or of the newest model when `None`.
    pub fn resolve(&self, name: Option<&str>) -> ApiResult<(String, PathBuf)> {
        let all = self.folders();
        match name {
            None => all
                .into_iter()
                .next()
                .map(|(n, d, _)| (n, d))
                .ok_or_else(|| {
                    ApiError::conflict("no trained model yet: train one in Module 2 first")
                }),
            Some(n) if !valid_name(n) => Err(ApiError::bad_request(format!(
                "model: '{n}' is not a model name (letters, digits, - and _)"
            ))),
            Some(n) => all
                .into_iter()
                .find(|(m, _, _)| m == n)
                .map(|(n, d, _)| (n, d))
                .ok_or_else(|| ApiError::not_found(format!("model: no model named '{n}'"))),
        }
    }

    /// A new, empty run folder `run-N` under the models folder (N one more than any so far).
    pub fn new_run(&self) -> ApiResult<(String, PathBuf)> {
        let _g = self.naming.lock().unwrap_or_else(|p| p.into_inner());
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            ApiError::internal(format!("could not create {}: {e}", self.dir.display()))
        })?;
        let n = next_run_number(&self.dir);
        let name = format!("run-{n}");
        let dir = self.dir.join(&name);
        std::fs::create_dir(&dir)
            .map_err(|e| ApiError::internal(format!("could not create {}: {e}", dir.display())))?;
        Ok((name, dir))
    }
}

fn next_run_number(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_prefix("run-"))
                        .and_then(|n| n.parse::<u64>().ok())
                })
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
        + 1
}
