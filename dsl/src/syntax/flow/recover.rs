//! Going on after a syntax error, so that one typo does not hide every other error of the file (the YAML
//! side lowers whatever it can read too).
//!
//! The file is cut into its top-level items at each line that starts, unindented, with `import`,
//! `property`, `config`, `flow` or `sub_flow`. Each item is parsed on its own, in a copy of the text where
//! every other item is blanked out (line breaks kept), so spans stay those of the file. Items that parse
//! make the document; each item that does not adds its own syntax error, unless it is the one already
//! reported, and is parsed again without the offending line ([`MAX_LINES_SKIPPED`]). The cost is one parse per item over the text before it, so files with more items than
//! [`MAX_ITEMS`] are not recovered (their first error is still reported).

use super::{errors, values, FlowParser, Rule};
use crate::diagnostic::Diagnostics;
use crate::span::{FileId, Span};
use crate::syntax::Node;
use pest::Parser;

/// Most top-level items a file may have for recovery to run.
const MAX_ITEMS: usize = 512;

/// Most lines skipped in one item: after its first error, the line of each error is blanked (when its
/// brackets balance, so the blocks around it stay as written) and the item parsed again, so the rest of a
/// flow with one bad line is still read and checked. Only the first error of an item is reported; the
/// later ones may be consequences of the first.
const MAX_LINES_SKIPPED: usize = 16;

/// Blanks the line holding byte `at` of `piece` when its brackets balance; whether it did.
fn blank_line(piece: &mut String, at: usize) -> bool {
    let at = at.min(piece.len());
    let start = piece[..at].rfind('\n').map_or(0, |i| i + 1);
    let end = piece[at..].find('\n').map_or(piece.len(), |i| at + i);
    let line = &piece[start..end];
    // An item's own first line (`flow x { ... }`) is never skipped: that would drop the item.
    let first_word = line.trim_start().split([' ', '\t']).next().unwrap_or_default();
    if line.trim().is_empty() || STARTS.contains(&first_word) {
        return false;
    }
    let count = |c: char| line.matches(c).count();
    if count('{') != count('}') || count('[') != count(']') {
        return false;
    }
    let blank = " ".repeat(end - start);
    piece.replace_range(start..end, &blank);
    true
}

/// Repairs the line of a `{` never closed: with one `}` missing, its line break becomes that `}` (offsets
/// stay those of the file, and the line is still read, so its own errors are reported); otherwise the line
/// is blanked, unless it is an item's own first line. Whether the piece changed.
fn close_line(piece: &mut String, open: &errors::Unclosed) -> bool {
    let end = open.line_end.min(piece.len());
    let line_break = if piece[..end].ends_with('\r') { end - 1 } else { end };
    if open.missing == 1 && piece[line_break..].starts_with(['\r', '\n']) {
        piece.replace_range(line_break..line_break + 1, "}");
        return true;
    }
    let start = piece[..open.brace.min(end)].rfind('\n').map_or(0, |i| i + 1);
    let first_word = piece[start..end].trim_start().split([' ', '\t']).next().unwrap_or_default();
    if STARTS.contains(&first_word) {
        return false;
    }
    let blank = " ".repeat(end - start);
    piece.replace_range(start..end, &blank);
    true
}

const STARTS: &[&str] = errors::ITEM_KEYWORDS;

/// Byte offsets where top-level items start: unindented lines beginning with an item keyword.
fn item_starts(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut line = 0;
    loop {
        let rest = &text[line..];
        let word_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let after = rest[word_len..].chars().next();
        let word = &rest[..word_len];
        // A misspelt item keyword (`confg`) starts an item too, so that the items after it are not lost.
        let keyword = STARTS.contains(&word)
            || (word_len > 2 && crate::diagnostic::did_you_mean(word, STARTS.iter().copied()).is_some());
        if keyword && after.is_some_and(|c| c == ' ' || c == '\t' || c == '"') {
            starts.push(line);
        }
        match rest.find('\n') {
            Some(i) => line += i + 1,
            None => break,
        }
    }
    starts
}

/// `text[..end]` with every byte before `start` blanked (a space; line breaks kept), so that offsets and
/// line numbers stay those of `text`.
fn only(text: &str, start: usize, end: usize) -> String {
    let mut out: String = text.as_bytes()[..start].iter().map(|&b| if b == b'\n' { '\n' } else { ' ' }).collect();
    out.push_str(&text[start..end]);
    out
}

/// The document of the items of `text` that parse on their own, with a syntax error for each other item
/// (other than `reported`); `None` when nothing could be recovered.
pub(super) fn items(text: &str, file: FileId, reported: Span, diags: &mut Diagnostics) -> Option<Node> {
    let starts = item_starts(text);
    if starts.is_empty() || starts.len() > MAX_ITEMS {
        return None;
    }
    let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let from = if k == 0 { 0 } else { start };
        bounds.push((from, starts.get(k + 1).copied().unwrap_or(text.len())));
    }
    let mut pieces: Vec<String> = bounds.iter().map(|&(start, end)| only(text, start, end)).collect();
    let mut failed = Vec::new();
    let mut good = Vec::new();
    for (k, piece) in pieces.iter_mut().enumerate() {
        for attempt in 0..MAX_LINES_SKIPPED {
            let Err(err) = FlowParser::parse(Rule::file, piece) else {
                good.push(k);
                break;
            };
            if attempt == 0 {
                let diagnostic = errors::syntax_error(&err, piece, file);
                if diagnostic.primary.span != reported {
                    failed.push(diagnostic);
                }
            }
            let at = match err.location {
                pest::error::InputLocation::Pos(p) => p,
                pest::error::InputLocation::Span((p, _)) => p,
            };
            // A `{` left open on an earlier line is the cause: skip that line, not the one the parser
            // stopped at (which balances, and is not at fault).
            let blanked = match errors::unclosed_on_its_line(piece, at) {
                Some(open) => close_line(piece, &open),
                None => blank_line(piece, at),
            };
            if !blanked {
                break;
            }
        }
    }
    let mut parsed = Vec::new();
    for k in good {
        if let Ok(mut pairs) = FlowParser::parse(Rule::file, &pieces[k]) {
            parsed.extend(pairs.next().map(|file| file.into_inner()));
        }
    }
    if parsed.is_empty() {
        return None;
    }
    diags.extend(failed);
    let doc = values::Builder::new(file, text, diags).document_of(parsed.into_iter().flatten());
    Some(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_start_at_unindented_keywords_only() {
        let text = "config a = x.y\n\nflow f {\n    flow_ref g\n}\n  flow g {}\nsub_flow h {\n}\n";
        assert_eq!(item_starts(text), vec![0, 16, 54]);
    }

    #[test]
    fn a_broken_flow_does_not_hide_the_next_one() {
        let text = "flow a {\n    logger \"x\" \"y\"\n}\n\nflow b {\n    set_payload \"ok\"\n}\n";
        let mut diags = Diagnostics::new();
        let doc = crate::syntax::flow::parse(text, FileId(0), &mut diags);
        let flows = doc.as_ref().and_then(|d| d.get("flows")).and_then(|f| f.as_map()).map(|m| m.len());
        assert_eq!(flows, Some(2));
        assert_eq!(diags.iter().count(), 1, "{diags:?}");
    }

    #[test]
    fn a_brace_left_open_on_its_line_is_closed_and_the_rest_of_the_flow_is_read() {
        let text = "flow a {\n    logger info \"x\" { category: audit\n    set_payload \"ok\"\n    flow_ref b\n}\n";
        let mut diags = Diagnostics::new();
        let doc = crate::syntax::flow::parse(text, FileId(0), &mut diags);
        let steps =
            doc.as_ref().and_then(|d| d.get("flows")).and_then(|f| f.get("a")).and_then(|f| f.get("steps")).map(|s| {
                match &s.value {
                    crate::syntax::Value::List(items) => items.len(),
                    _ => 0,
                }
            });
        assert_eq!(steps, Some(3), "{doc:?}");
        let reported: Vec<_> = diags.iter().map(|d| (d.message.clone(), d.primary.span.start)).collect();
        assert_eq!(reported, vec![("this `{` is never closed".to_string(), 29)]);
    }

    #[test]
    fn a_config_left_open_does_not_leave_its_name_undefined() {
        let text =
            "config crm = http.client { base_url: \"http://x\"\n\nflow a {\n    http.request crm { method: GET }\n}\n";
        let mut diags = Diagnostics::new();
        let doc = crate::syntax::flow::parse(text, FileId(0), &mut diags);
        assert!(doc.as_ref().and_then(|d| d.get("configs")).and_then(|c| c.get("crm")).is_some(), "{doc:?}");
        assert_eq!(diags.iter().count(), 1, "{diags:?}");
    }
}
