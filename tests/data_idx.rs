//! MNIST IDX parsing, validation errors, selection and resizing, on files made here, plus the
//! real MNIST files found through the product's lookup (DIFFLAB_MNIST_DIR in CI).

use difflab::data::idx::{encode_idx, read_images, read_labels, read_maybe_gzip};
use difflab::data::{
    resize, sha256_hex, Digits, Mnist, PixelRange, ResizeFilter, Selection, Split, MNIST_FILES,
};
use flate2::write::GzEncoder;
use std::io::Write;
use std::path::{Path, PathBuf};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `n` images of `r × c` with pixel (i, y, x) = (i + 3y + 5x) mod 256, and labels i mod `classes`.
fn fake(n: usize, r: usize, c: usize, classes: u8) -> (Vec<u8>, Vec<u8>) {
    let mut px = Vec::with_capacity(n * r * c);
    for i in 0..n {
        for y in 0..r {
            for x in 0..c {
                px.push(((i + 3 * y + 5 * x) % 256) as u8);
            }
        }
    }
    let labels: Vec<u8> = (0..n).map(|i| (i % classes as usize) as u8).collect();
    (encode_idx(&[n, r, c], &px), encode_idx(&[n], &labels))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn err_text<T: std::fmt::Debug>(r: difflab::Result<T>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn raw_and_gzip_files_parse_the_same_whatever_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let (imgs, labs) = fake(7, 28, 28, 10);
    let raw = write(dir.path(), "images.gz", &imgs); // raw despite the name
    let gz = write(dir.path(), "images.raw", &gzip(&imgs)); // gzip despite the name
    let a = read_images(&raw).unwrap();
    let b = read_images(&gz).unwrap();
    assert_eq!(a, b);
    assert_eq!((a.0, a.1, a.2), (7, 28, 28));
    assert_eq!(a.3.len(), 7 * 28 * 28);
    assert_eq!(a.3[28 * 28 + 2 * 28 + 3], 1 + 6 + 15);
    let l = write(dir.path(), "labels", &gzip(&labs));
    assert_eq!(read_labels(&l).unwrap(), vec![0, 1, 2, 3, 4, 5, 6]);
}

#[test]
fn wrong_magic_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (imgs, labs) = fake(3, 4, 4, 10);
    let l = write(dir.path(), "labels-as-images", &labs);
    let e = err_text(read_images(&l));
    assert!(
        e.contains("labels-as-images")
            && e.contains("wrong magic number 2049")
            && e.contains("2051"),
        "{e}"
    );
    let i = write(dir.path(), "images-as-labels.gz", &gzip(&imgs));
    let e = err_text(read_labels(&i));
    assert!(
        e.contains("images-as-labels.gz")
            && e.contains("wrong magic number 2051")
            && e.contains("2049"),
        "{e}"
    );
    let junk = write(dir.path(), "junk", b"hello world, not an IDX file");
    let e = err_text(read_images(&junk));
    assert!(e.contains("junk") && e.contains("wrong magic"), "{e}");
}

#[test]
fn truncated_and_overlong_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (imgs, labs) = fake(3, 28, 28, 10);
    let short = write(dir.path(), "short-images", &imgs[..imgs.len() - 100]);
    let e = err_text(read_images(&short));
    assert!(
        e.contains("short-images") && e.contains("truncated") && e.contains("3 × 28 × 28 = 2352"),
        "{e}"
    );
    let header_only = write(dir.path(), "header-cut", &labs[..6]);
    let e = err_text(read_labels(&header_only));
    assert!(e.contains("header-cut") && e.contains("truncated"), "{e}");
    let tiny = write(dir.path(), "tiny", &[0, 0]);
    assert!(err_text(read_labels(&tiny)).contains("truncated"));
    let mut long = labs.clone();
    long.extend_from_slice(&[1, 2]);
    let long = write(dir.path(), "long-labels", &long);
    let e = err_text(read_labels(&long));
    assert!(
        e.contains("long-labels") && e.contains("2 unexpected bytes"),
        "{e}"
    );
}

#[test]
fn corrupt_gzip_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (imgs, _) = fake(20, 28, 28, 10);
    let gz = gzip(&imgs);
    let mut bad = gz.clone();
    for b in &mut bad[20..60] {
        *b ^= 0x5a;
    }
    let p = write(dir.path(), "corrupt.gz", &bad);
    let e = err_text(read_images(&p));
    assert!(
        e.contains("corrupt.gz") && e.contains("not a valid gzip stream"),
        "{e}"
    );
    let cut = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    let e = err_text(read_images(&cut));
    assert!(e.contains("cut.gz") && e.contains("gzip"), "{e}");
}

#[test]
fn labels_must_be_digits_and_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad-labels", &encode_idx(&[3], &[1, 12, 3]));
    let e = err_text(read_labels(&bad));
    assert!(
        e.contains("bad-labels") && e.contains("label 12 at position 1"),
        "{e}"
    );

    let (imgs, _) = fake(5, 28, 28, 10);
    let (_, labs) = fake(4, 28, 28, 10);
    let i = write(dir.path(), "five-images", &imgs);
    let l = write(dir.path(), "four-labels", &labs);
    let e = err_text(Mnist::from_files(&i, &l, Split::Train));
    assert!(
        e.contains("four-labels")
            && e.contains("4 labels")
            && e.contains("five-images")
            && e.contains("5 images"),
        "{e}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (imgs, _) = fake(5, 28, 28, 10);
    write(dir.path(), "t10k-images-idx3-ubyte.gz", &gzip(&imgs));
    let e = err_text(Mnist::load_dir(dir.path(), Split::Test));
    assert!(
        e.contains("t10k-labels-idx1-ubyte") && e.contains("missing"),
        "{e}"
    );
    let e = err_text(read_images(&dir.path().join("nope")));
    assert!(e.contains("nope") && e.contains("No such file"), "{e}");
}

#[test]
fn digit_options_are_validated() {
    assert_eq!(
        Digits::parse_list("0, 3,7").unwrap().to_vec(),
        vec![0, 3, 7]
    );
    let e = err_text(Digits::parse_list("0,3,12"));
    assert!(
        e.contains("--digits") && e.contains("12") && e.contains("0-9"),
        "{e}"
    );
    let e = err_text(Digits::parse_list("1,x"));
    assert!(e.contains("--digits") && e.contains("'x'"), "{e}");
    let e = err_text(Digits::parse_list("4,4"));
    assert!(
        e.contains("--digits") && e.contains("4 is listed twice"),
        "{e}"
    );
    assert!(err_text(Digits::parse_list(" , ")).contains("empty"));
    assert!(err_text(Digits::classes(0)).contains("--classes 0"));
    assert!(err_text(Digits::classes(11)).contains("--classes 11"));
    assert_eq!(Digits::classes(4).unwrap().to_vec(), vec![0, 1, 2, 3]);
    assert_eq!(Digits::all().to_vec(), (0..10).collect::<Vec<u8>>());
}

#[test]
fn selection_keeps_the_chosen_digits_in_order_and_reports_an_empty_one() {
    let dir = tempfile::tempdir().unwrap();
    let (imgs, labs) = fake(30, 28, 28, 4); // labels 0,1,2,3,0,1,...
    let i = write(dir.path(), "train-images-idx3-ubyte", &imgs);
    let l = write(dir.path(), "train-labels-idx1-ubyte.gz", &gzip(&labs));
    let m = Mnist::from_files(&i, &l, Split::Train).unwrap();
    assert_eq!(m.first_index_of(3), Some(3));
    assert_eq!(m.first_index_of(7), None);

    let set = m
        .select(&Selection::full_size(Digits::list(&[3, 1]).unwrap()))
        .unwrap();
    let expect: Vec<usize> = (0..30).filter(|i| i % 4 == 1 || i % 4 == 3).collect();
    assert_eq!(set.indices, expect);
    assert_eq!(
        set.labels,
        expect.iter().map(|i| (i % 4) as u8).collect::<Vec<_>>()
    );
    // At 28 × 28 the pixels are the file's bytes / 255.
    let k = 2; // the third selected image
    for (j, &v) in set.image(k).iter().enumerate() {
        assert_eq!(v, m.image_u8(set.indices[k])[j] as f32 / 255.0);
    }
    let t = set.tensor(PixelRange::Symmetric);
    assert_eq!(t.shape(), &[expect.len(), 28, 28, 1]);
    let (lo, hi) = t
        .data()
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(
        lo >= -1.0 && hi <= 1.0 && lo < -0.9 && hi > 0.9,
        "{lo} {hi}"
    );
    assert_eq!(
        m.select(&Selection::training(Digits::all()).with_limit(5))
            .unwrap()
            .len(),
        5
    );

    let e = err_text(m.select(&Selection::training(Digits::list(&[5, 9]).unwrap())));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("empty") && e.contains("digits 5, 9"),
        "{e}"
    );
    assert!(
        err_text(m.select(&Selection::training(Digits::all()).with_size(0))).contains("at least 1")
    );
    assert!(err_text(m.image(30, PixelRange::Unit)).contains("--index 30"));
}

/// The Python lab's bilinear resize (bench/mnist16.py), written out per pixel.
fn python_bilinear(src: &[f32], n_in: usize, n_out: usize) -> Vec<f32> {
    let coords = |o: usize| {
        let s = (((o as f64 + 0.5) * (n_in as f64 / n_out as f64)) - 0.5).max(0.0);
        let i0 = (s.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        (i0, i1, (s - i0 as f64) as f32)
    };
    let mut out = vec![0.0; n_out * n_out];
    for oy in 0..n_out {
        let (y0, y1, fy) = coords(oy);
        for ox in 0..n_out {
            let (x0, x1, fx) = coords(ox);
            let top = src[y0 * n_in + x0] * (1.0 - fx) + src[y0 * n_in + x1] * fx;
            let bot = src[y1 * n_in + x0] * (1.0 - fx) + src[y1 * n_in + x1] * fx;
            out[oy * n_out + ox] = top * (1.0 - fy) + bot * fy;
        }
    }
    out
}

#[test]
fn bilinear_resize_matches_the_python_lab_and_area_averages() {
    let src: Vec<f32> = (0..28 * 28)
        .map(|i| ((i * 37 % 101) as f32) / 100.0)
        .collect();
    let ours = resize(&src, 28, 28, 16, 16, ResizeFilter::Bilinear);
    let theirs = python_bilinear(&src, 28, 16);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-6, "bilinear differs from mnist16.py by {worst}");

    // Area 28 → 14 is the exact 2 × 2 mean.
    let area = resize(&src, 28, 28, 14, 14, ResizeFilter::Area);
    for y in 0..14 {
        for x in 0..14 {
            let m = (src[2 * y * 28 + 2 * x]
                + src[2 * y * 28 + 2 * x + 1]
                + src[(2 * y + 1) * 28 + 2 * x]
                + src[(2 * y + 1) * 28 + 2 * x + 1])
                / 4.0;
            assert!((area[y * 14 + x] - m).abs() < 1e-6);
        }
    }
    // Area 28 → 16 keeps the mean (every input pixel counts exactly once in total).
    let a16 = resize(&src, 28, 28, 16, 16, ResizeFilter::Area);
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    assert!((mean(&a16) - mean(&src)).abs() < 1e-5);
    // A constant image stays constant under both filters, up or down.
    for f in [ResizeFilter::Bilinear, ResizeFilter::Area] {
        for n in [7, 16, 28, 40] {
            assert!(resize(&[0.25; 784], 28, 28, n, n, f)
                .iter()
                .all(|&v| (v - 0.25).abs() < 1e-6));
        }
    }
}

#[test]
fn real_mnist_has_the_known_content_and_shape() {
    let dir = difflab::data::MnistLocator::from_env(None)
        .locate()
        .expect("MNIST (set DIFFLAB_MNIST_DIR)")
        .dir;
    for f in &MNIST_FILES {
        let p = difflab::data::find_file(&dir, f.name).unwrap();
        assert_eq!(
            sha256_hex(&read_maybe_gzip(&p).unwrap()),
            f.sha256,
            "{}",
            p.display()
        );
    }
    let train = Mnist::load_dir(&dir, Split::Train).unwrap();
    let test = Mnist::load_dir(&dir, Split::Test).unwrap();
    assert_eq!((train.len(), train.rows(), train.cols()), (60000, 28, 28));
    assert_eq!(test.len(), 10000);
    let mut counts = [0usize; 10];
    train.labels().iter().for_each(|&l| counts[l as usize] += 1);
    assert_eq!(
        counts,
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(train.label(0), 5);
    let set = train
        .select(&Selection::training(Digits::classes(4).unwrap()))
        .unwrap();
    assert_eq!(set.len(), 5923 + 6742 + 5958 + 6131);
    assert_eq!(set.size, 16);
    let k = 100;
    let src: Vec<f32> = train
        .image_u8(set.indices[k])
        .iter()
        .map(|&v| v as f32 / 255.0)
        .collect();
    let theirs = python_bilinear(&src, 28, 16);
    let worst = set
        .image(k)
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst <= 1e-6, "{worst}");
}
