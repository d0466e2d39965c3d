//! International calling codes and national number lengths of common countries.

/// How the numbers of one country are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CountryPlan {
    /// ISO 3166-1 alpha-2 code.
    pub iso2: &'static str,
    /// Country calling code, without `+`.
    pub code: &'static str,
    /// National trunk prefix dropped in international format ("0" in France), empty if none.
    pub trunk: &'static str,
    /// Shortest national significant number (digits after the calling code).
    pub min_len: usize,
    /// Longest national significant number.
    pub max_len: usize,
}

const fn plan(
    iso2: &'static str,
    code: &'static str,
    trunk: &'static str,
    min_len: usize,
    max_len: usize,
) -> CountryPlan {
    CountryPlan { iso2, code, trunk, min_len, max_len }
}

/// The countries `to_e164` knows by ISO code. Lengths are those of the ITU national numbering plans, slightly
/// widened where plans vary by number type.
pub(crate) const PLANS: &[CountryPlan] = &[
    plan("FR", "33", "0", 9, 9),
    plan("GB", "44", "0", 9, 10),
    plan("US", "1", "1", 10, 10),
    plan("CA", "1", "1", 10, 10),
    plan("DE", "49", "0", 6, 13),
    plan("ES", "34", "", 9, 9),
    plan("IT", "39", "", 6, 11),
    plan("BE", "32", "0", 8, 9),
    plan("CH", "41", "0", 9, 9),
    plan("NL", "31", "0", 9, 9),
    plan("PT", "351", "", 9, 9),
    plan("LU", "352", "", 6, 11),
    plan("MC", "377", "", 8, 9),
    plan("IE", "353", "0", 7, 9),
    plan("AT", "43", "0", 4, 13),
    plan("DK", "45", "", 8, 8),
    plan("SE", "46", "0", 7, 9),
    plan("NO", "47", "", 8, 8),
    plan("FI", "358", "0", 5, 12),
    plan("PL", "48", "", 9, 9),
    plan("CZ", "420", "", 9, 9),
    plan("GR", "30", "", 10, 10),
    plan("HU", "36", "06", 8, 9),
    plan("RO", "40", "0", 9, 9),
    plan("TR", "90", "0", 10, 10),
    plan("UA", "380", "0", 9, 9),
    plan("RU", "7", "8", 10, 10),
    plan("IL", "972", "0", 8, 9),
    plan("MA", "212", "0", 9, 9),
    plan("DZ", "213", "0", 8, 9),
    plan("TN", "216", "", 8, 8),
    plan("SN", "221", "", 9, 9),
    plan("CI", "225", "", 10, 10),
    plan("NG", "234", "0", 8, 10),
    plan("ZA", "27", "0", 9, 9),
    plan("EG", "20", "0", 9, 10),
    plan("KE", "254", "0", 9, 9),
    plan("BR", "55", "0", 10, 11),
    plan("AR", "54", "0", 10, 11),
    plan("MX", "52", "", 10, 10),
    plan("CL", "56", "", 9, 9),
    plan("CO", "57", "", 10, 10),
    plan("JP", "81", "0", 9, 10),
    plan("CN", "86", "0", 10, 11),
    plan("KR", "82", "0", 8, 10),
    plan("IN", "91", "0", 10, 10),
    plan("AU", "61", "0", 9, 9),
    plan("NZ", "64", "0", 8, 10),
    plan("SG", "65", "", 8, 8),
    plan("AE", "971", "0", 8, 9),
];

/// The plan of a country by ISO 3166-1 alpha-2 code (case-insensitive).
pub(crate) fn plan_by_iso2(iso2: &str) -> Option<&'static CountryPlan> {
    PLANS.iter().find(|p| p.iso2.eq_ignore_ascii_case(iso2.trim()))
}

/// The plan whose calling code starts `digits` (international digits without `+`), preferring the longest code.
pub(crate) fn plan_by_prefix(digits: &str) -> Option<&'static CountryPlan> {
    PLANS.iter().filter(|p| digits.starts_with(p.code)).max_by_key(|p| p.code.len())
}
