//! `difflab sample` (Module 3) end to end on a small checkpoint trained here by `difflab train`
//! (real MNIST, T = 60 so that `steps.png` compares 50 and all 60 steps): every file with its
//! size, the summary's numbers, bit-identical output for the same seed, and clear errors.

mod common;
use common::difflab;
use image::AnimationDecoder;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

/// T of the test checkpoint.
const T: usize = 60;

fn ok(args: &[&str]) -> String {
    let out = difflab(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "difflab {args:?} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn err(args: &[&str]) -> String {
    let out = difflab(args);
    assert!(!out.status.success(), "difflab {args:?} should fail");
    assert_eq!(out.status.code(), Some(1), "a clear error, not a panic");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A checkpoint trained once for all tests: digits 1 and 7, 64 images, 2 steps of 32, T = 60.
fn checkpoint() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let o = dir.path().to_str().unwrap();
        let t = T.to_string();
        ok(&[
            "train",
            "--digits",
            "1,7",
            "--limit",
            "64",
            "--batch-size",
            "32",
            "--epochs",
            "1",
            "--timesteps",
            &t,
            "--no-figures",
            "--out",
            o,
        ]);
        dir
    })
    .path()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn sample_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn writes_every_figure_the_samples_and_the_summary() {
    let ck = checkpoint().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    // Left over from an earlier, larger run: removed. Other files are kept.
    std::fs::create_dir_all(out.path().join("samples")).unwrap();
    std::fs::write(out.path().join("samples/0099.png"), b"stale").unwrap();
    std::fs::write(out.path().join("samples/notes.txt"), b"mine").unwrap();

    let text = ok(&[
        "sample", "--model", ck, "--count", "18", "--seed", "7", "--out", o,
    ]);
    for part in [
        "load the model",
        "generate 18 images (DDPM 60 steps)",
        "compare 10/20/50/60 steps",
        "draw the figures",
        "save 18 samples",
        "total",
        "trajectory.png",
        "denoise.gif",
    ] {
        assert!(
            text.contains(part),
            "terminal output lacks {part:?}:\n{text}"
        );
    }

    // Every sample at native resolution, numbered from 0000.
    let mut want: Vec<String> = (0..18).map(|i| format!("{i:04}.png")).collect();
    want.push("notes.txt".into());
    assert_eq!(sample_files(out.path()), want);
    let first = image::open(out.path().join("samples/0000.png")).unwrap();
    assert_eq!(
        (first.width(), first.height(), first.color()),
        (16, 16, image::ColorType::L8)
    );
    let px = first.to_luma8().into_raw();
    assert!(
        px.iter().any(|&v| v != px[0]),
        "a generated sample is not a flat image"
    );

    // Figures: decodable, wide enough for their columns.
    for (name, min_w, min_h) in [
        ("trajectory.png", 1000, 400),
        ("samples.png", 600, 500),
        ("steps.png", 700, 500),
    ] {
        let img = image::open(out.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            img.width() >= min_w && img.height() >= min_h,
            "{name} is {}×{}",
            img.width(),
            img.height()
        );
    }
    // The animation: one frame per recorded step (all 60 ≥ 48 → 48) plus the result, ~4 s.
    let gif = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(read(
        &out.path().join("denoise.gif"),
    )))
    .unwrap();
    let frames = gif.into_frames().collect_frames().unwrap();
    assert_eq!(frames.len(), 49);
    let ms: u32 = frames
        .iter()
        .map(|f| {
            let (n, d) = f.delay().numer_denom_ms();
            n / d
        })
        .sum();
    assert!((3000..=5500).contains(&ms), "animation lasts {ms} ms");

    let s: Value = serde_json::from_slice(&read(&out.path().join("summary.json"))).unwrap();
    assert_eq!(s["sampler"], "ddpm");
    assert_eq!(s["steps"], T);
    assert_eq!(s["timesteps"], serde_json::json!([T - 1, 0]));
    assert_eq!(s["seed"], 7);
    assert_eq!(s["images_generated"], 18);
    assert_eq!(s["model"]["digits"], serde_json::json!([1, 7]));
    assert_eq!(s["model"]["num_train_timesteps"], T);
    assert_eq!(s["model"]["image_size"], 16);
    let secs = s["sampling_seconds"].as_f64().unwrap();
    let ips = s["images_per_second"].as_f64().unwrap();
    assert!(
        secs > 0.0 && (ips * secs - 18.0).abs() < 1e-6,
        "{ips} images/s over {secs} s"
    );
    assert!(s["wall_seconds"].as_f64().unwrap() >= secs);
    let runs: Vec<(String, u64)> = s["steps_comparison"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["sampler"].as_str().unwrap().to_string(),
                r["steps"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut expect: Vec<(String, u64)> = ["ddpm", "ddim"]
        .iter()
        .flat_map(|k| [10, 20, 50, T as u64].map(|n| (k.to_string(), n)))
        .collect();
    expect.extend([10, 20].map(|n| ("dpm++-sde".to_string(), n)));
    assert_eq!(runs, expect);
    let files: Vec<&str> = s["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["trajectory.png", "samples.png", "steps.png", "denoise.gif"]
    );

    // Sample i depends only on the seed and i: a run of 4 (one batch, no second part)
    // reproduces the first 4 of the 18 bit for bit.
    let again = tempfile::tempdir().unwrap();
    ok(&[
        "sample",
        "--model",
        ck,
        "--count",
        "4",
        "--seed",
        "7",
        "--out",
        again.path().to_str().unwrap(),
    ]);
    for i in 0..4 {
        let f = format!("samples/{i:04}.png");
        assert_eq!(
            read(&out.path().join(&f)),
            read(&again.path().join(&f)),
            "{f}"
        );
    }
}

#[test]
fn the_same_seed_gives_bit_identical_output() {
    let ck = checkpoint().to_str().unwrap();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let run = |d: &tempfile::TempDir, seed: &str| {
        ok(&[
            "sample",
            "--model",
            ck,
            "--sampler",
            "ddim",
            "--eta",
            "0.5",
            "--steps",
            "12",
            "--count",
            "5",
            "--seed",
            seed,
            "--out",
            d.path().to_str().unwrap(),
        ]);
    };
    run(&dirs[0], "3");
    run(&dirs[1], "3");
    run(&dirs[2], "4");
    let (a, b, c) = (dirs[0].path(), dirs[1].path(), dirs[2].path());
    // Everything but steps.png (its captions are wall times) and summary.json (timings).
    let mut same = vec![
        "trajectory.png".to_string(),
        "samples.png".into(),
        "denoise.gif".into(),
    ];
    same.extend(sample_files(a).into_iter().map(|f| format!("samples/{f}")));
    assert_eq!(same.len(), 3 + 5);
    for f in &same {
        assert_eq!(
            read(&a.join(f)),
            read(&b.join(f)),
            "{f} differs between two runs with seed 3"
        );
    }
    for i in 0..5 {
        let f = format!("samples/{i:04}.png");
        assert_ne!(
            read(&a.join(&f)),
            read(&c.join(&f)),
            "{f}: seeds 3 and 4 give the same sample"
        );
    }
    let s: Value = serde_json::from_slice(&read(&a.join("summary.json"))).unwrap();
    assert_eq!(
        (
            s["sampler"].as_str(),
            s["steps"].as_u64(),
            s["eta"].as_f64()
        ),
        (Some("ddim"), Some(12), Some(0.5))
    );
}

#[test]
fn bad_input_gives_clear_errors_and_writes_nothing() {
    let ck = checkpoint();
    let c = ck.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("m3");
    let o = o.to_str().unwrap();

    let e = err(&["sample", "--model", c, "--steps", "0", "--out", o]);
    assert!(e.contains("--steps must be at least 1"), "{e}");
    let e = err(&["sample", "--model", c, "--steps", "61", "--out", o]);
    assert!(
        e.contains("--steps 61") && e.contains("trained with") && e.contains("1 to 60"),
        "{e}"
    );
    let e = err(&["sample", "--model", c, "--count", "0", "--out", o]);
    assert!(e.contains("--count must be at least 1"), "{e}");
    let e = err(&["sample", "--model", c, "--eta", "0.5", "--out", o]);
    assert!(
        e.contains("--eta 0.5 applies only to --sampler ddim"),
        "{e}"
    );

    // No checkpoint: the folder is missing, or holds no config.json.
    let missing = out.path().join("nowhere");
    let e = err(&["sample", "--model", missing.to_str().unwrap(), "--out", o]);
    assert!(
        e.contains("does not exist")
            && e.contains("run `difflab train` first")
            && e.contains("nowhere"),
        "{e}"
    );
    let empty = out.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let e = err(&["sample", "--model", empty.to_str().unwrap(), "--out", o]);
    assert!(
        e.contains("no config.json") && e.contains("run `difflab train` first"),
        "{e}"
    );

    // A checkpoint whose weights do not fit its config (other channel widths).
    let bad = out.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    for f in ["model.safetensors", "scheduler_config.json"] {
        std::fs::copy(ck.join(f), bad.join(f)).unwrap();
    }
    let mut cfg: Value = serde_json::from_slice(&read(&ck.join("config.json"))).unwrap();
    cfg["model"]["config"]["channels"] = serde_json::json!([16, 32, 64]);
    std::fs::write(
        bad.join("config.json"),
        serde_json::to_vec_pretty(&cfg).unwrap(),
    )
    .unwrap();
    let e = err(&["sample", "--model", bad.to_str().unwrap(), "--out", o]);
    assert!(
        e.contains("model.safetensors") && e.contains("shape"),
        "{e}"
    );

    // A scheduler config of another T than the model's.
    let other_t = out.path().join("other-t");
    std::fs::create_dir(&other_t).unwrap();
    for f in ["model.safetensors", "config.json"] {
        std::fs::copy(ck.join(f), other_t.join(f)).unwrap();
    }
    let mut sc: Value = serde_json::from_slice(&read(&ck.join("scheduler_config.json"))).unwrap();
    sc["num_train_timesteps"] = serde_json::json!(1000);
    std::fs::write(
        other_t.join("scheduler_config.json"),
        serde_json::to_vec(&sc).unwrap(),
    )
    .unwrap();
    let e = err(&["sample", "--model", other_t.to_str().unwrap(), "--out", o]);
    assert!(
        e.contains("scheduler_config.json") && e.contains("1000") && e.contains("T = 60"),
        "{e}"
    );

    assert!(!Path::new(o).exists(), "failed runs write nothing");
}

#[test]
fn every_sampler_runs_from_the_command_line() {
    let c = checkpoint().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    for name in [
        "ddpm",
        "ddim",
        "dpm++",
        "dpm++-sde",
        "unipc",
        "euler",
        "euler-a",
        "pndm",
    ] {
        let dir = out.path().join(name);
        let o = dir.to_str().unwrap();
        let args = [
            "sample",
            "--model",
            c,
            "--sampler",
            name,
            "--steps",
            "10",
            "--count",
            "3",
            "--out",
            o,
        ];
        ok(&args);
        let s: Value = serde_json::from_slice(&read(&dir.join("summary.json"))).unwrap();
        assert_eq!(s["sampler"], name);
        assert_eq!(s["steps"], 10);
        assert_eq!(sample_files(&dir).len(), 3, "{name}");
        // Every sampler lands on finite digits in the model's range (samples are PNGs of them).
        let png = image::open(dir.join("samples/0000.png"))
            .unwrap()
            .to_luma8();
        assert_eq!(png.dimensions(), (16, 16), "{name}");
        // The same seed gives the same digits again.
        let again = out.path().join(format!("{name}-again"));
        let mut args2 = args;
        args2[10] = again.to_str().unwrap();
        ok(&args2);
        assert_eq!(
            read(&dir.join("samples/0002.png")),
            read(&again.join("samples/0002.png")),
            "{name}: bit-identical for the same seed"
        );
    }
}

#[test]
fn bad_sampler_input_gives_clear_errors() {
    let ck = checkpoint();
    let c = ck.to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().join("m3");
    let o = o.to_str().unwrap();

    // A negative step count is refused by the argument parser (usage error, exit 2).
    let bad = difflab(&[
        "sample",
        "--model",
        c,
        "--sampler",
        "dpm++",
        "--steps",
        "-3",
        "--out",
        o,
    ]);
    assert_eq!(bad.status.code(), Some(2));
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(
        e.contains("-3 is negative") && e.contains("at least 1"),
        "{e}"
    );
    let e = err(&[
        "sample",
        "--model",
        c,
        "--sampler",
        "unipc",
        "--steps",
        "0",
        "--out",
        o,
    ]);
    assert!(e.contains("--steps must be at least 1"), "{e}");
    let e = err(&[
        "sample",
        "--model",
        c,
        "--sampler",
        "euler",
        "--eta",
        "0.5",
        "--out",
        o,
    ]);
    assert!(
        e.contains("--eta 0.5 applies only to --sampler ddim") && e.contains("euler"),
        "{e}"
    );
    let e = String::from_utf8_lossy(
        &difflab(&["sample", "--model", c, "--sampler", "heun", "--out", o]).stderr,
    )
    .into_owned();
    assert!(
        e.contains("heun") && e.contains("dpm++") && e.contains("euler-a"),
        "{e}"
    );

    // A model that predicts x0 ("sample"): PNDM and Euler ancestral cannot run it (as in
    // diffusers); the error names the file and the field.
    let x0 = out.path().join("x0-model");
    std::fs::create_dir(&x0).unwrap();
    for f in ["model.safetensors", "config.json"] {
        std::fs::copy(ck.join(f), x0.join(f)).unwrap();
    }
    let mut sc: Value = serde_json::from_slice(&read(&ck.join("scheduler_config.json"))).unwrap();
    sc["prediction_type"] = serde_json::json!("sample");
    std::fs::write(
        x0.join("scheduler_config.json"),
        serde_json::to_vec(&sc).unwrap(),
    )
    .unwrap();
    for sampler in ["pndm", "euler-a"] {
        let e = err(&[
            "sample",
            "--model",
            x0.to_str().unwrap(),
            "--sampler",
            sampler,
            "--out",
            o,
        ]);
        assert!(
            e.contains("scheduler_config.json") && e.contains("prediction_type = sample"),
            "{sampler}: {e}"
        );
    }
    assert!(!Path::new(o).exists(), "failed runs write nothing");
}
