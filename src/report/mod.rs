//! The lab report (`index.html`) and the answer sheet (`answer-sheet.md`, `answer-sheet.html`),
//! written from the lab's record and the modules' own `summary.json` files.
//!
//! - [`questions`]: the 25 questions, reflection questions and the checklist;
//! - [`texts`]: Module 0, the three formulas in three tiers, "from toy to DALL-E";
//! - [`figures`]: each module's figures and what to notice in them;
//! - [`record`]: `lab.json`, the lab's record of its stages (written by `crate::lab`);
//! - [`facts`]: the run's numbers, read back from the modules' files;
//! - [`page`]: the report page; [`sheet`]: the answer sheets; [`html`]: escaping, embedding, style.

mod blocks;
mod control;
mod facts;
pub mod figures;
pub mod html;
pub mod page;
pub mod questions;
pub mod record;
pub mod sheet;
pub mod texts;

pub use facts::{Measured, RunData};
pub use questions::{Question, QUESTIONS};

use crate::util::fsio::write_atomic;
use crate::Result;
use record::LabRecord;
use std::path::{Path, PathBuf};

/// File names of the report and the answer sheets, in the lab folder.
pub const INDEX_FILE: &str = "index.html";
/// The answer sheet as Markdown.
pub const SHEET_MD_FILE: &str = "answer-sheet.md";
/// The answer sheet as printable HTML.
pub const SHEET_HTML_FILE: &str = "answer-sheet.html";

/// The files [`write_report`] wrote.
#[derive(Clone, Debug)]
pub struct ReportFiles {
    /// `index.html`.
    pub index: PathBuf,
    /// `answer-sheet.md`.
    pub sheet_md: PathBuf,
    /// `answer-sheet.html`.
    pub sheet_html: PathBuf,
}

/// Write the report and the answer sheets into `dir` for the lab described by `record`,
/// reading each finished module's summary from its folder.
pub fn write_report(dir: &Path, record: &LabRecord) -> Result<ReportFiles> {
    let data = RunData::load(dir, record)?;
    let files = ReportFiles {
        index: dir.join(INDEX_FILE),
        sheet_md: dir.join(SHEET_MD_FILE),
        sheet_html: dir.join(SHEET_HTML_FILE),
    };
    write_atomic(&files.index, page::index_html(&data)?.as_bytes())?;
    write_atomic(&files.sheet_md, sheet::markdown(&data).as_bytes())?;
    write_atomic(&files.sheet_html, sheet::html(&data).as_bytes())?;
    Ok(files)
}
