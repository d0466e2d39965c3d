//! The forms a secret travels in. A secret is sent as written (a header, a bearer token), inside a URL
//! (percent-encoded, in userinfo or a query), inside Basic auth's base64 of `user:password`, and it comes back
//! JSON-escaped when a partner or a log line quotes it: each of those forms must be recognised.

use base64::Engine as _;

/// Shortest form recognised: shorter ones (`"ab"`) would garble every text they occur in by chance.
pub(crate) const MIN_LEN: usize = 2;

/// Shortest base64 fragment recognised for a secret found inside a longer base64 text: shorter fragments of
/// four or five characters could match unrelated base64 by chance.
const MIN_FRAGMENT: usize = 6;

/// `value` percent-encoded: every byte but the unreserved ones (RFC 3986), with upper- or lower-case hex, and
/// the form encoding (`+` for a space).
fn percent_encoded(value: &str) -> [String; 3] {
    let mut upper = String::new();
    let mut lower = String::new();
    let mut form = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            upper.push(b as char);
            lower.push(b as char);
            form.push(b as char);
        } else {
            upper.push_str(&format!("%{b:02X}"));
            lower.push_str(&format!("%{b:02x}"));
            if b == b' ' {
                form.push('+');
            } else {
                form.push_str(&format!("%{b:02X}"));
            }
        }
    }
    [upper, lower, form]
}

/// `value` as it appears inside a JSON string (quotes, backslashes, control characters escaped).
pub(crate) fn json_escaped(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// The base64 characters that encode `value` wherever it sits in a longer encoded text: base64 packs 3 bytes
/// in 4 characters, so a value starting at offset 0, 1 or 2 (mod 3) gives three different encodings; the
/// characters that also carry bits of the neighbouring bytes are dropped, what remains is the same whatever
/// surrounds the value.
fn base64_fragments(value: &[u8], engine: &base64::engine::GeneralPurpose) -> Vec<String> {
    let mut out = Vec::new();
    for shift in 0..3usize {
        let mut bytes = vec![0u8; shift];
        bytes.extend_from_slice(value);
        let encoded = engine.encode(&bytes);
        let bits = 8 * bytes.len();
        // Characters fully inside the value's bits: from ceil(8 * shift / 6) to floor(bits / 6).
        let start = (8 * shift).div_ceil(6);
        let end = bits / 6;
        if end > start && end - start >= MIN_FRAGMENT && end <= encoded.len() {
            out.push(encoded[start..end].to_string());
        }
    }
    out
}

/// Every form of a resolved secret: as written, JSON-escaped, percent-encoded (three ways), base64 (the
/// value alone, padded or not, standard or URL-safe alphabet) and the fragments that betray it inside any
/// longer base64 text (Basic auth's `user:secret`, a token that embeds it).
pub fn of_secret(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string(), json_escaped(secret)];
    forms.extend(percent_encoded(secret));
    for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE] {
        let whole = engine.encode(secret);
        forms.push(whole.trim_end_matches('=').to_string());
        forms.push(whole);
        forms.extend(base64_fragments(secret.as_bytes(), engine));
    }
    dedup(forms)
}

/// The forms of a Basic auth pair: the `Authorization` value, the base64 of `user:password` (the secret
/// within it is found by [`of_secret`]'s fragments too, but a short password leaves none).
pub fn of_basic_pair(username: &str, password: &str) -> Vec<String> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    dedup(vec![format!("Basic {encoded}"), encoded])
}

/// Shortest sensitive value looked for in its encoded and cut forms (and by the partner guard at all):
/// shorter ones (a one-letter code, `no`) would match ordinary text by chance. Shorter values are still
/// scrubbed as written.
pub const MIN_VALUE: usize = 4;

/// Length, in characters, of the runs of a sensitive value that are recognised on their own: a mapping that
/// keeps 8 consecutive characters of a value (a substring, a date of birth inside a longer text) is caught;
/// one that keeps fewer is not. Shorter runs would match unrelated text: 6 characters of a date
/// (`-10-18`) are any other date of that day.
pub const SUBSTRING_MIN: usize = 8;

/// Letters or digits a run must hold to count: a run of punctuation or spaces betrays nothing.
const SUBSTRING_MIN_ALNUM: usize = 4;

/// `value` as lower-case hex of its UTF-8 bytes (upper-case hex is the same needle looked for without case).
fn hex(value: &str) -> String {
    value.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The forms a sensitive value is looked for in, as two lists: `folded`, matched whatever the (ASCII)
/// case, and `exact`, matched as they are (base64, where case carries the bits).
///
/// - the value as written, JSON-escaped, percent-encoded and in hex, whatever the case (a mapping that
///   upper-cases it still sends it);
/// - from [`MIN_VALUE`] characters: its base64 (padded or not, both alphabets) and the base64 fragments that
///   betray it inside any longer base64 text;
/// - when it is longer than [`SUBSTRING_MIN`]: every run of [`SUBSTRING_MIN`] consecutive characters
///   holding at least four letters or digits, as written, JSON-escaped, percent-encoded and in hex,
///   whatever the case: any substring of that length or more contains one, so a value cut by a mapping,
///   or put inside a longer string, is found (and scrubbed whole: the runs found overlap).
///
/// What is not recognised: a value cut to fewer than [`SUBSTRING_MIN`] characters, hashed, encrypted,
/// reversed, spelt out, or re-encoded in a way not listed here (the base64 of a part of it, say).
pub fn of_sensitive(value: &str) -> (Vec<String>, Vec<String>) {
    let mut folded = vec![value.to_string(), json_escaped(value)];
    let mut exact = Vec::new();
    if value.chars().count() < MIN_VALUE {
        return (Vec::new(), dedup(folded));
    }
    folded.extend(percent_encoded(value));
    folded.push(hex(value));
    for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE] {
        let whole = engine.encode(value);
        exact.push(whole.trim_end_matches('=').to_string());
        exact.push(whole);
        exact.extend(base64_fragments(value.as_bytes(), engine));
    }
    let chars: Vec<(usize, char)> = value.char_indices().collect();
    if chars.len() > SUBSTRING_MIN {
        for start in 0..=chars.len() - SUBSTRING_MIN {
            let window = &chars[start..start + SUBSTRING_MIN];
            if window.iter().filter(|(_, c)| c.is_alphanumeric()).count() < SUBSTRING_MIN_ALNUM {
                continue;
            }
            let from = window[0].0;
            let to = chars.get(start + SUBSTRING_MIN).map_or(value.len(), |(i, _)| *i);
            let run = &value[from..to];
            folded.push(run.to_string());
            folded.push(json_escaped(run));
            folded.push(percent_encoded(run)[0].clone());
            folded.push(hex(run));
        }
    }
    (dedup(folded), dedup(exact))
}

fn dedup(mut forms: Vec<String>) -> Vec<String> {
    forms.retain(|f| f.len() >= MIN_LEN);
    let mut seen = std::collections::HashSet::new();
    forms.retain(|f| seen.insert(f.clone()));
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_known_as_written_percent_encoded_json_escaped_and_in_base64() {
        let forms = of_secret("p@ss \"word\"");
        for form in
            ["p@ss \"word\"", "p@ss \\\"word\\\"", "p%40ss%20%22word%22", "p%40ss+%22word%22", "cEBzcyAid29yZCI="]
        {
            assert!(forms.iter().any(|f| f == form), "{form} missing from {forms:?}");
        }
    }

    #[test]
    fn a_secret_inside_a_longer_base64_text_is_found_whatever_its_offset() {
        let secret = "basic-pass-5150";
        let forms = of_secret(secret);
        for prefix in ["", "u:", "us:", "relais:"] {
            let header = base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{secret}"));
            assert!(forms.iter().any(|f| header.contains(f.as_str())), "{prefix}: {header} not caught by {forms:?}");
        }
    }

    #[test]
    fn a_sensitive_value_is_looked_for_in_its_encodings_and_by_its_runs_of_eight_characters() {
        let (folded, exact) = of_sensitive("1961-10-18");
        for form in ["1961-10-18", "961-10-1", "61-10-18", "313936312d31302d3138", "3936312d31302d31"] {
            assert!(folded.iter().any(|f| f == form), "{form} missing from {folded:?}");
        }
        assert!(!folded.iter().any(|f| f.len() < SUBSTRING_MIN), "no run shorter than {SUBSTRING_MIN}: {folded:?}");
        assert!(exact.contains(&"MTk2MS0xMC0xOA==".to_string()), "{exact:?}");
    }

    #[test]
    fn a_short_value_is_only_known_as_written_and_a_run_of_punctuation_is_not_a_form() {
        assert_eq!(of_sensitive("no"), (Vec::new(), vec!["no".to_string()]));
        let (folded, _) = of_sensitive("ab - - - - - - cd");
        assert!(!folded.iter().any(|f| f.chars().count() == SUBSTRING_MIN), "{folded:?}");
    }

    #[test]
    fn a_basic_pair_is_known_as_its_header_value() {
        assert!(of_basic_pair("relais", "pw").contains(&"Basic cmVsYWlzOnB3".to_string()));
    }
}
