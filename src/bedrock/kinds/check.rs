//! The shared shape of a kind's identifier checks: the API's pattern and lengths, with messages
//! that say what is wrong.

use regex::Regex;

/// Anchors a pattern of the API model, which are written unanchored but meant as whole matches.
pub fn whole(pattern: &str) -> Regex {
    #[allow(clippy::expect_used)] // the patterns are constants, checked by the unit tests
    Regex::new(&format!("^(?:{pattern})$")).expect("API pattern compiles")
}

/// Checks an identifier (a name or an ARN) against its Get call's `pattern` and `max` length,
/// and a name (`what`: "job name") against `name_max`; `wrong(is_arn)` says what a mismatch is
/// not.
pub fn check(
    id: &str,
    pattern: &Regex,
    max: usize,
    (what, name_max): (&str, usize),
    wrong: fn(bool) -> &'static str,
) -> Result<(), String> {
    if id.is_empty() {
        return Err("is empty".to_owned());
    }
    if id.len() > max {
        return Err(format!("is longer than {max} characters"));
    }
    let arn = id.starts_with("arn:");
    if !pattern.is_match(id) {
        return Err(wrong(arn).to_owned());
    }
    if !arn && id.len() > name_max {
        return Err(format!(
            "is longer than {name_max} characters, the most a {what} has"
        ));
    }
    Ok(())
}

/// Checks a `name_contains` against the name pattern its List call takes, `rule` saying how
/// such a name is written.
pub fn name_part(part: &str, max: usize, pattern: &Regex, rule: &str) -> Result<(), String> {
    let length = part.chars().count();
    if !(1..=max).contains(&length) {
        return Err(format!("must have 1 to {max} characters"));
    }
    if pattern.is_match(part) {
        Ok(())
    } else {
        Err(format!("must be written {rule}"))
    }
}
