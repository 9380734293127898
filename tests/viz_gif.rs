//! Looping GIFs: frames, delays and colours survive encoding.

use difflab::viz::{encode_gif, write_gif, Canvas, GifFrame, Picture, RGBColor, Rect};
use image::AnimationDecoder;

fn decode(bytes: &[u8]) -> Vec<image::Frame> {
    let dec = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    dec.into_frames().collect::<Result<_, _>>().unwrap()
}

fn delay_ms(f: &image::Frame) -> u32 {
    let (n, d) = f.delay().numer_denom_ms();
    n / d
}

#[test]
fn few_colour_frames_are_exact_and_loop_with_their_delays() {
    let frames: Vec<GifFrame> = (0..5u8)
        .map(|i| {
            let mut c = Canvas::filled(40, 30, RGBColor(255, 255, 255));
            c.fill_rect(Rect::new(i as i32 * 5, 5, 10, 10), RGBColor(200, 30, 40));
            c.fill_rect(Rect::new(0, 20, 40, 5), RGBColor(i * 50, i * 50, i * 50));
            GifFrame {
                canvas: c,
                delay_cs: if i == 0 { 50 } else { 4 },
            }
        })
        .collect();
    let bytes = encode_gif(&frames).unwrap();
    // NETSCAPE2.0 application extension = looping.
    assert!(bytes.windows(11).any(|w| w == b"NETSCAPE2.0"));
    let out = decode(&bytes);
    assert_eq!(out.len(), 5);
    assert_eq!(delay_ms(&out[0]), 500);
    assert_eq!(delay_ms(&out[3]), 40);
    for (f, g) in frames.iter().zip(&out) {
        let img = g.buffer();
        assert_eq!((img.width(), img.height()), (40, 30));
        for y in 0..30 {
            for x in 0..40 {
                let p = img.get_pixel(x, y).0;
                assert_eq!([p[0], p[1], p[2]], f.canvas.pixel(x, y), "({x}, {y})");
            }
        }
    }
}

#[test]
fn many_greys_and_full_colour_frames_still_encode() {
    // 256 greys + 2 colours: greys are reduced to 128 levels, off by at most 1.
    let ramp: Vec<f32> = (0..256).map(|i| i as f32 / 255.0).collect();
    let mut c = Canvas::filled(256, 4, RGBColor(10, 200, 30));
    c.blit(&Picture::gray(256, 1, &ramp).unwrap(), 0, 0, 1);
    c.fill_rect(Rect::new(0, 3, 10, 1), RGBColor(250, 0, 0));
    let out = decode(
        &encode_gif(&[GifFrame {
            canvas: c.clone(),
            delay_cs: 10,
        }])
        .unwrap(),
    );
    let img = out[0].buffer();
    for x in 0..256 {
        let p = img.get_pixel(x, 0).0;
        assert!((p[0] as i32 - x as i32).abs() <= 1 && p[0] == p[1] && p[1] == p[2]);
    }
    assert_eq!(&img.get_pixel(0, 3).0[..3], &[250, 0, 0]);
    assert_eq!(&img.get_pixel(20, 2).0[..3], &[10, 200, 30]);

    // Thousands of colours: quantised per frame, still a valid, same-size GIF.
    let mut rgb = Vec::new();
    for y in 0..64u32 {
        for x in 0..64u32 {
            rgb.extend_from_slice(&[(x * 4) as u8, (y * 4) as u8, ((x + y) * 2) as u8]);
        }
    }
    let mut c = Canvas::new(64, 64);
    c.blit(&Picture::from_rgb8(64, 64, rgb).unwrap(), 0, 0, 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rainbow.gif");
    write_gif(
        &path,
        &[
            GifFrame {
                canvas: c.clone(),
                delay_cs: 1,
            },
            GifFrame {
                canvas: c,
                delay_cs: 7,
            },
        ],
    )
    .unwrap();
    let out = decode(&std::fs::read(&path).unwrap());
    assert_eq!(out.len(), 2);
    assert_eq!(delay_ms(&out[0]), 20, "delays below 2 cs are raised to 2");
    let p = out[1].buffer().get_pixel(40, 20).0;
    assert!(
        (p[0] as i32 - 160).abs() < 24 && (p[1] as i32 - 80).abs() < 24,
        "{p:?}"
    );
}

#[test]
fn frames_must_agree_in_size() {
    let a = GifFrame {
        canvas: Canvas::new(10, 10),
        delay_cs: 5,
    };
    let b = GifFrame {
        canvas: Canvas::new(11, 10),
        delay_cs: 5,
    };
    assert!(encode_gif(&[a, b])
        .unwrap_err()
        .to_string()
        .contains("same size"));
    assert!(encode_gif(&[])
        .unwrap_err()
        .to_string()
        .contains("at least one frame"));
}
