//! Byte spans into loaded source files.
//!
//! Every IR node carries a [`Span`] so that every diagnostic, from YAML syntax to a Rhai error inside a
//! transform, can point at `file:line:column`. Spans are small `Copy` values; the text lives in [`SourceMap`].

use std::fmt;

/// Identifies a file registered in a [`SourceMap`]. Cheap to copy and compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A half-open byte range `[start, end)` in one file.
///
/// Spans deliberately serialize as `null`: serialized IR (snapshots, `--format json` plans, the YAML/DSL twin
/// test) is about structure, and two spellings of the same flow must serialize identically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// The file the range points into.
    pub file: FileId,
    /// First byte of the range.
    pub start: u32,
    /// One past the last byte of the range.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets; offsets beyond `u32::MAX` saturate (files that large are refused earlier).
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span { file, start: clamp(start), end: clamp(end.max(start)) }
    }

    /// The smallest span covering both `self` and `other` (same file assumed).
    pub fn to(self, other: Span) -> Span {
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// A sub-range of this span, relative to its start, clamped to stay inside it.
    pub fn sub(self, offset: usize, len: usize) -> Span {
        let start = (self.start as usize + offset).min(self.end as usize);
        let end = (start + len).min(self.end as usize);
        Span::new(self.file, start, end)
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// True for a zero-length span (an insertion point such as "end of file").
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(span: Span) -> Self {
        miette::SourceSpan::new((span.start as usize).into(), span.len())
    }
}

impl serde::Serialize for Span {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

/// A value with the span it was written at.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Pairs a value with its span.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

impl<T: serde::Serialize> serde::Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(serializer)
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

/// A 1-based line and column (column counted in characters), as editors and CI annotations show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// One loaded file: its display path and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as given on the command line or found by discovery; used in every diagnostic.
    pub path: String,
    /// The full text (valid UTF-8: invalid files are refused before they get here).
    pub text: String,
    line_starts: Vec<usize>,
    /// `char_marks[k]`: characters starting in the first `k * CHAR_BLOCK` bytes, so that a column on a long
    /// (minified) line costs one block's scan, not the whole line's: rendering stays linear.
    char_marks: Vec<usize>,
}

/// Block size of [`SourceFile`]'s character index.
const CHAR_BLOCK: usize = 1024;

/// Characters starting in `bytes` (bytes that are not UTF-8 continuation bytes).
fn char_starts(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b & 0xC0 != 0x80).count()
}

impl SourceFile {
    /// Registers a file and indexes its line starts once, so position look-ups are a binary search.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        let mut char_marks = vec![0];
        for block in text.as_bytes().chunks(CHAR_BLOCK) {
            let before = char_marks.last().copied().unwrap_or(0);
            char_marks.push(before + char_starts(block));
        }
        SourceFile { path: path.into(), text, line_starts, char_marks }
    }

    /// Characters starting before byte `offset` (at most the text's length).
    fn chars_before(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let block = offset / CHAR_BLOCK;
        self.char_marks.get(block).copied().unwrap_or(0)
            + char_starts(self.text.as_bytes().get(block * CHAR_BLOCK..offset).unwrap_or(&[]))
    }

    /// The 0-based line holding byte `offset` (offsets past the end are on the last line).
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.line_starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// The 0-based character column of byte `offset` within its line.
    pub fn column_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        let start = self.line_starts.get(self.line_index(offset)).copied().unwrap_or(0);
        if self.text.is_char_boundary(offset) {
            self.chars_before(offset) - self.chars_before(start)
        } else {
            offset - start
        }
    }

    /// Byte offset one past the end of a 0-based line, its newline excluded (the text's end for the last).
    pub fn line_end(&self, line: usize) -> usize {
        self.line_starts.get(line + 1).map_or(self.text.len(), |&next| next - 1)
    }

    /// Line and column of a byte offset (offsets past the end map to the end).
    pub fn line_col(&self, offset: usize) -> LineCol {
        LineCol { line: self.line_index(offset) + 1, column: self.column_index(offset) + 1 }
    }

    /// Byte offset of the start of a 0-based line, if the file has that line.
    pub fn line_start(&self, line: usize) -> Option<usize> {
        self.line_starts.get(line).copied()
    }
}

/// All files of one compilation. `dsl` never reads files itself: the caller adds their text here.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its id.
    pub fn add(&mut self, path: impl Into<String>, text: impl Into<String>) -> FileId {
        self.files.push(SourceFile::new(path, text));
        FileId(u32::try_from(self.files.len() - 1).unwrap_or(u32::MAX))
    }

    /// The file behind an id. Ids only come from [`SourceMap::add`], so they are always in range for the map
    /// that issued them; a foreign id yields an empty placeholder rather than a panic.
    pub fn file(&self, id: FileId) -> &SourceFile {
        static EMPTY: std::sync::OnceLock<SourceFile> = std::sync::OnceLock::new();
        self.files.get(id.0 as usize).unwrap_or_else(|| EMPTY.get_or_init(|| SourceFile::new("<unknown>", "")))
    }

    /// Every file, in the order added.
    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    /// Finds a file by path.
    pub fn find(&self, path: &str) -> Option<FileId> {
        self.files.iter().position(|f| f.path == path).map(|i| FileId(i as u32))
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.file(span.file).text.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters_from_one() {
        let f = SourceFile::new("a", "ab\nçd\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        assert_eq!(f.line_col(5), LineCol { line: 2, column: 2 });
        assert_eq!(f.line_col(99), LineCol { line: 3, column: 1 });
    }

    #[test]
    fn sub_spans_stay_inside_their_parent() {
        let s = Span::new(FileId(0), 10, 20);
        assert_eq!(s.sub(5, 100), Span::new(FileId(0), 15, 20));
        assert_eq!(s.sub(50, 1), Span::new(FileId(0), 20, 20));
    }
}
