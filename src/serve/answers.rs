//! The answer sheet: the student's answers to Q1-Q25 (and their name), saved as they type into
//! `--data/answers.json` (written atomically, so a crash never leaves half a file), read back
//! after a reload or a restart, and downloaded as Markdown in the layout of the answer sheet
//! `difflab lab` writes.

use super::error::{ApiError, ApiResult};
use super::lab_api::{self, QuestionView};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use tokio::sync::Mutex;

/// File name of the answers inside `--data`.
pub const ANSWERS_FILE: &str = "answers.json";
/// Longest answer accepted, in characters.
pub const MAX_ANSWER_CHARS: usize = 20_000;

/// What is stored.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sheet {
    /// The student's name.
    #[serde(default)]
    pub name: String,
    /// Answers by question number.
    #[serde(default)]
    pub answers: BTreeMap<usize, String>,
}

/// The body of `PUT /api/answers/{n}` and `PUT /api/answers/name`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    /// The whole answer as it stands now.
    pub text: String,
}

/// The answers of one `--data` folder; one writer at a time, in the order the saves came.
pub struct AnswerStore {
    path: PathBuf,
    sheet: Mutex<Sheet>,
}

impl AnswerStore {
    /// Open `dir/answers.json` (an empty sheet when there is none yet; an error when it is
    /// damaged, so that nothing a student wrote is overwritten silently).
    pub fn open(dir: &std::path::Path) -> lab_api::LabResult<Self> {
        let path = dir.join(ANSWERS_FILE);
        let sheet = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                lab_api::invalid(format!(
                    "{}: not a valid answer file ({e}); move it away to start a new sheet",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Sheet::default(),
            Err(e) => return Err(lab_api::LabError::io(&path, e)),
        };
        Ok(AnswerStore {
            path,
            sheet: Mutex::new(sheet),
        })
    }

    /// Every answer and the questions, for the page.
    pub async fn get(&self) -> Value {
        let sheet = self.sheet.lock().await.clone();
        let questions: Vec<Value> = lab_api::questions()
            .into_iter()
            .map(|q| {
                json!({
                    "number": q.number, "part": q.part, "part_title": q.part_title,
                    "heading": q.heading, "text": q.text, "evidence": q.evidence,
                })
            })
            .collect();
        json!({ "name": sheet.name, "answers": sheet.answers, "questions": questions })
    }

    /// Save `text` as the answer to question `key` (`1`…`25` or `name`), then write the file.
    pub async fn put(&self, key: &str, text: String) -> ApiResult<Value> {
        let chars = text.chars().count();
        if chars > MAX_ANSWER_CHARS {
            return Err(ApiError::too_large(format!(
                "text: {chars} characters, at most {MAX_ANSWER_CHARS}"
            )));
        }
        let mut sheet = self.sheet.lock().await;
        if key == "name" {
            sheet.name = text;
        } else {
            let n = parse_number(key)?;
            if text.is_empty() {
                sheet.answers.remove(&n);
            } else {
                sheet.answers.insert(n, text);
            }
        }
        let bytes = serde_json::to_vec_pretty(&*sheet)
            .map_err(|e| ApiError::internal(format!("could not encode the answers: {e}")))?;
        let path = self.path.clone();
        // Written while the lock is held: saves land on disk in the order they arrived.
        tokio::task::spawn_blocking(move || lab_api::write_atomic(&path, &bytes)).await??;
        Ok(json!({ "saved": key, "characters": chars }))
    }

    /// The answer sheet as Markdown.
    pub async fn markdown(&self) -> String {
        let sheet = self.sheet.lock().await.clone();
        markdown(&sheet, &lab_api::questions())
    }
}

fn parse_number(key: &str) -> ApiResult<usize> {
    match key.parse::<usize>() {
        Ok(n) if (1..=25).contains(&n) => Ok(n),
        _ => Err(ApiError::not_found(format!(
            "question: '{key}' is not a question number 1-25 (or `name`)"
        ))),
    }
}

/// The sheet in `difflab lab`'s `answer-sheet.md` layout, with the student's answers filled in.
pub fn markdown(sheet: &Sheet, questions: &[QuestionView]) -> String {
    let mut o = String::from("# Lab 8 · Diffusion models · Answer sheet\n\n");
    let name = if sheet.name.trim().is_empty() {
        "______________________________"
    } else {
        sheet.name.trim()
    };
    let _ = writeln!(o, "Name: {name}\n");
    o.push_str("Answer in your own words. Written in `difflab serve`.\n\n");
    let mut part = "";
    for q in questions {
        if part != q.part {
            part = q.part;
            let _ = writeln!(o, "## {}\n", q.part_title);
        }
        let _ = writeln!(o, "**{}** {}\n", q.heading, q.text);
        match sheet.answers.get(&q.number).map(|a| a.trim()) {
            Some(a) if !a.is_empty() => {
                o.push_str("Answer:\n\n");
                for line in a.lines() {
                    let _ = writeln!(o, "> {line}");
                }
                o.push('\n');
            }
            _ => o.push_str("Answer:\n\n&nbsp;\n\n&nbsp;\n\n"),
        }
    }
    o
}
