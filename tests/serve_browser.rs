//! `difflab serve` in a real browser: starts the `difflab serve` binary on an ephemeral loopback
//! port and runs `node tests/browser/lab.mjs` (playwright-core driving Debian's headless
//! Chromium). Screenshots land in `target/browser-screenshots/`. Needs `/usr/bin/chromium` (or
//! `$CHROMIUM`), `node`, and `npm install --prefix tests/browser` (`.ci/run` does both); fails
//! with a message saying which is missing. MNIST comes from `DIFFLAB_MNIST_DIR`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Kills the server it holds when dropped, so a failed test leaves nothing running.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prerequisites(root: &Path) -> PathBuf {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.is_file(),
        "no Chromium at {}: install Debian's (apt-get install -y chromium) or set CHROMIUM",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.map(|o| o.status.success()).unwrap_or(false),
        "`node` is not on PATH: install Node.js (apt-get install -y nodejs npm)"
    );
    assert!(
        root.join("tests/browser/node_modules/playwright-core").is_dir(),
        "tests/browser/node_modules/playwright-core is missing: run `npm install --prefix tests/browser`"
    );
    chromium
}

#[test]
fn the_lab_page_works_in_headless_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let chromium = prerequisites(&root);
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_difflab"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("difflab serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the server prints its address");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in the server's first line: {line}"))
        .to_string();
    let shots = root.join("target/browser-screenshots");
    let out = Command::new("node")
        .arg(root.join("tests/browser/lab.mjs"))
        .env("DIFFLAB_SERVE_URL", &url)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .current_dir(&root)
        .output()
        .expect("node runs");
    drop(server);
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{text}",
        shots.display()
    );
}
