//! `difflab forward` (Module 1) end to end on real MNIST: files, sizes, and the numbers in
//! summary.json against an independent computation; bad input gives clear errors.

mod common;
use common::{difflab, mnist_dir};
use image::AnimationDecoder;
use serde_json::Value;
use std::io::Read;
use std::path::Path;

/// The training labels, read here without difflab's parser.
fn train_labels() -> Vec<u8> {
    let dir = mnist_dir();
    let (raw, gz) = (
        dir.join("train-labels-idx1-ubyte"),
        dir.join("train-labels-idx1-ubyte.gz"),
    );
    let mut bytes = Vec::new();
    if raw.is_file() {
        bytes = std::fs::read(raw).unwrap();
    } else {
        flate2::read::GzDecoder::new(std::fs::File::open(gz).unwrap())
            .read_to_end(&mut bytes)
            .unwrap();
    }
    bytes[8..].to_vec()
}

/// ᾱ_t for linear betas, in plain f64.
fn linear_alpha_bar(t_total: usize, b0: f64, b1: f64) -> Vec<f64> {
    let mut acc = 1.0;
    (0..t_total)
        .map(|i| {
            acc *= 1.0 - (b0 + (b1 - b0) * i as f64 / (t_total - 1) as f64);
            acc
        })
        .collect()
}

/// ᾱ_t for the cosine schedule: the product telescopes to f((t+1)/T) / f(0), except that the
/// last β is capped at 0.999.
fn cosine_alpha_bar(t_total: usize) -> Vec<f64> {
    let f = |s: f64| {
        ((s + 0.008) / 1.008 * std::f64::consts::FRAC_PI_2)
            .cos()
            .powi(2)
    };
    let mut v: Vec<f64> = (0..t_total)
        .map(|t| f((t + 1) as f64 / t_total as f64) / f(0.0))
        .collect();
    v[t_total - 1] = v[t_total - 2] * 0.001;
    v
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

fn check_summary(s: &Value, ab: &[f64]) {
    let t_total = ab.len();
    let ats = s["alpha_bar"].as_array().expect("alpha_bar list");
    let want = [
        ("0", 0),
        ("T/4", t_total / 4),
        ("T/2", t_total / 2),
        ("3T/4", 3 * t_total / 4),
        ("T-1", t_total - 1),
    ];
    assert_eq!(ats.len(), 5);
    for (a, (name, t)) in ats.iter().zip(want) {
        assert_eq!(a["at"], name);
        assert_eq!(a["t"].as_u64().unwrap() as usize, t);
        let v = a["alpha_bar"].as_f64().unwrap();
        // The schedule rounds β and α to f32 as diffusers does; plain f64 agrees to ~1e-5.
        assert!(close(v, ab[t], 2e-5), "ᾱ at {name}: {v} vs {}", ab[t]);
    }
    let snr: Vec<f64> = ab.iter().map(|a| a / (1.0 - a)).collect();
    let first = |th: f64| {
        snr.iter()
            .position(|&v| v < th)
            .map(|t| Value::from(t as u64))
            .unwrap_or(Value::Null)
    };
    assert_eq!(s["first_t_snr_below_1"], first(1.0));
    assert_eq!(s["first_t_snr_below_0_1"], first(0.1));
    let share = &s["signal_share_at_3t_4"];
    let t34 = 3 * t_total / 4;
    assert_eq!(share["t"].as_u64().unwrap() as usize, t34);
    assert!(close(share["signal"].as_f64().unwrap(), ab[t34], 2e-5));
    assert!(
        (share["signal"].as_f64().unwrap() + share["noise"].as_f64().unwrap() - 1.0).abs() < 1e-12
    );
}

fn check_files(out: &Path, s: &Value) {
    let files = s["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "schedule.png",
            "noising.png",
            "snr.png",
            "realizations.png",
            "schedules.png",
            "forward.gif"
        ]
    );
    for f in files {
        let path = out.join(f["name"].as_str().unwrap());
        let (w, h) = (
            f["width"].as_u64().unwrap() as u32,
            f["height"].as_u64().unwrap() as u32,
        );
        if path.extension().unwrap() == "png" {
            let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!((img.width(), img.height()), (w, h), "{}", path.display());
            assert!(w >= 600 && h >= 300, "{} is {w}×{h}", path.display());
        } else {
            let dec = image::codecs::gif::GifDecoder::new(std::io::BufReader::new(
                std::fs::File::open(&path).unwrap(),
            ))
            .unwrap();
            let frames: Vec<_> = dec.into_frames().collect::<Result<_, _>>().unwrap();
            assert!(frames.len() >= 30, "{} frames", frames.len());
            let ms: u32 = frames
                .iter()
                .map(|f| f.delay().numer_denom_ms())
                .map(|(n, d)| n / d)
                .sum();
            assert!((2500..=3500).contains(&ms), "the animation lasts {ms} ms");
            assert_eq!(frames[0].buffer().dimensions(), (w, h));
        }
    }
}

#[test]
fn default_run_writes_every_file_with_the_right_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("module1");
    let o = difflab(&["forward", "--out", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "exit {:?}\n{stdout}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();

    let labels = train_labels();
    let first3 = labels.iter().position(|&l| l == 3).unwrap();
    assert_eq!(s["image"]["source"], "mnist-train");
    assert_eq!(s["image"]["index"].as_u64().unwrap() as usize, first3);
    assert_eq!(s["image"]["label"], 3);
    assert_eq!(s["schedule"]["beta_schedule"], "linear");
    assert_eq!(s["schedule"]["num_train_timesteps"], 200);
    assert_eq!(s["schedule"]["beta_start"], 1e-4);
    assert_eq!(s["schedule"]["beta_end"], 0.02);
    assert_eq!(s["seed"], 42);
    let ab = linear_alpha_bar(200, 1e-4, 0.02);
    check_summary(&s, &ab);
    check_files(&out, &s);

    // The terminal summary shows the same numbers and every path.
    let t1 = s["first_t_snr_below_1"].as_u64().unwrap();
    assert!(stdout.contains(&format!("t = {t1}")), "{stdout}");
    assert!(stdout.contains(&format!("{:.4}", ab[100])), "{stdout}");
    for name in [
        "schedule.png",
        "noising.png",
        "snr.png",
        "realizations.png",
        "schedules.png",
        "forward.gif",
        "summary.json",
    ] {
        assert!(
            stdout.contains(&out.join(name).display().to_string()),
            "{name} missing from:\n{stdout}"
        );
    }
}

#[test]
fn cosine_schedule_other_digit_and_timesteps() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let o = difflab(&[
        "forward",
        "--schedule",
        "cosine",
        "--timesteps",
        "100",
        "--digit",
        "7",
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let first7 = train_labels().iter().position(|&l| l == 7).unwrap();
    assert_eq!(s["image"]["index"].as_u64().unwrap() as usize, first7);
    assert_eq!(s["schedule"]["beta_schedule"], "squaredcos_cap_v2");
    assert_eq!(s["seed"], 3);
    check_summary(&s, &cosine_alpha_bar(100));
    check_files(out, &s);
}

#[test]
fn index_and_own_image() {
    let dir = tempfile::tempdir().unwrap();
    let o = difflab(&[
        "forward",
        "--index",
        "0",
        "--out",
        dir.path().join("a").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        (s["image"]["index"].as_u64(), s["image"]["label"].as_u64()),
        (Some(0), Some(train_labels()[0] as u64))
    );

    // A dark stroke on white paper, not square: it is read, inverted, and noised.
    let png = dir.path().join("my digit.png");
    let img = image::RgbImage::from_fn(60, 40, |x, y| {
        if (28..33).contains(&x) && (5..35).contains(&y) {
            image::Rgb([20, 20, 30])
        } else {
            image::Rgb([245, 245, 240])
        }
    });
    img.save(&png).unwrap();
    let out = dir.path().join("b");
    let o = difflab(&[
        "forward",
        "--image",
        png.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("inverted"), "{stdout}");
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["image"]["source"], png.display().to_string());
    assert!(s["image"]["index"].is_null() && s["image"]["label"].is_null());
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = difflab(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} should fail");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: '{n}' not in:\n{stderr}");
    }
}

#[test]
fn bad_input_gives_a_clear_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.to_str().unwrap();
    let missing = dir.path().join("no-such-picture.png");
    fails_with(
        &["forward", "--image", missing.to_str().unwrap(), "--out", o],
        &["no-such-picture.png", "No such file"],
    );
    let text = dir.path().join("notes.png");
    std::fs::write(&text, "this is not a picture").unwrap();
    fails_with(
        &["forward", "--image", text.to_str().unwrap(), "--out", o],
        &["notes.png", "could not be read as a PNG or JPEG"],
    );
    fails_with(
        &["forward", "--digit", "12", "--out", o],
        &["--digit 12", "0-9"],
    );
    fails_with(
        &["forward", "--index", "60000", "--out", o],
        &["--index 60000", "out of range"],
    );
    fails_with(
        &["forward", "--schedule", "wiggly", "--out", o],
        &["wiggly", "linear"],
    );
    fails_with(
        &["forward", "--timesteps", "1", "--out", o],
        &["--timesteps 1"],
    );
    assert!(
        !out.join("summary.json").exists(),
        "nothing is written on failure"
    );
}
