//! HTML blocks that several sections of the report share: a figure with its caption, and the
//! box saying a stage was skipped.

use super::facts::RunData;
use super::html::{data_uri, esc};
use super::record::{Stage, Status};
use crate::Result;
use std::fmt::Write as _;
use std::path::Path;

/// The box explaining that `stage` was skipped, why, and how to run it later (nothing when it
/// was not skipped).
pub(super) fn skipped_box(b: &mut String, data: &RunData, stage: Stage) {
    if let Some(s) = data
        .record
        .stage(stage)
        .filter(|s| s.status == Status::Skipped)
    {
        let _ = writeln!(
            b,
            "<div class=\"skipped\"><b>{} was skipped.</b> Why: {}.<br>To run it later: <code>{}</code>, then <code>difflab lab --out {}</code> to rebuild this report.</div>",
            esc(stage.title()),
            esc(s.reason.as_deref().unwrap_or("no reason recorded").trim_end_matches('.')),
            esc(&s.command),
            esc(&data.dir.display().to_string())
        );
        if stage == Stage::Pretrained {
            b.push_str("<p class=\"small\">A copy of the model's files in a local folder works too: <code>difflab lab --pretrained-model path/to/folder</code>.</p>\n");
        }
    }
}

/// A figure embedded as a data URI, with its title, file name and what to notice in it.
pub(super) fn figure(b: &mut String, path: &Path, title: &str, notice: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let _ = writeln!(
        b,
        "<figure><img src=\"{}\" alt=\"{}\" loading=\"lazy\"><figcaption><b>{}</b> <code>{}</code> · What to notice: {}</figcaption></figure>",
        data_uri(path)?,
        esc(title),
        esc(title),
        esc(&name),
        esc(notice)
    );
    Ok(())
}
