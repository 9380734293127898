//! `index.html`: the lab report, one self-contained page (figures embedded as data URIs).

use super::blocks::{figure, skipped_box};
use super::facts::{
    alpha_bar_at, num, secs, text, thousands, Measured, RunData, TARGET_LOSS, ZERO_GUESS_LOSS,
};
use super::figures::catalogue;
use super::html::{document, esc};
use super::questions::{of_part, Part, Question};
use super::record::{Stage, Status};
use super::texts::{CNN_VS_DIFFUSION, CONDITIONING, FORMULAS, MODULE0_INTRO, USES};
use crate::Result;
use serde_json::Value;
use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

/// The report page for the run in `data`.
pub fn index_html(data: &RunData) -> Result<String> {
    let mut b = String::new();
    header(&mut b, data);
    module0(&mut b);
    formulas(&mut b);
    module(
        &mut b,
        data,
        Stage::Forward,
        Part::Forward,
        &forward_numbers(data),
    )?;
    module(
        &mut b,
        data,
        Stage::Train,
        Part::Train,
        &train_numbers(data),
    )?;
    module(
        &mut b,
        data,
        Stage::Sample,
        Part::Sample,
        &sample_numbers(data),
    )?;
    module(
        &mut b,
        data,
        Stage::Pretrained,
        Part::Pretrained,
        &pretrained_numbers(data),
    )?;
    super::control::control_section(&mut b, data)?;
    scale(&mut b, data);
    let _ = write!(
        b,
        "<p class=\"small\">Written by difflab {} · the figures are embedded in this page; each module's files are in its folder beside it. Answer the questions on <a href=\"answer-sheet.html\">answer-sheet.html</a> (or answer-sheet.md).</p>",
        esc(&data.record.difflab_version)
    );
    Ok(document("Lab 8 · Diffusion models: your report", &b))
}

fn header(b: &mut String, data: &RunData) {
    let r = &data.record;
    let mode = if r.fast {
        "a quick run (--fast: fewer images, epochs and steps)"
    } else {
        "the full lab"
    };
    let _ = write!(
        b,
        "<h1>Lab 8 · How diffusion models make images</h1>\n<p class=\"lead\">Your report from <code>difflab lab</code>: {mode}, on {} threads of this computer. Every number below was measured in this run. Questions are in yellow boxes; write your answers on the <a href=\"answer-sheet.html\">answer sheet</a>.</p>\n",
        r.threads
    );
    b.push_str("<nav><b>Contents</b><ol><li><a href=\"#run\">What ran</a></li><li><a href=\"#m0\">Module 0 · the ideas</a></li><li><a href=\"#formulas\">The three formulas</a></li><li><a href=\"#module1\">Module 1 · forward diffusion</a></li><li><a href=\"#module2\">Module 2 · training</a></li><li><a href=\"#module3\">Module 3 · generation</a></li><li><a href=\"#module4\">Module 4 · a pretrained model</a></li><li><a href=\"#control\">From digits to DALL-E</a></li><li><a href=\"#scale\">From toy to DALL-E</a></li></ol></nav>\n");
    b.push_str("<h2 id=\"run\" class=\"first\">What ran</h2>\n<div class=\"scroll\"><table><tr><th>Part</th><th>Status</th><th>Time</th><th>Folder</th></tr>\n");
    for s in &r.stages {
        let status = match s.status {
            Status::Ran => "ran",
            Status::Reused => "reused from an earlier run",
            Status::Skipped => "skipped",
        };
        let time = if s.status == Status::Ran {
            secs(s.seconds)
        } else {
            "–".into()
        };
        let _ = writeln!(b, "<tr><td>{}</td><td>{status}</td><td class=\"num\">{time}</td><td><code>{}/</code></td></tr>", esc(s.stage.title()), esc(&s.folder));
    }
    b.push_str("</table></div>\n");
    for s in r.stages.iter().filter(|s| s.status == Status::Skipped) {
        skipped_box(b, data, s.stage);
    }
}

fn question(b: &mut String, data: &RunData, q: &Question) {
    let _ = write!(
        b,
        "<div class=\"question\" id=\"q{}\"><span class=\"qn\">{}</span> {}",
        q.number,
        esc(&q.heading()),
        esc(q.text)
    );
    measured_list(b, &data.measured(q.number));
    b.push_str("</div>\n");
}

fn measured_list(b: &mut String, m: &[Measured]) {
    if m.is_empty() {
        return;
    }
    b.push_str("<div class=\"measured\"><b>Measured in this run:</b><ul>");
    for x in m {
        let _ = write!(
            b,
            "<li>{}: <b>{}</b> <span class=\"small\">({})</span></li>",
            esc(&x.what),
            esc(&x.value),
            esc(&x.source)
        );
    }
    b.push_str("</ul></div>");
}

fn module0(b: &mut String) {
    b.push_str("<h2 id=\"m0\">Module 0 · The ideas, before any code</h2>\n");
    b.push_str(MODULE0_INTRO);
    b.push_str("<h3>The Lab 7 CNN and a diffusion model, side by side</h3>\n");
    b.push_str(CNN_VS_DIFFUSION);
    b.push_str("<h3>Where diffusion models are used</h3>\n");
    b.push_str(USES);
    for q in of_part(Part::Concepts) {
        question_plain(b, q);
    }
}

fn question_plain(b: &mut String, q: &Question) {
    let _ = writeln!(
        b,
        "<div class=\"question\" id=\"q{}\"><span class=\"qn\">{}</span> {}</div>",
        q.number,
        esc(&q.heading()),
        esc(q.text)
    );
}

fn formulas(b: &mut String) {
    b.push_str("<h2 id=\"formulas\">The three formulas, three ways</h2>\n<p>Each formula is written three times: in symbols, in one plain sentence, and as pseudocode. Read whichever tier makes sense to you first, then check the others say the same thing.</p>\n");
    for f in &FORMULAS {
        let _ = write!(
            b,
            "<h3>{}</h3>\n<div class=\"tiers\"><div class=\"tier\"><h4>Symbols</h4><div class=\"formula\">{}</div><p class=\"small\">{}</p></div><div class=\"tier\"><h4>In one sentence</h4><p>{}</p></div><div class=\"tier\"><h4>Pseudocode</h4><pre>{}</pre></div></div>\n",
            esc(f.title),
            f.symbols,
            f.legend,
            esc(f.sentence),
            esc(f.pseudocode)
        );
    }
}

fn module(b: &mut String, data: &RunData, stage: Stage, part: Part, numbers: &str) -> Result<()> {
    let _ = writeln!(
        b,
        "<h2 id=\"{}\">{}</h2>",
        anchor(stage),
        esc(stage.title())
    );
    skipped_box(b, data, stage);
    let mut placed = HashSet::new();
    for q in of_part(part).filter(|q| q.evidence.is_none()) {
        question(b, data, q);
        placed.insert(q.number);
    }
    b.push_str(numbers);
    let mut stages = vec![stage];
    if stage == Stage::Sample {
        stages.push(Stage::Eval);
    }
    for st in stages {
        if st == Stage::Eval {
            b.push_str(&eval_numbers(data));
        }
        let dir = data.dir.join(st.folder());
        for (file, title, notice) in figures_in(&dir, st) {
            figure(b, &dir.join(&file), &title, &notice)?;
            let here: Vec<_> = of_part(part)
                .filter(|q| q.evidence == Some(file.as_str()) && !placed.contains(&q.number))
                .collect();
            for q in here {
                question(b, data, q);
                placed.insert(q.number);
            }
        }
    }
    let rest: Vec<_> = of_part(part)
        .filter(|q| !placed.contains(&q.number))
        .collect();
    if !rest.is_empty() {
        b.push_str("<p class=\"small\">The figures for the questions below were not made in this run (see above); answer them from the module when you have run it.</p>\n");
        for q in rest {
            question(b, data, q);
        }
    }
    Ok(())
}

fn anchor(stage: Stage) -> &'static str {
    match stage {
        Stage::Eval => "evaluation",
        s => s.folder(),
    }
}

/// The figures in `dir`: the catalogue's that exist, in order, then any other PNG or GIF.
fn figures_in(dir: &Path, stage: Stage) -> Vec<(String, String, String)> {
    let cat = catalogue(stage);
    let mut v: Vec<_> = cat
        .iter()
        .filter(|f| dir.join(f.file).is_file())
        .map(|f| {
            (
                f.file.to_string(),
                f.title.to_string(),
                f.notice.to_string(),
            )
        })
        .collect();
    let mut extra: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    (n.ends_with(".png") || n.ends_with(".gif")) && !cat.iter().any(|f| f.file == n)
                })
                .collect()
        })
        .unwrap_or_default();
    extra.sort();
    v.extend(extra.into_iter().map(|n| {
        (
            n.clone(),
            n,
            "Another figure written by this module.".to_string(),
        )
    }));
    v
}

fn forward_numbers(data: &RunData) -> String {
    let f = &data.forward;
    if f.is_none() {
        return String::new();
    }
    let mut b = String::new();
    let img = match (num(f, "/image/index"), num(f, "/image/label")) {
        (Some(i), Some(l)) => format!("MNIST training image #{i} (a {l})"),
        _ => text(f, "/image/source").unwrap_or_default(),
    };
    let _ = write!(
        b,
        "<p>You noised {} with the {} schedule over T = {} steps (β from {} to {}, seed {}). The table gives the share of the image's variance that is still the digit (ᾱ) and the share that is noise:</p>\n<div class=\"scroll\"><table><tr><th>t</th><th>signal ᾱ<sub>t</sub></th><th>noise 1 − ᾱ<sub>t</sub></th></tr>",
        esc(&img),
        esc(&text(f, "/schedule/beta_schedule").unwrap_or_default()),
        text(f, "/schedule/num_train_timesteps").unwrap_or_default(),
        text(f, "/schedule/beta_start").unwrap_or_default(),
        text(f, "/schedule/beta_end").unwrap_or_default(),
        text(f, "/seed").unwrap_or_default()
    );
    for at in ["0", "T/4", "T/2", "3T/4", "T-1"] {
        if let Some((t, a)) = alpha_bar_at(f, at) {
            let _ = write!(b, "<tr><td class=\"num\">{t} ({at})</td><td class=\"num\">{a:.4}</td><td class=\"num\">{:.4}</td></tr>", 1.0 - a);
        }
    }
    b.push_str("</table></div>\n");
    let when = |p: &str| {
        num(f, p)
            .map(|t| format!("t = {t}"))
            .unwrap_or_else(|| "never".into())
    };
    let tenfold = match num(f, "/first_t_snr_below_0_1") {
        Some(t) => format!("is ten times stronger (SNR below 0.1) from <b>t = {t}</b>"),
        None => {
            "never becomes ten times stronger within these T steps (SNR stays above 0.1)".into()
        }
    };
    let _ = writeln!(
        b,
        "<p>The noise outweighs the digit (SNR below 1) from <b>{}</b>, and {tenfold}. At t = {} only <b>{:.1}%</b> of the signal is left.</p>",
        when("/first_t_snr_below_1"),
        text(f, "/signal_share_at_3t_4/t").unwrap_or_default(),
        100.0 * num(f, "/signal_share_at_3t_4/signal").unwrap_or(f64::NAN)
    );
    b
}

fn train_numbers(data: &RunData) -> String {
    let t = &data.train;
    if t.is_none() {
        return String::new();
    }
    let digits = t
        .as_ref()
        .and_then(|v| v.get("digits"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let size = text(t, "/image_size").unwrap_or_default();
    let mut b = String::new();
    let _ = write!(
        b,
        "<p>Your {} U-Net has <b>{}</b> parameters. It learned from {} images of the digits {digits} at {size}×{size} pixels: {} epochs, {} steps of {} images each. Training took <b>{}</b> ({} images per second on {} threads)",
        esc(&text(t, "/arch").unwrap_or_default()),
        thousands(num(t, "/params").unwrap_or(0.0)),
        thousands(num(t, "/images").unwrap_or(0.0)),
        text(t, "/epochs").unwrap_or_default(),
        thousands(num(t, "/steps").unwrap_or(0.0)),
        text(t, "/batch_size").unwrap_or_default(),
        secs(num(t, "/train_seconds").unwrap_or(f64::NAN)),
        thousands(num(t, "/images_per_second").unwrap_or(0.0)),
        text(t, "/threads").unwrap_or_default()
    );
    match data.record.training_estimate_seconds {
        Some(e) => {
            let _ = writeln!(
                b,
                "; difflab had estimated {} before it started.</p>",
                secs(e)
            );
        }
        None => b.push_str(".</p>\n"),
    }
    let _ = writeln!(
        b,
        "<p>The final loss (mean squared error between the added and the predicted noise, averaged over the last epoch) is <b>{:.4}</b>. Reference values: <b>{ZERO_GUESS_LOSS:.1}</b> is what a model scores by always answering \"no noise\", and a model that has learned the digits gets below <b>{TARGET_LOSS}</b>. The loss can never reach 0: at large t even a perfect model cannot tell exactly which noise was added.</p>",
        num(t, "/final_loss").unwrap_or(f64::NAN)
    );
    b
}

/// Why difflab's sampling starts from matched rather than pure noise (Module 3).
const START_NOISE_NOTE: &str = "<p><b>Where the walk starts.</b> With the lab's T = 200 and linear betas, the noisiest training input still holds 36% of the digit: x<sub>T</sub> = 0.36·x<sub>0</sub> + 0.93·noise (ᾱ<sub>T</sub> ≈ 0.13; Module 1's schedule plot shows it). MNIST digits are mostly black background (pixel value −1), so every x<sub>T</sub> the model saw in training was darker on average than pure noise, which looks like an image with more ink than any digit. The Python lab starts from pure noise anyway, and its models then drift to the inkiest digits: about 4 in 100 of their digits are a 1, where a quarter of the training digits are. difflab starts from noise with the mean and spread that the forward process really gives the training images at step T (two numbers for the whole training set, nothing about any particular digit), and the 1s come back. Try <code>difflab eval --pure-start</code> against plain <code>difflab eval</code> to see the difference; with T = 1000, as in Module 4, the two starts are the same.</p>\n";

fn sample_numbers(data: &RunData) -> String {
    let mut b = generic_numbers(&data.sample, "Module 3");
    b.push_str(START_NOISE_NOTE);
    b.push_str(super::texts::FEW_STEPS);
    if data.sample.is_none() && data.train.is_some() {
        b.push_str("<p>Module 2's <code>preview.png</code> (above, in Module 2) already shows 16 digits generated from pure noise with all steps; use it for the questions below until Module 3 has run.</p>\n");
    }
    b
}

/// A table of a summary's top-level numbers and words (for modules whose fields the report
/// does not single out).
fn generic_numbers(v: &Option<Value>, name: &str) -> String {
    let Some(Value::Object(map)) = v else {
        return String::new();
    };
    let mut b = format!("<p>The numbers {name} recorded in its <code>summary.json</code>:</p>\n<div class=\"scroll\"><table><tr><th>field</th><th>value</th></tr>");
    for (k, val) in map {
        let shown = match val {
            Value::Number(n) => n
                .as_f64()
                .map(|f| {
                    if f.fract() == 0.0 {
                        format!("{f}")
                    } else {
                        format!("{f:.4}")
                    }
                })
                .unwrap_or_default(),
            Value::String(s) => s.clone(),
            Value::Bool(x) => x.to_string(),
            _ => continue,
        };
        let _ = write!(
            b,
            "<tr><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
            esc(k),
            esc(&shown)
        );
    }
    b.push_str("</table></div>\n");
    b
}

fn pretrained_numbers(data: &RunData) -> String {
    let p = &data.pretrained;
    if p.is_none() {
        return String::new();
    }
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p>You ran <code>{}</code> ({}): a diffusers UNet2DModel with <b>{}</b> parameters that makes {}×{} colour images and was trained with T = {} noise levels. Its {} images × {} steps ({}) took <b>{}</b>, {} per step.</p>",
        esc(&text(p, "/model/id").unwrap_or_default()),
        esc(&text(p, "/model/source").unwrap_or_default()),
        thousands(num(p, "/model/parameters").unwrap_or(0.0)),
        text(p, "/model/height").unwrap_or_default(),
        text(p, "/model/width").unwrap_or_default(),
        text(p, "/model/num_train_timesteps").unwrap_or_default(),
        text(p, "/count").unwrap_or_default(),
        text(p, "/steps").unwrap_or_default(),
        esc(&text(p, "/scheduler/sampler").unwrap_or_default()),
        secs(num(p, "/timings/samples_seconds").unwrap_or(f64::NAN)),
        ms(num(p, "/timings/seconds_per_step").unwrap_or(f64::NAN))
    );
    let runs = data.pretrained_step_runs();
    if !runs.is_empty() {
        b.push_str("<p>The same starting noise with different numbers of steps (<code>steps.png</code>):</p><div class=\"scroll\"><table><tr><th>sampler</th><th>steps</th><th>time</th></tr>");
        for (sampler, steps, s) in runs {
            let _ = write!(
                b,
                "<tr><td>{}</td><td class=\"num\">{steps}</td><td class=\"num\">{}</td></tr>",
                esc(&sampler),
                secs(s)
            );
        }
        b.push_str("</table></div>\n");
    }
    b
}

fn ms(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1e3)
    } else {
        secs(s)
    }
}

fn eval_numbers(data: &RunData) -> String {
    let e = &data.eval;
    if e.is_none() {
        return String::new();
    }
    let pct = |p: &str| 100.0 * num(e, p).unwrap_or(f64::NAN);
    let mut b =
        String::from("<h3 id=\"evaluation\">How good are the generated digits? (measured)</h3>\n");
    let _ = writeln!(
        b,
        "<p>difflab generated <b>{}</b> digits with DDPM over all {} steps ({} to generate) and showed each to an MNIST classifier like the Lab 7 CNN ({:.2}% accurate on the MNIST test digits). It was at least 90% sure of <b>{:.1}%</b> of them, and <b>{:.1}%</b> were one of the digits the model was trained on. The FID, a distance between the classifier's impression of the generated digits and of real ones (lower is closer; 0 would be identical), is <b>{:.2}</b>; real training digits score {:.2} on the same test, which is the best a generator can hope for.</p>",
        text(e, "/count").unwrap_or_default(),
        text(e, "/steps").unwrap_or_default(),
        secs(num(e, "/sample_seconds").unwrap_or(f64::NAN)),
        pct("/classifier/test_accuracy"),
        pct("/recognised"),
        pct("/in_classes"),
        num(e, "/fid").unwrap_or(f64::NAN),
        num(e, "/floor/fid").unwrap_or(f64::NAN)
    );
    if let Some(h) = e
        .as_ref()
        .and_then(|v| v.get("class_histogram"))
        .and_then(Value::as_array)
    {
        b.push_str("<p>Which digit the classifier saw in each generated image:</p><div class=\"scroll\"><table><tr><th>digit</th>");
        for d in 0..h.len() {
            let _ = write!(b, "<th>{d}</th>");
        }
        b.push_str("</tr><tr><td>count</td>");
        for c in h {
            let _ = write!(b, "<td class=\"num\">{c}</td>");
        }
        b.push_str("</tr></table></div>\n");
    }
    if data.eval50.is_some() {
        let f = &data.eval50;
        let _ = writeln!(
            b,
            "<p>With only <b>{}</b> DDPM steps the same evaluation gives FID <b>{:.2}</b> and {:.1}% recognised, in {}.</p>",
            text(f, "/steps").unwrap_or_default(),
            num(f, "/fid").unwrap_or(f64::NAN),
            100.0 * num(f, "/recognised").unwrap_or(f64::NAN),
            secs(num(f, "/sample_seconds").unwrap_or(f64::NAN))
        );
    }
    b
}

fn scale(b: &mut String, data: &RunData) {
    b.push_str("<h2 id=\"scale\">From toy to DALL-E</h2>\n<p>The same idea, add noise and learn to remove it, runs your toy model, the CIFAR-10 model of Module 4 and the systems that draw pictures from text. What changes is scale and conditioning. Figures for the large systems are the published ones, rounded.</p>\n");
    let t = &data.train;
    let toy_params = num(t, "/params")
        .map(thousands)
        .unwrap_or_else(|| "about 0.5 million".into());
    let toy_data = num(t, "/images")
        .map(|n| format!("{} MNIST digits", thousands(n)))
        .unwrap_or_else(|| "MNIST digits".into());
    let toy_res = text(t, "/image_size")
        .map(|s| format!("{s}×{s}, grey"))
        .unwrap_or_else(|| "16×16, grey".into());
    let toy_time = num(t, "/train_seconds")
        .map(|s| format!("{} on this computer's CPU", secs(s)))
        .unwrap_or_else(|| "about a minute on a laptop CPU".into());
    let cifar_params = num(&data.pretrained, "/params")
        .or(num(&data.pretrained, "/parameters"))
        .map(thousands)
        .unwrap_or_else(|| "35.7 million".into());
    let _ = writeln!(
        b,
        "<div class=\"scroll\"><table><tr><th></th><th>Your toy (Modules 2-3)</th><th>google/ddpm-cifar10-32 (Module 4)</th><th>Large text-to-image (e.g. Stable Diffusion 1.x)</th></tr>\
<tr><td>Parameters</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>about 860 million in the denoiser, plus a 123-million text encoder and an image decoder</td></tr>\
<tr><td>Training data</td><td>{}</td><td>50,000 CIFAR-10 photos</td><td>hundreds of millions to billions of captioned web images</td></tr>\
<tr><td>Resolution</td><td>{}</td><td>32×32, colour</td><td>512×512 colour (the loop runs on a 64×64×4 latent)</td></tr>\
<tr><td>Training compute</td><td>{}</td><td>about 10 hours on a TPU v3-8 (800,000 steps, Ho et al. 2020)</td><td>roughly 150,000 GPU-hours on A100s</td></tr>\
<tr><td>Conditioning</td><td>a digit label, with guidance (From digits to DALL-E)</td><td>none</td><td>a text prompt, through cross-attention and guidance</td></tr>\
<tr><td>Steps when generating</td><td>200 (DDPM); DDIM needs fewer but draws rougher digits from a model this small</td><td>1000 in training; 25-100 here</td><td>20-50 with fast samplers</td></tr></table></div>",
        esc(&toy_params),
        esc(&cifar_params),
        esc(&toy_data),
        esc(&toy_res),
        esc(&toy_time)
    );
    b.push_str("<h3>How conditioning changes the loop</h3>\n");
    b.push_str(CONDITIONING);
    for q in of_part(Part::Scale) {
        question(b, data, q);
    }
}
