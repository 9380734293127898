//! `difflab lab --fast` end to end on real MNIST (DIFFLAB_MNIST_DIR), offline and with an empty
//! Hugging Face cache: every module that can run runs, Module 4 is skipped with its reason and
//! command, the report and answer sheets exist, the HTML is well formed with every image
//! embedded or present, all 25 questions appear, the measured values on the sheet are those in
//! the modules' summary files, and a second run reuses the finished modules.

mod common;

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// Run the difflab binary with a clean, offline environment rooted in `home`.
fn difflab(home: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_difflab"))
        .args(args)
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("HF_HOME", home.join("hf"))
        .env_remove("HF_HUB_CACHE")
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("difflab runs");
    assert!(
        out.status.success(),
        "difflab {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const VOID: [&str; 6] = ["meta", "img", "br", "hr", "input", "link"];

/// Check that every element is closed in order (void elements excepted) and return the
/// `src` of every `<img>`. Text inside `<style>` and `<pre>` must not contain `<`.
fn check_tags(html: &str) -> Vec<String> {
    let mut stack: Vec<String> = Vec::new();
    let mut srcs = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with("!--") {
            let end = rest.find("-->").expect("unclosed comment");
            rest = &rest[end + 3..];
            continue;
        }
        let end = rest.find('>').expect("unclosed tag");
        let tag = &rest[..end];
        rest = &rest[end + 1..];
        assert!(!tag.contains('<'), "a '<' inside the tag <{tag}>");
        if tag.starts_with('!') {
            assert!(
                tag.eq_ignore_ascii_case("!DOCTYPE html"),
                "unexpected declaration <{tag}>"
            );
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(open, name.trim(), "</{name}> closes <{open}>");
            continue;
        }
        let name: String = tag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        assert!(!name.is_empty(), "bad tag <{tag}>");
        if name == "img" {
            let s = tag.split("src=\"").nth(1).expect("img without src");
            srcs.push(s[..s.find('"').expect("src quoted")].to_string());
        }
        if !VOID.contains(&name.as_str()) && !tag.ends_with('/') {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    srcs
}

/// Decode standard base64, panicking on anything else.
fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {}", c as char),
        }
    };
    assert_eq!(s.len() % 4, 0, "base64 length");
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let n = chunk
            .iter()
            .take(4 - pad)
            .enumerate()
            .fold(0u32, |acc, (k, &c)| acc | val(c) << (18 - 6 * k));
        out.extend_from_slice(&n.to_be_bytes()[1..4 - pad]);
    }
    out
}

fn check_images(dir: &Path, srcs: &[String]) {
    for src in srcs {
        if let Some(data) = src.strip_prefix("data:") {
            let (mime, b64) = data.split_once(";base64,").expect("base64 data URI");
            let bytes = unbase64(b64);
            match mime {
                "image/png" => assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "embedded PNG"),
                "image/gif" => assert_eq!(&bytes[..4], b"GIF8", "embedded GIF"),
                other => panic!("unexpected image type {other}"),
            }
            image::load_from_memory(&bytes).expect("the embedded image decodes");
        } else {
            assert!(
                dir.join(src).is_file(),
                "the report shows {src}, which does not exist"
            );
        }
    }
}

/// Seconds as the report writes them: "41.3 s" or "2 min 05 s".
fn secs(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {:02.0} s", (s / 60.0).floor(), s % 60.0)
    }
}

/// The block of the Markdown sheet from question `q`'s heading to the next question's.
fn sheet_block(md: &str, q: usize) -> &str {
    let start = md
        .find(&format!("**Q{q} ·"))
        .unwrap_or_else(|| panic!("Q{q} missing from the sheet"));
    let tail = &md[start + 4..];
    let end = tail.find("**Q").unwrap_or(tail.len());
    &md[start..start + 4 + end]
}

#[test]
fn fast_lab_offline_runs_every_module_it_can_and_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    let dir = home.join("lab8-report");
    let d = dir.to_str().unwrap();
    let tiny = common::fixtures_dir().join("unet_tiny");
    let out = difflab(
        home,
        &[
            "lab",
            "--fast",
            "--out",
            d,
            "--pretrained-model",
            tiny.to_str().unwrap(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains(&dir.join("index.html").display().to_string()),
        "the lab ends with the report's path: {stdout}"
    );
    for k in 1..=6 {
        assert!(
            stderr.contains(&format!("[{k}/6]")),
            "no overall progress line {k}/6:\n{stderr}"
        );
    }

    let index = read(&dir.join("index.html"));
    let md = read(&dir.join("answer-sheet.md"));
    let sheet_html = read(&dir.join("answer-sheet.html"));
    let srcs = check_tags(&index);
    check_tags(&sheet_html);
    assert!(
        srcs.len() >= 10,
        "the report shows Module 1's six and Module 2's four figures, got {}",
        srcs.len()
    );
    check_images(&dir, &srcs);
    for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !index.contains(attr),
            "the report loads nothing from the network ({attr})"
        );
    }

    for q in 1..=25 {
        assert!(
            index.contains(&format!("id=\"q{q}\"")),
            "Q{q} missing from the report"
        );
        assert!(
            sheet_html.contains(&format!("id=\"q{q}\"")),
            "Q{q} missing from answer-sheet.html"
        );
        sheet_block(&md, q);
    }
    assert!(md.contains("Name:") && md.contains("Date:") && sheet_html.contains("<th>Name</th>"));

    let record = json(&dir.join("lab.json"));
    let stages = record["stages"].as_array().unwrap();
    for name in [
        "forward",
        "train",
        "sample",
        "eval",
        "control",
        "pretrained",
    ] {
        let s = stages.iter().find(|s| s["stage"] == name).unwrap();
        assert_eq!(s["status"], "ran", "{s}");
    }
    assert!(
        srcs.len() >= 17,
        "Modules 1, 2 and 4 write 6 + 4 + 3 figures and the conditioning section 4, the report shows {}",
        srcs.len()
    );
    // From digits to DALL-E: the conditional grid, the guidance sweep and inpainting, with
    // the sweep's numbers, and questions 4 and 25 pointing to it.
    for f in [
        "control/conditional.png",
        "control/guidance.png",
        "control/inpaint/inpaint.png",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let sweep = json(&dir.join("control/guidance.json"));
    assert_eq!(
        sweep["runs"].as_array().unwrap().len(),
        5,
        "w = 0, 1, 2, 4, 7"
    );
    assert!(index.contains("id=\"control\"") && index.contains("classifier-free guidance"));
    let agree = sweep["runs"][2]["agreement"].as_f64().unwrap();
    assert!(
        index.contains(&format!("{:.1}%", 100.0 * agree)),
        "the sweep's numbers are in the report"
    );
    for q in [4, 25] {
        assert!(
            sheet_block(&md, q).contains("From digits to DALL-E"),
            "Q{q}"
        );
    }
    let m4 = json(&dir.join("module4/summary.json"));
    for run in m4["timings"]["steps_figure"].as_array().unwrap() {
        let line = format!(
            "{}, {} steps: **{}**",
            run["sampler"].as_str().unwrap().to_uppercase(),
            run["steps"],
            secs(run["seconds"].as_f64().unwrap())
        );
        assert!(
            sheet_block(&md, 22).contains(&line),
            "{line} in {}",
            sheet_block(&md, 22)
        );
    }

    // Measured values on the sheet are the modules' own.
    let m1 = json(&dir.join("module1/summary.json"));
    let m2 = json(&dir.join("module2/summary.json"));
    let ev = json(&dir.join("evaluation/eval.json"));
    let t_snr = m1["first_t_snr_below_1"].as_u64().unwrap();
    assert!(
        sheet_block(&md, 7).contains(&format!("**t = {t_snr}**")),
        "{}",
        sheet_block(&md, 7)
    );
    let loss = m2["final_loss"].as_f64().unwrap();
    assert!(
        sheet_block(&md, 11).contains(&format!("**{loss:.4}**")),
        "{}",
        sheet_block(&md, 11)
    );
    let train_s = m2["train_seconds"].as_f64().unwrap();
    assert!(
        sheet_block(&md, 12).contains(&format!("training time: **{}**", secs(train_s))),
        "{}",
        sheet_block(&md, 12)
    );
    let estimate = record["training_estimate_seconds"]
        .as_f64()
        .expect("an estimate was made before training");
    assert!(estimate > 0.0);
    let q10 = sheet_block(&md, 10);
    assert!(
        q10.contains(&format!("**{}**", secs(estimate))) && q10.contains("My prediction"),
        "{q10}"
    );
    let fid = ev["fid"].as_f64().unwrap();
    assert!(
        sheet_block(&md, 19).contains(&format!("FID {fid:.2}")),
        "{}",
        sheet_block(&md, 19)
    );
    // Conceptual questions are never answered for the student.
    for q in [
        1, 2, 3, 4, 5, 6, 8, 9, 13, 14, 15, 16, 17, 20, 21, 23, 24, 25,
    ] {
        assert!(
            !sheet_block(&md, q).contains("Measured"),
            "Q{q} is conceptual: {}",
            sheet_block(&md, q)
        );
    }
    // The report quotes the same numbers.
    assert!(
        index.contains(&format!("<b>{loss:.4}</b>")),
        "final loss in the report"
    );
    assert!(
        index.contains(&format!("from <b>t = {t_snr}</b>")),
        "SNR crossing in the report"
    );
    let params = m2["params"].as_u64().unwrap();
    let params_text = params
        .to_string()
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(",");
    assert!(
        index.contains(&format!("<b>{params_text}</b> parameters")),
        "parameter count {params_text} in the report"
    );

    // Again, offline with an empty Hugging Face cache and the default model: the finished
    // modules are reused, Module 4 cannot be fetched and is skipped, and the report says so.
    let again = difflab(home, &["lab", "--fast", "--out", d]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("reusing the finished outputs"), "{stderr}");
    let record2 = json(&dir.join("lab.json"));
    for s in record2["stages"].as_array().unwrap() {
        let expected = if s["stage"] == "pretrained" {
            "skipped"
        } else {
            "reused"
        };
        assert_eq!(s["status"], expected, "{s}");
    }
    let m4 = record2["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stage"] == "pretrained")
        .unwrap()
        .clone();
    assert!(
        m4["reason"]
            .as_str()
            .unwrap()
            .contains("google/ddpm-cifar10-32"),
        "{m4}"
    );
    let index = read(&dir.join("index.html"));
    check_images(&dir, &check_tags(&index));
    assert!(
        index.contains("Module 4 · a pretrained CIFAR-10 model was skipped"),
        "the report says Module 4 was skipped"
    );
    assert!(
        index.contains("difflab pretrained --count"),
        "the report gives the command to run Module 4 later"
    );
    assert_eq!(
        record2["training_estimate_seconds"],
        record["training_estimate_seconds"]
    );
    assert_eq!(
        json(&dir.join("module2/summary.json")),
        m2,
        "Module 2 was not retrained"
    );
    let md = read(&dir.join("answer-sheet.md"));
    assert!(sheet_block(&md, 11).contains(&format!("**{loss:.4}**")));
}
