//! Small HTML helpers: escaping, base64 data URIs for embedded figures, and the page's inline
//! style (no external fonts, scripts or network).

use crate::{Error, Result};
use std::path::Path;

/// `s` with `& < > " '` escaped for HTML text and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            if k <= c.len() {
                o.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// The file at `path` as a `data:` URI (PNG or GIF by extension).
pub fn data_uri(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("gif") => "image/gif",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        other => {
            return Err(Error::file(
                path,
                format!("cannot embed a .{} file as an image", other.unwrap_or("")),
            ))
        }
    };
    Ok(format!("data:{mime};base64,{}", base64(&bytes)))
}

/// The inline style shared by the report and the answer sheet: readable on a phone and a
/// laptop, clean when printed.
pub const CSS: &str = r#"
:root { --ink:#1d2230; --muted:#5b6273; --line:#d9dde6; --soft:#f4f6fa; --accent:#2f6fb3; --q:#fff7e0; --qline:#e8c25a; --m:#e9f6ec; --mline:#5aa86b; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; font: 17px/1.6 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 52rem; margin: 0 auto; padding: 1rem 1.1rem 4rem; }
h1 { font-size: 1.9rem; line-height: 1.2; margin: 1.2rem 0 .3rem; }
h2 { font-size: 1.45rem; margin: 2.6rem 0 .6rem; padding-top: .6rem; border-top: 3px solid var(--accent); }
h3 { font-size: 1.12rem; margin: 1.6rem 0 .4rem; }
p, li { max-width: 46rem; }
a { color: var(--accent); }
.lead { color: var(--muted); margin-top: 0; }
nav { background: var(--soft); border-radius: 8px; padding: .6rem 1rem; margin: 1rem 0; }
nav ol { margin: .2rem 0; padding-left: 1.3rem; columns: 2 14rem; }
figure { margin: 1.2rem 0; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; background: #fff; }
figcaption { font-size: .93rem; color: var(--muted); margin-top: .35rem; }
figcaption b { color: var(--ink); }
.scroll { overflow-x: auto; margin: .8rem 0; }
table { border-collapse: collapse; font-size: .93rem; min-width: 100%; }
th, td { border: 1px solid var(--line); padding: .35rem .55rem; text-align: left; vertical-align: top; }
th { background: var(--soft); }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.question { background: var(--q); border-left: 5px solid var(--qline); border-radius: 6px; padding: .55rem .9rem; margin: 1rem 0; }
.question .qn { font-weight: 700; }
.measured { background: var(--m); border-left: 5px solid var(--mline); border-radius: 6px; padding: .45rem .9rem; margin: .6rem 0; font-size: .95rem; }
.skipped { background: #fdecea; border-left: 5px solid #d9534f; border-radius: 6px; padding: .55rem .9rem; margin: 1rem 0; }
.tiers { display: grid; grid-template-columns: 1fr; gap: .5rem; margin: .6rem 0 1.4rem; }
.tier { border: 1px solid var(--line); border-radius: 6px; padding: .5rem .8rem; }
.tier h4 { margin: 0 0 .2rem; font-size: .8rem; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
.formula { font-family: "DejaVu Serif", Georgia, "Times New Roman", serif; font-size: 1.12rem; overflow-x: auto; white-space: nowrap; }
pre, code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .88rem; }
pre { background: var(--soft); border-radius: 6px; padding: .6rem .8rem; overflow-x: auto; margin: 0; white-space: pre; }
.answer { border: 1px solid var(--line); border-radius: 6px; min-height: 6.5rem; margin: .4rem 0 1.4rem; background: repeating-linear-gradient(#fff, #fff 1.9rem, #e6e9ef 1.9rem, #e6e9ef calc(1.9rem + 1px)); }
.fields td { height: 2.4rem; min-width: 14rem; }
.small { font-size: .9rem; color: var(--muted); }
@media print {
  body { font-size: 11pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-before: page; border-top: none; }
  h2.first, h2.keep { break-before: auto; }
  figure, .question, .measured, .tier, table, pre, .answer { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
  .question, .measured, .skipped { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// A complete HTML document with the shared style.
pub fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n</body>\n</html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o, "{i}");
        }
    }

    #[test]
    fn escaping_covers_markup_characters() {
        assert_eq!(
            esc("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"
        );
    }
}
