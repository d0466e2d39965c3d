//! A fast first pass of the arrival check of JSON: one loop over the bytes that says "surely valid" of the
//! documents it can vouch for, and "not sure" of every other one.
//!
//! [`super::json_check::check`] runs serde_json's parser with a visitor that keeps nothing; on a 2.6 KB
//! order that still costs tens of thousands of instructions (a visitor call per value, every string
//! decoded into a scratch buffer, every number converted), most of the work of a request that only
//! forwards the body. [`surely_valid`] walks the same grammar without decoding anything, so the common case
//! (a well-formed body) is decided in a few instructions a byte, with no allocation.
//!
//! It never decides a refusal: what it is not sure of (anything malformed, and the rare corners where
//! serde_json's verdict takes more than the grammar: a number whose value may overflow an `f64`, a `\u`
//! escape of a surrogate, nesting at the depth limit) goes to the full check, which then accepts or refuses
//! it and words the error exactly as before. So the only claim to keep true is that every document it
//! vouches for is one serde_json accepts within [`relais_stdlib::MAX_DEPTH`]; the tests compare it with
//! serde_json on edge cases and on generated and mutated documents.

/// Containers nested deeper than this are left to the full check: [`relais_stdlib::MAX_DEPTH`], and never
/// more than the 127 levels serde_json's own recursion limit allows.
const DEPTH: usize = if relais_stdlib::MAX_DEPTH < 127 { relais_stdlib::MAX_DEPTH } else { 127 };

/// The largest decimal exponent (integer digits plus the written exponent) of a number vouched for: far
/// below the 308 of `f64::MAX`, so that no number vouched for can be out of range however serde_json rounds.
const MAGNITUDE: i64 = 300;

/// Bytes that end the plain run through a string: the closing quote, an escape, a control character.
static STRING_STOP: [bool; 256] = {
    let mut stop = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        stop[b] = true;
        b += 1;
    }
    stop[b'"' as usize] = true;
    stop[b'\\' as usize] = true;
    stop
};

/// Whether `raw` is surely one JSON value serde_json accepts (RFC 8259, at most [`DEPTH`] levels, nothing
/// but whitespace after it). `false` means "not sure", never "invalid": the caller then runs the full check.
pub(super) fn surely_valid(raw: &[u8]) -> bool {
    // JSON outside strings is ASCII, so the whole document is valid UTF-8 exactly when every string is:
    // one pass of the standard library's validator instead of one per string.
    if std::str::from_utf8(raw).is_err() {
        return false;
    }
    let mut s = Scanner { raw, at: 0 };
    // `objects[d]`: whether the container at depth `d` is an object; `object`: that of the innermost one.
    let mut objects = [false; DEPTH];
    let mut object = false;
    let mut depth = 0usize;
    s.skip_whitespace();
    'value: loop {
        // A value is expected at `s.at`.
        match s.peek() {
            b'{' | b'[' => {
                let opened = s.peek() == b'{';
                s.at += 1;
                if depth >= DEPTH {
                    return false;
                }
                objects[depth] = opened;
                depth += 1;
                s.skip_whitespace();
                let empty = if opened { b'}' } else { b']' };
                if s.peek() == empty {
                    s.at += 1;
                    depth -= 1;
                } else {
                    object = opened;
                    if object && !s.key() {
                        return false;
                    }
                    continue 'value;
                }
            }
            b'"' => {
                s.at += 1;
                if !s.string() {
                    return false;
                }
            }
            b't' => {
                if !s.literal(b"true") {
                    return false;
                }
            }
            b'f' => {
                if !s.literal(b"false") {
                    return false;
                }
            }
            b'n' => {
                if !s.literal(b"null") {
                    return false;
                }
            }
            b'-' | b'0'..=b'9' => {
                if !s.number() {
                    return false;
                }
            }
            _ => return false,
        }
        // A value has ended: what follows closes containers, separates values, or ends the document.
        loop {
            s.skip_whitespace();
            if depth == 0 {
                return s.at == raw.len();
            }
            match s.peek() {
                b',' => {
                    s.at += 1;
                    s.skip_whitespace();
                    if object && !s.key() {
                        return false;
                    }
                    continue 'value;
                }
                b'}' if object => {}
                b']' if !object => {}
                _ => return false,
            }
            s.at += 1;
            depth -= 1;
            object = depth > 0 && objects[depth - 1];
        }
    }
}

/// A position in the document.
struct Scanner<'a> {
    raw: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    /// The byte at the position, or 0 at the end (0 is valid nowhere outside a string, and a control
    /// character inside one, so the end needs no case of its own).
    #[inline]
    fn peek(&self) -> u8 {
        self.raw.get(self.at).copied().unwrap_or(0)
    }

    /// Skips JSON's four whitespace bytes.
    #[inline]
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), b' ' | b'\n' | b'\r' | b'\t') {
            self.at += 1;
        }
    }

    /// An object key and its colon, leaving the position at the value (after any whitespace).
    fn key(&mut self) -> bool {
        if self.peek() != b'"' {
            return false;
        }
        self.at += 1;
        if !self.string() {
            return false;
        }
        self.skip_whitespace();
        if self.peek() != b':' {
            return false;
        }
        self.at += 1;
        self.skip_whitespace();
        true
    }

    /// The rest of a string after its opening quote, through the closing one. UTF-8 was checked for the
    /// whole document; here: no control character, escapes as JSON defines them, no surrogate escape.
    fn string(&mut self) -> bool {
        loop {
            let rest = &self.raw[self.at..];
            let Some(stop) = rest.iter().position(|&b| STRING_STOP[usize::from(b)]) else {
                return false;
            };
            self.at += stop + 1;
            match rest[stop] {
                b'"' => return true,
                b'\\' if !self.escape() => return false,
                b'\\' => {}
                // A control character: serde_json refuses it.
                _ => return false,
            }
        }
    }

    /// An escape after its backslash. A `\u` escape of a surrogate (paired or not) is left to the full
    /// check, which knows serde_json's pairing rules.
    fn escape(&mut self) -> bool {
        let kind = self.peek();
        self.at += 1;
        match kind {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => true,
            b'u' => {
                let Some(hex) = self.raw.get(self.at..self.at + 4) else {
                    return false;
                };
                let mut code = 0u32;
                for &h in hex {
                    let Some(digit) = char::from(h).to_digit(16) else {
                        return false;
                    };
                    code = code * 16 + digit;
                }
                self.at += 4;
                !(0xD800..=0xDFFF).contains(&code)
            }
            _ => false,
        }
    }

    /// A literal (`true`, `false`, `null`) at the position.
    fn literal(&mut self, word: &[u8]) -> bool {
        if self.raw[self.at..].starts_with(word) {
            self.at += word.len();
            true
        } else {
            false
        }
    }

    /// A number: `-`? (`0` | [1-9][0-9]*) (`.` [0-9]+)? ([eE] [+-]? [0-9]+)?, vouched for only when its
    /// magnitude is surely within an `f64` (below 10^[`MAGNITUDE`]). A digit right after a leading `0` is
    /// refused by what follows a value (a digit is not a separator).
    fn number(&mut self) -> bool {
        if self.peek() == b'-' {
            self.at += 1;
        }
        let integer_digits = match self.peek() {
            b'0' => {
                self.at += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return false,
        };
        if self.peek() == b'.' {
            self.at += 1;
            if self.digits() == 0 {
                return false;
            }
        }
        let mut exponent = 0i64;
        if matches!(self.peek(), b'e' | b'E') {
            self.at += 1;
            let negative = match self.peek() {
                b'-' => {
                    self.at += 1;
                    true
                }
                b'+' => {
                    self.at += 1;
                    false
                }
                _ => false,
            };
            let start = self.at;
            let count = self.digits();
            // More than four digits of exponent (leading zeros or not): left to the full check.
            if count == 0 || count > 4 {
                return false;
            }
            exponent = self.raw[start..self.at].iter().fold(0, |e, &d| e * 10 + i64::from(d - b'0'));
            if negative {
                exponent = -exponent;
            }
        }
        // The value is below 10^(integer digits + exponent); a negative exponent only makes it smaller
        // (serde_json takes an underflow as 0).
        i64::try_from(integer_digits).is_ok_and(|digits| digits + exponent.max(0) <= MAGNITUDE)
    }

    /// Skips ASCII digits, saying how many.
    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.at;
        while self.peek().is_ascii_digit() {
            self.at += 1;
        }
        self.at - start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value as Json;

    /// What a parse into a value (and the depth check after it) says of `raw`.
    fn parses(raw: &[u8]) -> bool {
        serde_json::from_slice::<Json>(raw).ok().is_some_and(|v| relais_stdlib::check_depth(&v).is_ok())
    }

    /// The one claim the fast pass makes: what it vouches for, a parse accepts.
    fn assert_sound(raw: &[u8]) {
        if surely_valid(raw) {
            assert!(parses(raw), "vouched for but refused by serde_json: {:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn well_formed_documents_are_vouched_for() {
        let cases: &[&[u8]] = &[
            b"{\"a\": [1, 2.5, -3, true, null, \"x\\n\\u00e9\"]}",
            b"\"just a string\"",
            b"  {\"a\" : {} , \"b\" : [ ] , \"c\" : [ {} ] }\r\n\t",
            b"0",
            b"-0",
            b"-0.5e-3",
            b"1E+2",
            b"123456789012345678901234567890",
            b"18446744073709551616",
            b"-9223372036854775809",
            b"[1e299, 9.99e299, 1e-400, 0.0000001, 1e-9999]",
            b"\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0000 \\uFFFF \\uabcd\"",
            b"\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80\"",
            b"{\"a\":1,\"a\":2}",
            b"[true,false,null]",
        ];
        for raw in cases {
            assert!(surely_valid(raw), "{}", String::from_utf8_lossy(raw));
            assert!(parses(raw), "{}", String::from_utf8_lossy(raw));
        }
        let large = include_bytes!("../../../tests/bench/data/order_large.json");
        assert!(surely_valid(large), "the benchmark's 2.6 KB order");
    }

    #[test]
    fn malformed_documents_and_hard_corners_are_left_to_the_full_check() {
        let cases: &[&[u8]] = &[
            b"",
            b"  ",
            b"[1e400]",
            b"[1e300]",
            b"[1e301]",
            b"[0e400]",
            b"[1e00001]",
            b"\"\\ud800\"",
            b"\"\\ud83d\\ude00\"",
            b"\"\\udc00\"",
            b"\"\\x\"",
            b"\"\\u12\"",
            b"\"\\u12g4\"",
            b"\"tab\there\"",
            b"\"unterminated",
            b"{\"a\": 1,}",
            b"[1, 2,]",
            b"[1, 2",
            b"{1: 2}",
            b"{\"a\" 1}",
            b"{\"a\": 1} {\"b\": 2}",
            b"\"\xff\"",
            b"\xef\xbb\xbf{}",
            b"nul",
            b"nulll",
            b"True",
            b"01",
            b"-01",
            b"+1",
            b".5",
            b"1.",
            b"1.e5",
            b"1e",
            b"1e+",
            b"-",
            b"[-]",
            b"\x0c{}",
            b"{}\x0c",
            b"{} \x00",
            b"[}",
            b"{]",
            b"]",
            b"{\"a\":}",
        ];
        for raw in cases {
            assert!(!surely_valid(raw), "{}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn nesting_is_vouched_for_up_to_the_depth_limit_only() {
        for (levels, vouched) in [(DEPTH, true), (DEPTH + 1, false), (100_000, false)] {
            let arrays = format!("{}{}", "[".repeat(levels), "]".repeat(levels));
            assert_eq!(surely_valid(arrays.as_bytes()), vouched, "{levels} arrays");
            let objects = format!("{}1{}", "{\"k\":".repeat(levels), "}".repeat(levels));
            assert_eq!(surely_valid(objects.as_bytes()), vouched, "{levels} objects");
            assert_sound(arrays.as_bytes());
            assert_sound(objects.as_bytes());
        }
        // Containers of both kinds, closed in the wrong order at depth.
        let mixed = format!("{}1{}", "[{\"k\":".repeat(40), "}]".repeat(40));
        assert!(surely_valid(mixed.as_bytes()));
        let crossed = format!("{}1{}", "[{\"k\":".repeat(40), "]}".repeat(40));
        assert!(!surely_valid(crossed.as_bytes()));
    }

    /// Arbitrary JSON values, nested a few levels, with strings and numbers of every shape serde_json writes.
    fn json_value() -> impl Strategy<Value = Json> {
        let leaf = prop_oneof![
            Just(Json::Null),
            any::<bool>().prop_map(Json::Bool),
            any::<i64>().prop_map(Json::from),
            any::<u64>().prop_map(Json::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Json::from),
            ".*".prop_map(Json::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Json::Array),
                prop::collection::vec((".*", inner), 0..8).prop_map(|m| Json::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The largest exponent written anywhere in `raw` (`e`, an optional `+`, digits; 0 when none): an
    /// over-estimate of what numbers hold, since a string may contain such text too.
    fn largest_exponent(raw: &[u8]) -> u64 {
        let mut largest = 0;
        for (i, _) in raw.iter().enumerate().filter(|(_, &b)| b == b'e' || b == b'E') {
            let rest = raw[i + 1..].strip_prefix(b"+").unwrap_or(&raw[i + 1..]);
            let digits: Vec<u8> = rest.iter().copied().take_while(u8::is_ascii_digit).take(6).collect();
            let exponent = digits.iter().fold(0, |e, &d| e * 10 + u64::from(d - b'0'));
            largest = largest.max(exponent);
        }
        largest
    }

    /// Bytes that make JSON interesting when put anywhere in a document.
    const NASTY: &[u8] = b"{}[]\",:\\/ \t\n\r0123456789.eE+-truefalsnu\x00\x0c\x1f\x7f\xc3\xa9\xff\xed\xa0\x80";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn every_document_serde_json_writes_is_vouched_for_or_left_to_it(value in json_value(), pretty in any::<bool>()) {
            let raw = if pretty { serde_json::to_vec_pretty(&value) } else { serde_json::to_vec(&value) };
            let raw = raw.expect("a Value always serialises");
            assert_sound(&raw);
            // Only numbers near the magnitude bound are left to the full check among written documents.
            if largest_exponent(&raw) < 290 {
                prop_assert!(surely_valid(&raw), "{}", String::from_utf8_lossy(&raw));
            }
        }

        #[test]
        fn a_mutated_document_is_vouched_for_only_when_serde_json_accepts_it(
            value in json_value(),
            edits in prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, prop::sample::select(NASTY)), 1..4),
        ) {
            let mut raw = serde_json::to_vec(&value).expect("a Value always serialises");
            for (at, kind, byte) in edits {
                let i = at.index(raw.len() + 1);
                match kind {
                    0 => raw.insert(i, byte),
                    1 if i < raw.len() => { raw.remove(i); }
                    _ if i < raw.len() => raw[i] = byte,
                    _ => raw.push(byte),
                }
            }
            assert_sound(&raw);
        }

        #[test]
        fn arbitrary_bytes_are_vouched_for_only_when_serde_json_accepts_them(raw in prop::collection::vec(prop::sample::select(NASTY), 0..40)) {
            assert_sound(&raw);
        }

        #[test]
        fn numbers_of_every_shape_are_vouched_for_only_when_serde_json_accepts_them(
            number in "-?(0|[1-9][0-9]{0,400})(\\.[0-9]{1,30})?([eE][+-]?[0-9]{1,6})?",
        ) {
            assert_sound(number.as_bytes());
            assert_sound(format!("[{number}]").as_bytes());
        }
    }
}
