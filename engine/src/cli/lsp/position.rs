//! Byte offsets (what spans hold) to LSP positions and back. LSP counts columns in UTF-16 code units by
//! default, so `é` is one column, `😀` two, while both are several bytes in the file.

use lsp_types::{Position, Range};

/// The line starts of one text, for converting offsets in both directions.
#[derive(Debug, Clone)]
pub struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the first byte of each line.
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    /// Indexes `text`'s lines (`\n` ends a line; a `\r` before it belongs to no column a client can reach).
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The position of byte `offset`; an offset past the end is the end, one inside a character is that
    /// character's start.
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.starts.partition_point(|&s| s <= offset).saturating_sub(1);
        let start = self.starts.get(line).copied().unwrap_or(0);
        let character: usize = self.text[start..offset].chars().map(char::len_utf16).sum();
        Position { line: clamp(line), character: clamp(character) }
    }

    /// The range of bytes `start..end`.
    pub fn range(&self, start: usize, end: usize) -> Range {
        Range { start: self.position(start), end: self.position(end.max(start)) }
    }

    /// The byte offset of a position; a line past the end is the end of the text, a column past the end of
    /// its line is the line's end, and a column inside a surrogate pair is the character's start.
    pub fn offset(&self, position: Position) -> usize {
        let Some(&start) = self.starts.get(position.line as usize) else { return self.text.len() };
        let end = self.starts.get(position.line as usize + 1).map_or(self.text.len(), |next| next - 1);
        let line = &self.text[start..end];
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut units = 0usize;
        for (i, c) in line.char_indices() {
            if units + c.len_utf16() > position.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        start + line.len()
    }

    /// The position just past the last character (the end of a whole-document edit).
    pub fn end(&self) -> Position {
        self.position(self.text.len())
    }
}

fn clamp(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units_not_bytes() {
        let text = "a: é😀x\nb";
        let index = LineIndex::new(text);
        let x = text.find('x').unwrap_or_default();
        assert_eq!(index.position(x), Position { line: 0, character: 6 });
        assert_eq!(index.offset(Position { line: 0, character: 6 }), x);
        let b = text.find('b').unwrap_or_default();
        assert_eq!(index.position(b), Position { line: 1, character: 0 });
    }

    #[test]
    fn positions_out_of_range_or_inside_a_character_are_clamped() {
        let text = "😀\r\nz";
        let index = LineIndex::new(text);
        // Inside the surrogate pair: the character's start.
        assert_eq!(index.offset(Position { line: 0, character: 1 }), 0);
        // Past the line's end: before the `\r\n`.
        assert_eq!(index.offset(Position { line: 0, character: 99 }), 4);
        assert_eq!(index.offset(Position { line: 9, character: 0 }), text.len());
        // A byte offset inside the emoji maps to its start.
        assert_eq!(index.position(2), Position { line: 0, character: 0 });
        assert_eq!(index.position(999), Position { line: 1, character: 1 });
    }
}
