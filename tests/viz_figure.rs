//! The shared figure style: canvases, pictures and colour maps, image grids, plots, composed
//! figures, PNG writing, and the font's coverage of the characters the figures use.

use difflab::viz::{
    diverging, max_abs, style, text, Align, Annotation, Band, Canvas, ColorBar, Figure, ImageGrid,
    KeyShape, LegendEntry, LinePlot, Panel, Picture, RGBColor, Rect, RefLine, Series, Tile,
};

fn rgb(c: RGBColor) -> [u8; 3] {
    [c.0, c.1, c.2]
}

fn count_near(c: &Canvas, area: Rect, color: RGBColor, tol: i32) -> usize {
    let mut n = 0;
    for y in area.y..area.bottom() {
        for x in area.x..area.right() {
            let p = c.pixel(x as u32, y as u32);
            if (0..3).all(|k| (p[k] as i32 - rgb(color)[k] as i32).abs() <= tol) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn pictures_map_values_to_colours() {
    let g = Picture::gray(2, 1, &[0.0, 1.0]).unwrap();
    assert_eq!((g.pixel(0, 0), g.pixel(1, 0)), ([0, 0, 0], [255, 255, 255]));
    let m = Picture::gray_model(3, 1, &[-1.0, 0.0, 7.0]).unwrap();
    assert_eq!(
        [m.pixel(0, 0)[0], m.pixel(1, 0)[0], m.pixel(2, 0)[0]],
        [0, 128, 255]
    );
    let c = Picture::rgb(1, 1, &[1.0, 0.5, 0.0]).unwrap();
    assert_eq!(c.pixel(0, 0), [255, 128, 0]);
    assert!(Picture::gray(3, 3, &[0.0; 8])
        .unwrap_err()
        .to_string()
        .contains("needs 9 values"));

    // Diverging: blue below zero, near-white at zero, red above; symmetric ends; clamped.
    assert_eq!(rgb(diverging(0.0)), [247, 247, 247]);
    let (lo, hi) = (diverging(-1.0), diverging(1.0));
    assert!(lo.2 > lo.0 && hi.0 > hi.2);
    assert_eq!(rgb(diverging(-5.0)), rgb(lo));
    let s = Picture::signed(3, 1, &[-2.0, 0.0, 2.0], 2.0).unwrap();
    assert_eq!(s.pixel(0, 0), rgb(lo));
    assert_eq!(s.pixel(2, 0), rgb(hi));
    assert_eq!(
        max_abs([[1.0f32, -3.0].as_slice(), [2.0f32].as_slice()]),
        3.0
    );
    assert_eq!(max_abs([[0.0f32; 4].as_slice()]), 1.0);
}

#[test]
fn canvas_blits_crisp_pixels_and_draws_frames() {
    let mut c = Canvas::new(100, 60);
    assert_eq!(c.pixel(0, 0), rgb(style::BACKGROUND));
    let pic = Picture::gray(2, 1, &[0.0, 1.0]).unwrap();
    c.blit(&pic, 10, 10, 8);
    // Every pixel of each 8 × 8 block is exactly the source colour: no smoothing.
    for y in 10..18 {
        for x in 10..18 {
            assert_eq!(c.pixel(x, y), [0, 0, 0]);
            assert_eq!(c.pixel(x + 8, y), [255, 255, 255]);
        }
    }
    c.frame(Rect::new(40, 20, 10, 10), style::BAD, 3);
    assert_eq!(c.pixel(37, 17), rgb(style::BAD));
    assert_eq!(c.pixel(52, 32), rgb(style::BAD));
    assert_eq!(c.pixel(45, 25), rgb(style::BACKGROUND)); // inside untouched
    c.blit(&pic, 95, 55, 8); // clipped, no panic
}

#[test]
fn every_character_the_figures_use_is_in_the_font() {
    for ch in "ᾱₜ₀₁₂₃₄₅₆₇₈₉√ε·−…≥≤–—→↑×βσθ∼°%".chars()
    {
        assert!(text::has_glyph(ch), "DejaVu Sans lacks {ch:?}");
    }
    assert!(!text::has_glyph('漢'));
}

#[test]
fn text_is_measured_and_drawn_where_asked() {
    let st = style::text(20.0, RGBColor(0, 0, 0));
    let (w, h) = Canvas::text_size("Hello ᾱₜ", &st);
    assert!(w > 60 && w < 110 && h > 18 && h < 30, "{w}×{h}");
    let (wb, _) = Canvas::text_size("Hello ᾱₜ", &style::bold(20.0, RGBColor(0, 0, 0)));
    assert!(wb > w, "bold is wider");
    let mut c = Canvas::filled(300, 60, RGBColor(255, 255, 255));
    c.text("Hello ᾱₜ", 150, 10, &st, Align::Center);
    let ink: Vec<(u32, u32)> = (0..60)
        .flat_map(|y| (0..300).map(move |x| (x, y)))
        .filter(|&(x, y)| c.pixel(x, y)[0] < 128)
        .collect();
    let (x0, x1) = (
        ink.iter().map(|p| p.0).min().unwrap(),
        ink.iter().map(|p| p.0).max().unwrap(),
    );
    let (y0, y1) = (
        ink.iter().map(|p| p.1).min().unwrap(),
        ink.iter().map(|p| p.1).max().unwrap(),
    );
    assert!(
        x0 >= 150 - w / 2 - 1 && x1 <= 150 + w / 2 + 1,
        "ink {x0}..{x1} outside the measured box"
    );
    assert!((x0 + x1) as i32 / 2 - 150 <= 3, "centred");
    assert!(y0 >= 10 && y1 <= 10 + h + 2, "ink {y0}..{y1}");
}

#[test]
fn image_grid_layout_captions_and_borders() {
    let pic = Picture::gray(4, 4, &[1.0; 16]).unwrap();
    let grid = ImageGrid::new(3)
        .tiles((0..5).map(|i| {
            let t = Tile::new(pic.clone()).caption(format!("tile {i}"));
            if i == 1 {
                t.border(style::GOOD)
            } else {
                t
            }
        }))
        .tile_px(40)
        .gap(10)
        .row_labels(vec!["row A".into(), "row B".into()]);
    assert_eq!(grid.rows(), 2);
    let (w, h) = grid.size();
    let mut c = Canvas::filled(w + 20, h + 20, RGBColor(0, 0, 0));
    grid.draw(&mut c, 10, 10);
    // 5 tiles of 40 × 40 white pixels (scale 10), nothing more; one 5 px green border.
    let all = Rect::new(0, 0, w + 20, h + 20);
    assert_eq!(count_near(&c, all, RGBColor(255, 255, 255), 0), 5 * 1600);
    assert_eq!(count_near(&c, all, style::GOOD, 0), 50 * 50 - 40 * 40);

    // Shrinking to fit keeps whole-number scaling: 3 × 40 px + 2 gaps of 10 = 140 px; in 100 px
    // the largest whole scale that fits is 6 (3 × 24 + 20 = 92).
    let plain = ImageGrid::new(3)
        .tiles(vec![Tile::new(pic); 3])
        .tile_px(40)
        .gap(10);
    assert_eq!(plain.size(), (140, 40));
    assert_eq!(plain.fitted(100).size(), (92, 24));
    assert_eq!(plain.fitted(500).size(), (140, 40));
}

#[test]
fn plots_draw_series_in_their_colours_on_linear_and_log_axes() {
    let xs: Vec<f64> = (0..100).map(|i| i as f64).collect();
    let plot = LinePlot::new("step", "value")
        .title("A test plot")
        .series(
            Series::new(
                "falling",
                xs.iter().map(|&x| (x, 1.0 - x / 100.0)).collect(),
            )
            .color(style::SIGNAL),
        )
        .series(
            Series::new("rising", xs.iter().map(|&x| (x, x / 100.0)).collect())
                .color(style::NOISE)
                .dashed(),
        )
        .ref_line(RefLine::horizontal(0.5, "half"))
        .band(Band::x(0.0, 30.0, style::GOOD, "early"))
        .annotate(Annotation::new(50.0, 0.5, "cross"));
    let mut c = Canvas::new(700, 400);
    plot.draw(&mut c, Rect::new(0, 0, 700, 400)).unwrap();
    let all = Rect::new(0, 0, 700, 400);
    assert!(
        count_near(&c, all, style::SIGNAL, 10) > 300,
        "the blue series is drawn"
    );
    assert!(
        count_near(&c, all, style::NOISE, 10) > 150,
        "the orange series is drawn"
    );

    let log = LinePlot::new("step", "loss")
        .series(
            Series::new("loss", xs.iter().map(|&x| (x, (-x / 10.0).exp())).collect())
                .color(style::BAD),
        )
        .y_log();
    let mut c = Canvas::new(700, 400);
    log.draw(&mut c, all).unwrap();
    assert!(count_near(&c, all, style::BAD, 10) > 300);
    // Degenerate input draws without panicking.
    let empty = LinePlot::new("x", "y").y_log().y_range(0.0, 1.0);
    empty
        .draw(&mut Canvas::new(300, 200), Rect::new(0, 0, 300, 200))
        .unwrap();
    let nan = LinePlot::new("x", "y")
        .series(Series::from_ys("nan", &[f32::NAN, 1.0, f32::INFINITY, 2.0]));
    nan.draw(&mut Canvas::new(300, 200), Rect::new(0, 0, 300, 200))
        .unwrap();
}

#[test]
fn figures_stack_panels_grow_for_wide_grids_and_save_png_atomically() {
    let pic = Picture::gray(28, 28, &[0.5; 784]).unwrap();
    let plot = LinePlot::new("t", "y").series(Series::from_ys("y", &[1.0, 2.0, 3.0]));
    let small = Figure::new()
        .title("Title")
        .subtitle("one\ntwo")
        .plot(plot.clone());
    let (w, h) = small.size();
    assert_eq!(w, style::FIGURE_WIDTH);
    assert!(h > style::PLOT_HEIGHT + 60);
    let wide = Figure::new()
        .title("Wide")
        .grid(ImageGrid::strip(vec![Tile::new(pic.clone()).caption("a caption"); 12]).tile_px(112))
        .legend(vec![LegendEntry::new(
            KeyShape::Border,
            style::GOOD,
            "good",
        )])
        .push(Panel::ColorBar(ColorBar {
            scale: 3.0,
            label: "ε".into(),
        }))
        .row(vec![Panel::Plot(plot.clone(), 200), Panel::Plot(plot, 200)])
        .note("a note");
    let (ww, _) = wide.size();
    assert!(
        ww > 12 * 112,
        "the figure grows to fit 12 tiles of 112 px: {ww}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("fig.png");
    let size = wide.save_png(&path).unwrap();
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!((img.width(), img.height()), size);
    assert_eq!(size, wide.size());
    assert_eq!(img.get_pixel(0, 0).0, rgb(style::BACKGROUND));
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}
