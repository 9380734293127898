//! The report's "From digits to DALL-E" section: the conditional model asked for a digit, the
//! guidance sweep, and inpainting, each tied to one step of how a text prompt steers an image
//! generator.

use super::blocks::{figure, skipped_box};
use super::facts::{num, RunData};
use super::html::esc;
use super::record::{Stage, CONTROL_DIGIT, INPAINT_FOLDER};
use crate::train::settings::{CONDITIONAL_EPOCHS, DEFAULT_LABEL_DROPOUT, TOY_EPOCHS};
use crate::Result;
use std::fmt::Write as _;

/// Append the section to `b`.
pub(super) fn control_section(b: &mut String, data: &RunData) -> Result<()> {
    let _ = writeln!(b, "<h2 id=\"control\">{}</h2>", esc(Stage::Control.title()));
    skipped_box(b, data, Stage::Control);
    let dir = data.dir.join(Stage::Control.folder());
    let d = CONTROL_DIGIT;
    let _ = writeln!(b, "<p>Question 4 asked what decides the digit that comes out of pure noise. In Module 3 only the noise did. Here the same loop gets <b>one more input</b>, and the three steps below are, on a small scale, how a text prompt steers DALL-E or Stable Diffusion. For it the lab trained a second copy of the Module 2 model that also saw each training digit's label, replaced by a \"no label\" token {:.0}% of the time, so the one model learned both to draw a requested digit and to draw any digit. Learning two things takes longer, so it trained for {CONDITIONAL_EPOCHS} epochs instead of {TOY_EPOCHS}.</p>", 100.0 * DEFAULT_LABEL_DROPOUT);

    if data.record.fast {
        let _ = writeln!(b, "<div class=\"skipped\">This is a quick run (<code>--fast</code>): its conditional model trained for a few dozen steps, too few to follow the label, so the figures below show mostly noise whatever w is. Run <code>difflab lab</code> without <code>--fast</code> to see guidance work: after the full {CONDITIONAL_EPOCHS} epochs, about 95% or more of the digits asked for with w = 2 are the digit asked for.</div>");
    }
    b.push_str("<h3>1 · Ask: a label embedding here, a text encoder there</h3>\n<p>The model adds a learned vector for the requested digit to its timestep embedding, and every block reads it. A text-to-image model gets a list of vectors from a text encoder instead, and reads them through cross-attention. Nothing else in the loop changes.</p>\n");
    let path = dir.join("conditional.png");
    if path.is_file() {
        figure(b, &path, "Ask for a digit", "Every row asked for one digit from different starting noises. Are they all that digit? Do they still differ from each other?")?;
    }

    b.push_str("<h3>2 · Guide: the same formula at every scale</h3>\n<p>At each step the model is asked twice, with and without the label, and the answer is pushed past the labelled one: ε̂ = ε̂(no label) + w·(ε̂(label) − ε̂(no label)). This is classifier-free guidance; image generators use exactly this formula with the prompt in place of the digit (their \"guidance scale\" or \"CFG\" setting, typically 5-10).</p>\n");
    let path = dir.join("guidance.png");
    if path.is_file() {
        figure(b, &path, "The guidance knob", &format!("Read the captions down the rows: the share of real-looking {d}s rises with w while the rows grow alike. Where would you set the knob?"))?;
    }
    guidance_table(b, data);

    b.push_str("<h3>3 · Edit: keep what you know, regenerate the rest</h3>\n<p>Hide part of a real test digit and run the loop from pure noise, but after every step paste back the known part, noised to the current timestep. The model only ever fills in what is missing, and the filling has to agree with what is kept. Image editors' \"inpainting\" and \"generative fill\" work this way, with a prompt saying what to put there.</p>\n");
    let inpaint = dir.join(INPAINT_FOLDER);
    for (file, title, notice) in [
        ("inpaint.png", "Filling in a hidden half", "The kept half is identical in every completion; the hidden half differs from seed to seed but always continues the strokes at the edge."),
        ("inpaint.gif", "One completion forming", "The known half stays in place all along; watch the hidden half settle into strokes that join it."),
    ] {
        let path = inpaint.join(file);
        if path.is_file() {
            figure(b, &path, title, notice)?;
        }
    }
    b.push_str("<p class=\"small\">Try it yourself: <code>difflab sample --digit 1 --guidance 4</code>, <code>difflab inpaint --index 7 --mask top --digit 2</code>. Question 25 at the end asks you to describe the whole text-to-image path; these three steps are its middle.</p>\n");
    Ok(())
}

/// The guidance sweep's numbers, from `control/guidance.json`.
fn guidance_table(b: &mut String, data: &RunData) {
    let Some(runs) = data
        .control
        .as_ref()
        .and_then(|v| v.get("runs"))
        .and_then(|r| r.as_array())
    else {
        return;
    };
    let count = num(&data.control, "/count").unwrap_or(f64::NAN);
    let _ = writeln!(
        b,
        "<div class=\"scroll\"><table><tr><th>w</th><th>is a {CONTROL_DIGIT} (classifier)</th><th>recognised as a digit</th><th>FID against real {CONTROL_DIGIT}s</th></tr>"
    );
    for r in runs {
        let g = |k: &str| r.get(k).and_then(|v| v.as_f64()).unwrap_or(f64::NAN);
        let _ = writeln!(
            b,
            "<tr><td class=\"num\">{}</td><td class=\"num\">{:.1}%</td><td class=\"num\">{:.1}%</td><td class=\"num\">{:.1}</td></tr>",
            g("guidance"),
            100.0 * g("agreement"),
            100.0 * g("recognised"),
            g("fid")
        );
    }
    let _ = writeln!(
        b,
        "<tr><td>real</td><td></td><td class=\"num\">{:.1}%</td><td class=\"num\">{:.1}</td></tr></table></div>\n<p class=\"small\">{} samples per row, the same seeds in every row; the last row scores real training digits.</p>",
        100.0 * num(&data.control, "/floor/recognised").unwrap_or(f64::NAN),
        num(&data.control, "/floor/fid").unwrap_or(f64::NAN),
        count
    );
}
