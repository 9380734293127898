//! The answer sheet, as Markdown and as printable HTML: name and date, the 25 questions with
//! space to write, measured facts only where a question asks for one (marked as measured),
//! optional reflection questions and a checklist.

use super::facts::{Measured, RunData};
use super::html::{document, esc};
use super::questions::{Part, CHECKLIST, QUESTIONS, REFLECTION};
use std::fmt::Write as _;

fn part_title(p: Part) -> &'static str {
    match p {
        Part::Concepts => "Module 0 · The ideas",
        Part::Forward => "Module 1 · Forward diffusion",
        Part::Train => "Module 2 · Training the denoiser",
        Part::Sample => "Module 3 · Generating digits",
        Part::Pretrained => "Module 4 · The pretrained model",
        Part::Scale => "From toy to DALL-E",
    }
}

fn intro(data: &RunData) -> String {
    let mode = if data.record.fast {
        " (a quick --fast run)"
    } else {
        ""
    };
    format!(
        "Answer in your own words. Measured values from your run{mode} are filled in where a question asks for one; they are facts to use in your answer, not the answer. The report (index.html in {}) shows the figure each question refers to.",
        data.dir.display()
    )
}

/// `answer-sheet.md`.
pub fn markdown(data: &RunData) -> String {
    let mut o = String::from("# Lab 8 · Diffusion models · Answer sheet\n\n");
    o.push_str("Name: ______________________________\n\nDate: ______________________________\n\n");
    let _ = writeln!(o, "{}\n", intro(data));
    let mut part = None;
    for q in &QUESTIONS {
        if part != Some(q.part) {
            part = Some(q.part);
            let _ = writeln!(o, "## {}\n", part_title(q.part));
        }
        let _ = writeln!(o, "**{}** {}\n", q.heading(), q.text);
        if q.number == 10 {
            o.push_str("My prediction, written before training started: ______________________________\n\n");
        }
        for m in data.measured(q.number) {
            let _ = writeln!(
                o,
                "> *Measured in this run* — {}: **{}** ({})\n",
                m.what, m.value, m.source
            );
        }
        o.push_str("Answer:\n\n&nbsp;\n\n&nbsp;\n\n&nbsp;\n\n");
    }
    o.push_str("## Optional reflection\n\n");
    for (i, r) in REFLECTION.iter().enumerate() {
        let _ = writeln!(o, "{}. {r}\n\n   &nbsp;\n", i + 1);
    }
    o.push_str("## Before you submit\n\n");
    for c in &CHECKLIST {
        let _ = writeln!(o, "- [ ] {c}");
    }
    o
}

fn measured_html(o: &mut String, m: &[Measured]) {
    for x in m {
        let _ = write!(o, "<div class=\"measured\"><i>Measured in this run</i> — {}: <b>{}</b> <span class=\"small\">({})</span></div>", esc(&x.what), esc(&x.value), esc(&x.source));
    }
}

/// `answer-sheet.html`.
pub fn html(data: &RunData) -> String {
    let mut o = String::from("<h1>Lab 8 · Diffusion models · Answer sheet</h1>\n");
    o.push_str("<div class=\"scroll\"><table class=\"fields\"><tr><th>Name</th><td></td></tr><tr><th>Date</th><td></td></tr></table></div>\n");
    let _ = writeln!(o, "<p class=\"lead\">{}</p>", esc(&intro(data)));
    let mut part = None;
    for q in &QUESTIONS {
        if part != Some(q.part) {
            part = Some(q.part);
            let _ = writeln!(o, "<h2 class=\"keep\">{}</h2>", esc(part_title(q.part)));
        }
        let _ = write!(
            o,
            "<p id=\"q{}\"><b>{}</b> {}</p>",
            q.number,
            esc(&q.heading()),
            esc(q.text)
        );
        if q.number == 10 {
            o.push_str(
                "<p>My prediction, written before training started: ______________________</p>",
            );
        }
        measured_html(&mut o, &data.measured(q.number));
        o.push_str("<div class=\"answer\"></div>\n");
    }
    o.push_str("<h2 class=\"keep\">Optional reflection</h2>\n<ol>");
    for r in &REFLECTION {
        let _ = write!(o, "<li>{}<div class=\"answer\"></div></li>", esc(r));
    }
    o.push_str("</ol>\n<h2 class=\"keep\">Before you submit</h2>\n<ul>");
    for c in &CHECKLIST {
        let _ = write!(o, "<li>☐ {}</li>", esc(c));
    }
    o.push_str("</ul>\n");
    document("Lab 8 · Answer sheet", &o)
}
