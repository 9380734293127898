//! `difflab inpaint` end to end on a checkpoint trained here: files, summary, bit-identical
//! reruns, every sampler, and clear errors.

mod common;
use common::difflab;
use serde_json::Value;
use std::path::Path;
use std::sync::OnceLock;

fn cli_ok(args: &[&str]) -> String {
    let out = difflab(args);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "difflab {args:?} failed:\n{text}\n{err}"
    );
    text
}

fn cli_err(args: &[&str]) -> String {
    let out = difflab(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "difflab {args:?}: a clear error, not a panic"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A small checkpoint trained once: digits 1 and 7, 64 images, one epoch, T = 40.
fn checkpoint() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let o = dir.path().to_str().unwrap();
        cli_ok(&[
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
            "40",
            "--no-figures",
            "--out",
            o,
        ]);
        dir
    })
    .path()
}

fn png_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn cli_end_to_end() {
    let model = checkpoint().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let args = [
        "inpaint",
        "--model",
        model,
        "--index",
        "0",
        "--mask",
        "top",
        "--count",
        "3",
        "--sampler",
        "ddim",
        "--steps",
        "8",
        "--jumps",
        "2",
        "--seed",
        "5",
        "--out",
        o,
    ];
    let text = cli_ok(&args);
    assert!(text.contains("MNIST test #0 (a 7)"), "{text}");
    assert!(
        text.contains("inpaint.png") && text.contains("elapsed"),
        "{text}"
    );
    let (w, h) = png_size(&out.path().join("inpaint.png"));
    assert!(w > 2 * 128 + 3 * 128 && h > 128, "{w}×{h}");
    let gif = std::fs::File::open(out.path().join("inpaint.gif")).unwrap();
    let frames = image::AnimationDecoder::into_frames(
        image::codecs::gif::GifDecoder::new(std::io::BufReader::new(gif)).unwrap(),
    )
    .collect_frames()
    .unwrap();
    assert_eq!(frames.len(), 8 + 1, "every step of 8, then the result");
    let read = |dir: &Path| -> Value {
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
    };
    let s = read(out.path());
    assert_eq!(s["test_digit"], 7);
    assert_eq!(s["completions"], 3);
    assert_eq!(s["jumps"], 2);
    assert_eq!(s["model_calls_per_completion"], 16);
    assert_eq!(s["mask"]["hidden_pixels"], 128);
    assert_eq!(s["known_region_max_error"], 0.0);
    assert_eq!(s["hidden_region_rmse"].as_array().unwrap().len(), 3);
    assert_eq!(s["timesteps"], serde_json::json!([35, 0]));

    // Same seed: the same figure, bit for bit.
    let again = tempfile::tempdir().unwrap();
    let mut args2 = args;
    args2[args2.len() - 1] = again.path().to_str().unwrap();
    cli_ok(&args2);
    let bytes = |d: &Path| std::fs::read(d.join("inpaint.png")).unwrap();
    assert_eq!(bytes(out.path()), bytes(again.path()));
    assert_eq!(
        read(again.path())["hidden_region_rmse"],
        s["hidden_region_rmse"]
    );
}

#[test]
fn cli_errors_are_clear() {
    let model = checkpoint().to_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let o = out.path().to_str().unwrap();
    let base = ["inpaint", "--model", model, "--out", o];
    fn join<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [base, extra].concat()
    }
    let with = |extra| join(&base, extra);
    let e = cli_err(&with(&["--index", "10000"]));
    assert!(
        e.contains("--index 10000") && e.contains("10000 images"),
        "{e}"
    );
    let e = cli_err(&with(&[
        "--sampler",
        "pndm",
        "--jumps",
        "2",
        "--steps",
        "4",
    ]));
    assert!(e.contains("the pndm sampler cannot resample"), "{e}");
    let e = cli_err(&with(&["--digit", "7"]));
    assert!(e.contains("unconditional") && e.contains(model), "{e}");
    let e = cli_err(&with(&["--guidance", "2"]));
    assert!(e.contains("needs --digit"), "{e}");
    let junk = out.path().join("junk.png");
    std::fs::write(&junk, b"nope").unwrap();
    let e = cli_err(&join(&base, &["--mask", junk.to_str().unwrap()]));
    assert!(e.contains("junk.png"), "{e}");
    let e = cli_err(&with(&["--jumps", "0"]));
    assert!(e.contains("--jumps"), "{e}");
    let e = cli_err(&with(&["--steps", "41"]));
    assert!(e.contains("40 timesteps"), "{e}");
    assert!(
        !out.path().join("summary.json").exists(),
        "nothing written on errors"
    );
    let e = cli_err(&["inpaint", "--model", "/nonexistent/model", "--out", o]);
    assert!(e.contains("difflab train"), "{e}");
}

#[test]
fn every_sampler_completes_from_the_command_line() {
    let model = checkpoint().to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (name, jumps) in [
        ("dpm++", "2"),
        ("unipc", "2"),
        ("euler-a", "2"),
        ("pndm", "1"),
    ] {
        let dir = tmp.path().join(name);
        let o = dir.to_str().unwrap();
        let args = [
            "inpaint",
            "--model",
            model,
            "--sampler",
            name,
            "--steps",
            "6",
            "--jumps",
            jumps,
            "--count",
            "2",
            "--out",
            o,
        ];
        cli_ok(&args);
        let s: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["sampler"], name);
        assert_eq!(s["known_region_max_error"], 0.0, "{name}");
        let calls = s["model_calls_per_completion"].as_u64().unwrap();
        assert!(
            calls >= 6 * jumps.parse::<u64>().unwrap(),
            "{name}: {calls}"
        );
        for v in s["hidden_region_rmse"].as_array().unwrap() {
            let e = v.as_f64().unwrap();
            assert!(e.is_finite() && e < 2.0, "{name}: {e}");
        }
    }
}
