//! Diagnostics for text the grammar refuses: pest errors in plain words, unclosed `#[`, and the nesting
//! pre-scan that keeps the recursive parser off deep input.

use super::{FlowParser, Rule, MAX_NESTING};
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Span};
use pest::error::{Error, ErrorVariant, InputLocation};
use pest::Parser;

/// Refuses text whose `{`/`[` brackets nest deeper than [`MAX_NESTING`], in one linear pass.
///
/// Brackets inside `"..."` and `"""..."""` strings and comments do not count; everything else does, including
/// brackets inside `#[...]` expressions, because the grammar recurses on those too.
pub(crate) fn nesting_too_deep(text: &str, file: FileId) -> Option<Diagnostic> {
    let mut depth = 0usize;
    for (i, byte) in structural_bytes(text, text.len()) {
        match byte {
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_NESTING {
                    let span = Span::new(file, i, i + 1);
                    return Some(
                        Diagnostic::error(
                            codes::NESTING_LIMIT,
                            span,
                            format!("brackets nest more than {MAX_NESTING} levels deep"),
                        )
                        .label(format!("level {} starts here", MAX_NESTING + 1))
                        .help("flatten the document: split deep step blocks into sub-flows"),
                    );
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The bytes of `text[..end]` outside `"..."` / `"""..."""` strings and comments, with their offsets: what
/// bracket-counting scans look at.
fn structural_bytes(text: &str, end: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
    let bytes = text.as_bytes();
    let end = end.min(bytes.len());
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < end {
            let rest = &bytes[i..];
            if rest.starts_with(b"\"\"\"") {
                i += 3 + find(&bytes[i + 3..], b"\"\"\"").map_or(bytes.len(), |e| e + 3);
            } else if rest.starts_with(b"\"") {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            } else if rest.starts_with(b"//") {
                i += find(rest, b"\n").unwrap_or(rest.len());
            } else if rest.starts_with(b"/*") {
                i += 2 + find(&rest[2..], b"*/").map_or(rest.len(), |e| e + 2);
            } else {
                i += 1;
                return Some((i - 1, bytes[i - 1]));
            }
        }
        None
    })
}

/// The innermost `{` still open at byte `at`, to show which block an error is in, or which block a
/// truncated file never closed.
fn open_brace_before(text: &str, at: usize) -> Option<usize> {
    let mut open: Vec<usize> = Vec::new();
    for (i, byte) in structural_bytes(text, at) {
        match byte {
            b'{' => open.push(i),
            b'}' => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

/// The opening `"` of the last `"..."` string before `at` that runs over a line break: a string never
/// closed on its own line, which the grammar reads up to the next `"` further down (triple-quoted strings
/// may span lines and are skipped).
fn string_across_lines(text: &str, at: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let end = at.min(bytes.len());
    let mut i = 0;
    let mut found = None;
    while i < end {
        let rest = &bytes[i..];
        if rest.starts_with(b"\"\"\"") {
            i += 3 + find(&bytes[i + 3..], b"\"\"\"").map_or(bytes.len(), |e| e + 3);
        } else if rest.starts_with(b"\"") {
            let open = i;
            i += 1;
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\n' {
                    found = Some(open);
                }
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else if rest.starts_with(b"//") {
            i += find(rest, b"\n").unwrap_or(rest.len());
        } else {
            i += 1;
        }
    }
    found
}

/// A `{` left open on its own line: where it is, how many `}` its line lacks, and where the line ends.
pub(crate) struct Unclosed {
    /// Offset of the `{`.
    pub brace: usize,
    /// `{` minus `}` on its line.
    pub missing: usize,
    /// Offset of the line's end (its `\n`, or the text's end).
    pub line_end: usize,
}

/// The `{` still open at byte `at` that the indentation says should have closed on its own line: it is on
/// an earlier line than `at`, more `{` than `}` are written on that line, and the next non-blank line is
/// indented no deeper than it (a block's `{` is followed by deeper lines). A map left open at the end of a
/// step's line is the usual case: the grammar reads the following lines as the map's keys and stops there.
pub(crate) fn unclosed_on_its_line(text: &str, at: usize) -> Option<Unclosed> {
    let brace = open_brace_before(text, at)?;
    let line_start = text[..brace].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[brace..].find('\n').map_or(text.len(), |i| brace + i);
    if at <= line_end {
        return None;
    }
    let indent = |line: &str| line.len() - line.trim_start_matches([' ', '\t']).len();
    let own = indent(&text[line_start..line_end]);
    // The end of the text closes every block too.
    let next = text[line_end..].lines().find(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"));
    if next.is_some_and(|l| indent(l) > own) {
        return None;
    }
    let (mut opens, mut closes) = (0, 0);
    for (_, b) in structural_bytes(text, line_end).filter(|(i, _)| *i >= line_start) {
        match b {
            b'{' => opens += 1,
            b'}' => closes += 1,
            _ => {}
        }
    }
    (opens > closes).then_some(Unclosed { brace, missing: opens - closes, line_end })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A pest error as a diagnostic saying what was expected, in words.
pub(crate) fn syntax_error(err: &Error<Rule>, text: &str, file: FileId) -> Diagnostic {
    let (start, end) = match err.location {
        InputLocation::Pos(p) => (p, p + token_len(text, p)),
        InputLocation::Span((s, e)) => (s, e),
    };
    let span = Span::new(file, start, end);
    let found = match text.get(start..start + token_len(text, start)) {
        Some(tok) if !tok.is_empty() => format!("found `{}`", tok.escape_debug()),
        _ => "found the end of the file".to_string(),
    };
    if start >= text.len() || text.get(start..).is_some_and(|rest| rest.starts_with("#[")) {
        if let Some(open) = unclosed_expression(text, start, file) {
            return open;
        }
    }
    if text.get(start..).is_some_and(|rest| rest.starts_with('"') && !rest.starts_with("\"\"\""))
        && FlowParser::parse(Rule::string, &text[start..]).is_err()
    {
        // A string left open on an earlier line swallowed the text up to the next `"`: that one is at fault.
        let start = string_across_lines(text, start).unwrap_or(start);
        return Diagnostic::error(codes::DSL_SYNTAX, Span::new(file, start, start + 1), "unterminated string")
            .label("this string is never closed")
            .help("close it with `\"`; a `\"` inside the text is written `\\\"`");
    }
    if let Some(Unclosed { brace, .. }) = unclosed_on_its_line(text, start) {
        let line = text[..brace].matches('\n').count() + 1;
        return Diagnostic::error(codes::DSL_SYNTAX, Span::new(file, brace, brace + 1), "this `{` is never closed")
            .label("opened here; the lines after it are not inside it")
            .with_label(span, format!("the parser noticed only here, {found}"))
            .help(format!(
                "close it with `}}` at the end of line {line} (a block's lines are indented deeper than its `{{`)"
            ));
    }
    if let Some(misspelt) = mistyped_keyword(text, start, file) {
        return misspelt;
    }
    let open = open_brace_before(text, start);
    let with_open = |d: Diagnostic| match open {
        Some(at) => d.with_label(Span::new(file, at, at + 1), "inside the `{` opened here"),
        None => d,
    };
    match &err.variant {
        ErrorVariant::ParsingError { .. } if start >= text.len() && open.is_some() => {
            let at = open.unwrap_or_default();
            Diagnostic::error(codes::DSL_SYNTAX, Span::new(file, at, at + 1), "the file ends inside an unclosed `{`")
                .label("this `{` is never closed")
                .help("add the missing `}`")
        }
        ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
            let expected = expected_list(positives);
            let line_start = text[..start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
            let mid_line = !text[line_start..start.min(text.len())].trim().is_empty();
            // A step ended and more of its line follows: a second argument where the step takes one.
            let help = (mid_line && expected.contains("a step")).then(|| {
                "a step ends at the end of its argument: start the next step on its own line, join two texts \
                 into one string, and write a step's options in `{ key: value }` after it"
                    .to_string()
            });
            with_open(
                Diagnostic::error(codes::DSL_SYNTAX, span, format!("expected {expected}, {found}"))
                    .label(format!("expected {expected} here"))
                    .maybe_help(help),
            )
        }
        ErrorVariant::ParsingError { .. } => {
            Diagnostic::error(codes::DSL_SYNTAX, span, format!("unexpected text: {found}")).label("not expected here")
        }
        ErrorVariant::CustomError { message } if message.contains("limit") => Diagnostic::error(
            codes::NESTING_LIMIT,
            span,
            format!("the file is too deeply nested or too complex to parse ({message})"),
        )
        .label("parsing stopped here")
        .help("flatten the document: split deep step blocks into sub-flows"),
        ErrorVariant::CustomError { message } => {
            Diagnostic::error(codes::DSL_SYNTAX, span, message.clone()).label("here")
        }
    }
}

/// The words besides the step keywords ([`crate::ir::STEP_KEYWORDS`]) that start a statement inside a flow:
/// with them, what a misspelt first word most likely meant.
const FLOW_BODY_KEYWORDS: &[&str] = &["source", "on_error", "max_concurrency", "initial_state", "objectives"];

/// Every word that may start a statement inside a flow.
fn statement_keywords() -> impl Iterator<Item = &'static str> {
    crate::ir::STEP_KEYWORDS.iter().chain(FLOW_BODY_KEYWORDS).copied()
}

/// The words that start a top-level item.
pub(super) const ITEM_KEYWORDS: &[&str] = &["import", "property", "config", "flow", "sub_flow"];

/// An error on the line of a statement whose first word is a misspelt keyword (`set_varible id = 1`): the
/// grammar reads the word as a component step and stops later, at the `=`; the word is what to fix.
fn mistyped_keyword(text: &str, at: usize, file: FileId) -> Option<Diagnostic> {
    let at = at.min(text.len());
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
    let word_start = line_start + indent;
    let word_len =
        text[word_start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len() - word_start);
    let word = &text[word_start..word_start + word_len];
    // A statement's error comes after its first word; an item's may be at the word itself.
    let after_word = word_start + word_len < at || (indent == 0 && word_start == at);
    if word.is_empty() || !after_word || text[word_start + word_len..].starts_with('.') {
        return None;
    }
    if statement_keywords().any(|k| k == word) || ITEM_KEYWORDS.contains(&word) {
        return None;
    }
    let suggestion = if indent == 0 {
        crate::diagnostic::did_you_mean(word, ITEM_KEYWORDS.iter().copied())
    } else {
        crate::diagnostic::did_you_mean(word, statement_keywords())
    }?;
    let (code, what, a) =
        if indent == 0 { (codes::DSL_SYNTAX, "item", "an item") } else { (codes::UNKNOWN_STEP, "step", "a step") };
    Some(
        Diagnostic::error(code, Span::new(file, word_start, word_start + word_len), format!("unknown {what} `{word}`"))
            .label(format!("not {a} keyword, so the rest of the line cannot be read"))
            .help(suggestion),
    )
}

/// Byte length of the token starting at `at`: a word, or one character.
fn token_len(text: &str, at: usize) -> usize {
    let Some(rest) = text.get(at..) else { return 0 };
    let word = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len()).min(40);
    if word > 0 && rest.is_char_boundary(word) {
        word
    } else {
        rest.chars().next().map_or(0, char::len_utf8)
    }
}

/// The `#[` at the error position, or when the parse failed at the end of the file the first `#[`, that
/// never closes.
fn unclosed_expression(text: &str, at: usize, file: FileId) -> Option<Diagnostic> {
    let never_closes = |i: &usize| text.get(*i..).is_some_and(|rest| FlowParser::parse(Rule::expr, rest).is_err());
    let at = if at < text.len() {
        Some(at).filter(never_closes)?
    } else {
        text.match_indices("#[").map(|(i, _)| i).find(never_closes)?
    };
    Some(
        Diagnostic::error(codes::UNCLOSED_EXPRESSION, Span::new(file, at, at + 2), "this `#[` is never closed")
            .label("expression opened here")
            .help("close it with `]`; brackets inside the expression must balance"),
    )
}

/// "a step, `}` or `on_error`".
fn expected_list(rules: &[Rule]) -> String {
    let mut words: Vec<&str> = Vec::new();
    for rule in rules {
        let word = describe(*rule);
        if !words.contains(&word) {
            words.push(word);
        }
    }
    match words.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => "something else".to_string(),
    }
}

/// What a rule is called in an error message.
fn describe(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        EOI => "the end of the file",
        file | import | property | config | flow | sub_flow => "`import`, `property`, `config`, `flow` or `sub_flow`",
        kw_import => "`import`",
        kw_property => "`property`",
        kw_config => "`config`",
        kw_flow => "`flow`",
        kw_sub_flow => "`sub_flow`",
        max_concurrency | kw_max_concurrency => "`max_concurrency`",
        initial_state | kw_initial_state => "`initial_state`",
        objectives | kw_objectives => "`objectives`",
        source | kw_source => "`source`",
        handler | kw_on_error => "`on_error`",
        handler_action => "`continue` or `propagate`",
        error_types | error_type => "an error type such as `HTTP:NOT_FOUND`",
        handler_when | kw_when | when_branch => "`when`",
        otherwise_branch | kw_otherwise => "`otherwise`",
        route | kw_route => "`route`",
        kw_file => "`file`",
        step | step_id | generic_step | set_payload | set_variable | remove_variable | transform | logger | choice
        | foreach | parallel_foreach | scatter_gather | first_successful | flow_ref | try_step | until_successful
        | raise_error | validate | idempotent | async_step | kw_set_payload | kw_set_variable | kw_remove_variable
        | kw_transform | kw_logger | kw_choice | kw_foreach | kw_parallel_foreach | kw_scatter_gather
        | kw_first_successful | kw_flow_ref | kw_try | kw_until_successful | kw_raise_error | kw_validate
        | kw_idempotent | kw_async => "a step",
        step_id_name => "a step id",
        block => "a `{` opening a block of steps",
        routes => "a `{` opening the routes",
        message => "a quoted string or `#[...]` expression",
        logger_level => "a log level",
        value | generic_arg => "a value",
        list => "a list",
        map => "a `{ key: value }` map",
        entry | key | key_word => "a key",
        name => "a name",
        qualified => "a component name such as `http.request`",
        config_ref | plain_word => "a config name",
        expr | expr_code => "a `#[...]` expression",
        triple | triple_text | string | string_text => "a quoted string",
        escape => "an escape sequence (`\\\"`, `\\\\`, `\\n`, `\\t`, `\\r`, `\\u{...}`)",
        number => "a number",
        boolean => "`true` or `false`",
        null => "`null`",
        bare | ident | reserved | error_word => "a word",
        test_file | tests_block | kw_tests => "`tests FLOW { ... }`",
        test_case | kw_test => "`test \"name\" { ... }`",
        test_now | kw_now | test_input | kw_input | test_mock | kw_mock | test_expect | kw_expect | test_fire_time
        | kw_fire_time | test_request | kw_request => "`now`, `fire_time`, `input`, `request`, `mock`, `expect` or `}`",
        kw_step | kw_component => "`step` or `component`",
        lbrace => "`{`",
        rbrace => "`}`",
        lbracket => "`[`",
        rbracket => "`]`",
        comma => "`,`",
        colon => "`:`",
        equals => "`=`",
        _ => "something else",
    }
}
