//! File-name patterns of `file.listener`: `*` any run of characters, `?` one character, everything else
//! itself. Matched against the name only (never a path), so a pattern cannot reach another directory.

/// Whether `name` matches `pattern`.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative wildcard matching with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_question_marks_match_file_names() {
        assert!(matches("*.csv", "partners-2026.csv"));
        assert!(matches("orders_??.json", "orders_07.json"));
        assert!(matches("*", "anything"));
        assert!(!matches("*.csv", "partners.csv.part"));
        assert!(!matches("orders_??.json", "orders_7.json"));
        assert!(matches("a*b*c", "a-x-b-y-c"));
    }
}
