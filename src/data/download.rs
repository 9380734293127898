//! Downloading MNIST: each of the four files is fetched from a list of mirrors in turn
//! (`{base}/{name}.gz`), decompressed, checked against the SHA-256 of its *decompressed* content
//! (mirrors recompress the `.gz` wrappers, so only the content is comparable), and written
//! atomically, decompressed, into the destination folder. A file already there with the right
//! checksum is kept, so an interrupted download resumes file by file.

use super::files::{offline_hint, MnistFile, MNIST_FILES};
use super::idx::decompress_if_gzip;
use crate::util::fsio::write_atomic;
use crate::{Error, Result};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Public MNIST mirrors (base URLs), tried in this order.
pub const DEFAULT_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist",
    "https://storage.googleapis.com/cvdf-datasets/mnist",
    "http://yann.lecun.com/exdb/mnist",
];

/// Environment variable overriding the mirror list: comma-separated base URLs.
pub const ENV_MNIST_MIRRORS: &str = "DIFFLAB_MNIST_MIRRORS";

/// No MNIST file is near this size; a larger body means a wrong URL, and is not read further.
const MAX_BODY_BYTES: u64 = 128 << 20;

/// The mirrors to use: `DIFFLAB_MNIST_MIRRORS` if set, else [`DEFAULT_MIRRORS`].
pub fn mirrors_from_env() -> Vec<String> {
    match std::env::var(ENV_MNIST_MIRRORS) {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => DEFAULT_MIRRORS.iter().map(|s| s.to_string()).collect(),
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Download the four MNIST files into `dest` from `mirrors` (base URLs, tried in turn per file).
///
/// Every file's decompressed content must match its known SHA-256; a mismatch counts as a
/// failed mirror (the next one is tried) and nothing is written for it. When every mirror fails
/// for some file, the error lists each attempt and says how to work offline.
pub fn download_mnist(dest: &Path, mirrors: &[String]) -> Result<()> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .build();
    for file in &MNIST_FILES {
        let target = dest.join(file.name);
        if target.is_file()
            && std::fs::read(&target)
                .map(|b| sha256_hex(&b) == file.sha256)
                .unwrap_or(false)
        {
            continue;
        }
        let mut attempts = Vec::new();
        let mut done = false;
        for base in mirrors {
            let url = format!("{}/{}.gz", base.trim_end_matches('/'), file.name);
            match fetch_verified(&agent, &url, file) {
                Ok(content) => {
                    write_atomic(&target, &content)?;
                    done = true;
                    break;
                }
                Err(msg) => attempts.push(format!("  {url}: {msg}")),
            }
        }
        if !done {
            let tried = if attempts.is_empty() {
                "  (no mirrors configured)".to_string()
            } else {
                attempts.join("\n")
            };
            return Err(Error::Unavailable(format!(
                "could not download {} into {} from any mirror:\n{tried}\n{}",
                file.name,
                dest.display(),
                offline_hint()
            )));
        }
    }
    Ok(())
}

/// Fetch `url`, decompress it and check it is `file`; the error is a short reason.
fn fetch_verified(
    agent: &ureq::Agent,
    url: &str,
    file: &MnistFile,
) -> std::result::Result<Vec<u8>, String> {
    let resp = agent.get(url).call().map_err(|e| match e {
        ureq::Error::Status(code, r) => format!("HTTP {code} {}", r.status_text()),
        ureq::Error::Transport(t) => match t.message() {
            Some(m) => format!("{} ({m})", t.kind()),
            None => t.kind().to_string(),
        },
    })?;
    let len = resp
        .header("Content-Length")
        .and_then(|s| s.parse::<u64>().ok());
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n).with_style(
            indicatif::ProgressStyle::with_template(
                "{msg:>26} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    };
    bar.set_message(format!("{}.gz", file.name));
    let mut body = Vec::new();
    bar.wrap_read(resp.into_reader().take(MAX_BODY_BYTES))
        .read_to_end(&mut body)
        .map_err(|e| format!("download interrupted ({e})"))?;
    bar.finish_and_clear();
    let content = decompress_if_gzip(Path::new(url), body).map_err(|e| match e {
        Error::File { msg, .. } => msg,
        other => other.to_string(),
    })?;
    let got = sha256_hex(&content);
    if got != file.sha256 {
        return Err(format!(
            "SHA-256 mismatch: the decompressed content hashes to {got}, expected {} (a corrupt or different file)",
            file.sha256
        ));
    }
    Ok(content)
}
