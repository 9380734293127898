//! Where MNIST is looked for (flag, env, cache), what happens when it is nowhere, and the
//! downloader against a local HTTP server (mirror fallback, checksum mismatch, resume).

use difflab::data::idx::{encode_idx, read_maybe_gzip};
use difflab::data::{
    cache_dir_from, download_mnist, find_file, missing_files, sha256_hex, MnistLocator,
    MnistSource, MNIST_FILES,
};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A folder with placeholder files for all four names (content is irrelevant to the lookup).
fn complete_dir(gz: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in &MNIST_FILES {
        let name = if gz {
            format!("{}.gz", f.name)
        } else {
            f.name.to_string()
        };
        std::fs::write(d.path().join(name), encode_idx(&[1], &[0])).unwrap();
    }
    d
}

fn offline(flag: Option<&Path>, env: Option<&Path>, cache: Option<&Path>) -> MnistLocator {
    MnistLocator {
        flag_dir: flag.map(Path::to_path_buf),
        env_dir: env.map(Path::to_path_buf),
        cache_dir: cache.map(Path::to_path_buf),
        mirrors: Vec::new(),
    }
}

#[test]
fn the_flag_wins_over_the_env_which_wins_over_the_cache() {
    let (flag, env, cache) = (complete_dir(true), complete_dir(false), complete_dir(true));
    let l = offline(Some(flag.path()), Some(env.path()), Some(cache.path()))
        .locate()
        .unwrap();
    assert_eq!(
        (l.dir.as_path(), l.source),
        (flag.path(), MnistSource::Flag)
    );
    let l = offline(None, Some(env.path()), Some(cache.path()))
        .locate()
        .unwrap();
    assert_eq!((l.dir.as_path(), l.source), (env.path(), MnistSource::Env));
    let l = offline(None, None, Some(cache.path())).locate().unwrap();
    assert_eq!(
        (l.dir.as_path(), l.source),
        (cache.path(), MnistSource::Cache)
    );
}

#[test]
fn an_incomplete_flag_or_env_folder_is_an_error_not_a_fallback() {
    let cache = complete_dir(false);
    let partial = complete_dir(true);
    std::fs::remove_file(partial.path().join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let e = offline(Some(partial.path()), None, Some(cache.path()))
        .locate()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("given by the --mnist-dir flag")
            && e.contains("does not hold t10k-labels-idx1-ubyte ("),
        "{e}"
    );
    assert!(e.contains(&partial.path().display().to_string()), "{e}");
    let e = offline(
        None,
        Some(&partial.path().join("nowhere")),
        Some(cache.path()),
    )
    .locate()
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("DIFFLAB_MNIST_DIR") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn nothing_anywhere_and_no_network_says_how_to_work_offline() {
    let empty = tempfile::tempdir().unwrap();
    let e = offline(None, None, Some(&empty.path().join("cache")))
        .locate()
        .unwrap_err()
        .to_string();
    for f in &MNIST_FILES {
        assert!(e.contains(f.name), "{e}");
    }
    assert!(
        e.contains("DIFFLAB_MNIST_DIR") && e.contains("--mnist-dir"),
        "{e}"
    );
    let e = offline(None, None, None).locate().unwrap_err().to_string();
    assert!(
        e.contains("DIFFLAB_MNIST_DIR")
            && e.contains("--mnist-dir")
            && e.contains("train-images-idx3-ubyte"),
        "{e}"
    );
}

#[test]
fn cache_folder_follows_xdg_then_home() {
    let p = cache_dir_from(Some("/x/cache".into()), Some("/home/u".into()));
    assert_eq!(p, Some(PathBuf::from("/x/cache/difflab/mnist")));
    let p = cache_dir_from(Some("relative/cache".into()), Some("/home/u".into()));
    assert_eq!(p, Some(PathBuf::from("/home/u/.cache/difflab/mnist")));
    assert_eq!(
        cache_dir_from(None, Some("/home/u".into())),
        Some(PathBuf::from("/home/u/.cache/difflab/mnist"))
    );
    assert_eq!(cache_dir_from(None, None), None);
}

#[test]
fn raw_files_are_preferred_to_gz_and_missing_ones_are_listed() {
    let d = complete_dir(true);
    let raw = d.path().join("train-images-idx3-ubyte");
    std::fs::write(&raw, b"x").unwrap();
    assert_eq!(find_file(d.path(), "train-images-idx3-ubyte"), Some(raw));
    assert_eq!(
        find_file(d.path(), "t10k-images-idx3-ubyte"),
        Some(d.path().join("t10k-images-idx3-ubyte.gz"))
    );
    std::fs::remove_file(d.path().join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(missing_files(d.path()), vec!["t10k-images-idx3-ubyte"]);
}

// ---- a tiny HTTP server on 127.0.0.1, serving files from memory ----

struct Server {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serve `files` (URL path → body); anything else is 404. Stops when dropped, after 60 s,
    /// or after 100 requests, whichever comes first.
    fn start(files: HashMap<String, Vec<u8>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log2, stop2) = (log.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline && served < 100 {
                let (mut conn, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                served += 1;
                conn.set_nonblocking(false).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n")
                    && conn.read(&mut byte).map(|n| n == 1).unwrap_or(false)
                {
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                log2.lock().unwrap().push(path.clone());
                let _ = match files.get(&path) {
                    Some(body) => conn
                        .write_all(
                            format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())
                                .as_bytes(),
                        )
                        .and_then(|_| conn.write_all(body)),
                    None => conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                };
            }
        });
        Server {
            base,
            log,
            stop,
            thread: Some(thread),
        }
    }
    fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The real MNIST files (as found by the product's lookup), gzipped, by name.
fn real_gz() -> HashMap<&'static str, Vec<u8>> {
    let dir = MnistLocator::from_env(None)
        .locate()
        .expect("MNIST (set DIFFLAB_MNIST_DIR)")
        .dir;
    MNIST_FILES
        .iter()
        .map(|f| {
            let p = find_file(&dir, f.name).unwrap();
            let content = read_maybe_gzip(&p).unwrap();
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&content).unwrap();
            (f.name, e.finish().unwrap())
        })
        .collect()
}

#[test]
fn download_falls_back_across_mirrors_and_verifies_content() {
    let gz = real_gz();
    let files = gz
        .iter()
        .map(|(n, b)| (format!("/good/{n}.gz"), b.clone()))
        .collect();
    let server = Server::start(files);
    let cache = tempfile::tempdir().unwrap();
    let cache_dir = cache.path().join("difflab").join("mnist");
    let loc = MnistLocator {
        flag_dir: None,
        env_dir: None,
        cache_dir: Some(cache_dir.clone()),
        mirrors: vec![
            format!("{}/missing", server.base),
            format!("{}/good/", server.base),
        ],
    };
    let l = loc.locate().unwrap();
    assert_eq!(
        (l.dir.as_path(), l.source),
        (cache_dir.as_path(), MnistSource::Downloaded)
    );
    for f in &MNIST_FILES {
        // Stored decompressed, with the known checksum.
        let bytes = std::fs::read(cache_dir.join(f.name)).unwrap();
        assert_eq!(sha256_hex(&bytes), f.sha256, "{}", f.name);
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), 8, "{reqs:?}");
    assert_eq!(reqs[0], "/missing/train-images-idx3-ubyte.gz");
    assert_eq!(reqs[1], "/good/train-images-idx3-ubyte.gz");
    // A second lookup finds the cache and downloads nothing.
    assert_eq!(loc.locate().unwrap().source, MnistSource::Cache);
    assert_eq!(server.requests().len(), 8);
}

#[test]
fn a_checksum_mismatch_is_an_error_and_writes_nothing() {
    let gz = real_gz();
    // Every name serves the (valid, gzipped) test labels: the right format, the wrong content.
    let wrong = gz["t10k-labels-idx1-ubyte"].clone();
    let files = MNIST_FILES
        .iter()
        .map(|f| (format!("/m/{}.gz", f.name), wrong.clone()))
        .collect();
    let server = Server::start(files);
    let dest = tempfile::tempdir().unwrap();
    let e = download_mnist(dest.path(), &[format!("{}/m", server.base)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("SHA-256 mismatch"),
        "{e}"
    );
    assert!(e.contains(MNIST_FILES[0].sha256), "{e}");
    assert!(
        e.contains("--mnist-dir") && e.contains("DIFFLAB_MNIST_DIR"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(dest.path()).unwrap().count(),
        0,
        "nothing may be written"
    );
}

#[test]
fn download_keeps_verified_files_and_fetches_only_the_rest() {
    let gz = real_gz();
    let files = gz
        .iter()
        .map(|(n, b)| (format!("/m/{n}.gz"), b.clone()))
        .collect();
    let server = Server::start(files);
    let dest = tempfile::tempdir().unwrap();
    // A correct file already there is kept; a corrupt one is replaced.
    let good = flate2::read::GzDecoder::new(gz["train-images-idx3-ubyte"].as_slice());
    let mut content = Vec::new();
    { good }.read_to_end(&mut content).unwrap();
    std::fs::write(dest.path().join("train-images-idx3-ubyte"), &content).unwrap();
    std::fs::write(dest.path().join("train-labels-idx1-ubyte"), b"corrupt").unwrap();
    download_mnist(dest.path(), &[format!("{}/m", server.base)]).unwrap();
    let reqs = server.requests();
    assert!(!reqs.iter().any(|r| r.contains("train-images")), "{reqs:?}");
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    let labels = std::fs::read(dest.path().join("train-labels-idx1-ubyte")).unwrap();
    assert_eq!(sha256_hex(&labels), MNIST_FILES[1].sha256);
}
