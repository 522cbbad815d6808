//! The one checking boundary: every answer and every error message from an endpoint passes
//! here before the rest of the program sees it, so that what is stored, logged, exported and
//! shown can be trusted. Credentials are cut out of messages, control characters become spaces,
//! what a resource may hold is capped (and the caps counted), and a Get answer must be the
//! resource that was asked for.
//!
//! Pure functions: the poller calls them on each result and counts what they report.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;

use super::{ErrorKind, FetchError, Kind, Page, Record, LIST_PAGE_MAX};

/// A response body larger than this is refused while it is read (a List page is one response).
pub const BODY_MAX: usize = 8 << 20;
/// Hyperparameters exported per resource, in name order.
pub const HYPERPARAMETERS_MAX: usize = 100;
/// Validators exported per resource, in index order.
pub const VALIDATORS_MAX: usize = 32;
/// A failure message as kept (the API's own limit), in characters.
pub const FAILURE_MESSAGE_MAX: usize = 2048;
/// Any other string of a record (names are at most 63 characters, ARNs 2,048 in the API).
pub const FIELD_MAX: usize = 2048;
/// An error message as kept: enough for its cause, not a dump.
pub const ERROR_MESSAGE_MAX: usize = 400;
/// A `nextToken` longer than the API allows is not one.
pub const TOKEN_MAX: usize = 2048;

/// What a check cut, for `bedrock_exporter_capped_total`: each a count of responses.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Capped {
    /// Series left out: hyperparameters or validators past their limit, summaries past a page.
    pub series: bool,
    /// A message or field cut to its length.
    pub message: bool,
}

impl Capped {
    fn and(self, other: Capped) -> Capped {
        Capped {
            series: self.series || other.series,
            message: self.message || other.message,
        }
    }
}

/// Checks the answer of a Get for `identifier`: a record must name itself (ARN and name) and be
/// the resource asked for; its strings are cleaned and its collections capped. Errors are
/// redacted.
pub fn read(
    kind: Kind,
    identifier: &str,
    result: Result<Record, FetchError>,
) -> (Result<Record, FetchError>, Capped) {
    let mut record = match result {
        Ok(record) => record,
        Err(error) => return (Err(error_message(error)), Capped::default()),
    };
    if record.kind() != kind {
        return (
            Err(FetchError::new(
                ErrorKind::Other,
                "the answer is of another kind",
            )),
            Capped::default(),
        );
    }
    let capped = record_fields(&mut record);
    let (Some(arn), Some(name)) = (record.arn(), record.name()) else {
        return (
            Err(FetchError::new(
                ErrorKind::Other,
                "the answer names no resource (no ARN or name): an empty or foreign body",
            )),
            capped,
        );
    };
    let asked = if identifier.starts_with("arn:") {
        arn
    } else {
        name
    };
    // A batch inference job asked for by its job id answers with its name and ARN.
    if asked != identifier && !record.known_as(identifier) {
        let message = format!("the answer is for another resource: {arn}");
        return (
            Err(FetchError::new(
                ErrorKind::Other,
                cut(&message, ERROR_MESSAGE_MAX).0,
            )),
            capped,
        );
    }
    (Ok(record), capped)
}

/// Checks one List page of `kind`: summaries without an ARN, of another kind, or past a full
/// page are dropped; strings are cleaned; a token the API could not have sent fails the page.
pub fn page(kind: Kind, result: Result<Page, FetchError>) -> (Result<Page, FetchError>, Capped) {
    let mut page = match result {
        Ok(page) => page,
        Err(error) => return (Err(error_message(error)), Capped::default()),
    };
    if let Some(token) = &page.next_token {
        if token.is_empty() || token.len() > TOKEN_MAX || token.chars().any(is_control) {
            return (
                Err(FetchError::new(
                    ErrorKind::Other,
                    "the page's nextToken is not one the API sends (empty, over 2048 bytes, or with control characters)",
                )),
                Capped::default(),
            );
        }
    }
    let mut capped = Capped {
        series: page.records.len() > LIST_PAGE_MAX,
        ..Capped::default()
    };
    page.records.truncate(LIST_PAGE_MAX);
    page.records
        .retain(|r| r.kind() == kind && r.arn().is_some());
    for record in &mut page.records {
        capped = capped.and(record_fields(record));
    }
    (Ok(page), capped)
}

/// An error as it may be stored, logged and shown: credentials cut out, one line, no control
/// characters, at most [`ERROR_MESSAGE_MAX`] characters.
pub fn error_message(error: FetchError) -> FetchError {
    FetchError {
        message: message(&error.message),
        ..error
    }
}

/// A message from outside made safe to keep: redacted, on one line, cut to length.
pub fn message(text: &str) -> String {
    let redacted = redact(text);
    let folded = clean(&redacted)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    cut(&folded, ERROR_MESSAGE_MAX).0.into_owned()
}

/// Whether a character would break a line or a label: C0, DEL, C1, and the Unicode line and
/// paragraph separators.
pub fn is_control(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `text` with every control character (see [`is_control`]) replaced by a space.
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_control) {
        Cow::Owned(
            text.chars()
                .map(|c| if is_control(c) { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

/// The first `max` characters of `text`, with "…" where it was cut, and whether it was.
fn cut(text: &str, max: usize) -> (Cow<'_, str>, bool) {
    match text.char_indices().nth(max) {
        Some((at, _)) => (Cow::Owned(format!("{}…", &text[..at])), true),
        None => (Cow::Borrowed(text), false),
    }
}

/// `text` cleaned and cut to `max` characters, and whether it was cut.
fn bounded(text: &str, max: usize) -> (String, bool) {
    let (short, was_cut) = cut(text, max);
    (clean(&short).into_owned(), was_cut)
}

/// The credential patterns of [`redact`], compiled once.
fn patterns() -> &'static [(Regex, &'static str)] {
    static PATTERNS: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        [
            // The blocks a SigV4 signature mismatch echoes: the canonical request (with the
            // session token header) and the string to sign, each quoted, the quote possibly
            // cut off by the service.
            (
                r"(?is)(canonical string for this request should have been|string-to-sign should have been)\s*('[^']*'?|\S+)",
                "$1 [redacted]",
            ),
            (
                r"(?i)(x-amz-security-token\s*[:=]\s*)[^\s&,;'\x22]+",
                "${1}[redacted]",
            ),
            (r"(?i)(signature\s*=\s*)[^\s&,;'\x22]+", "${1}[redacted]"),
            (r"(?i)(credential\s*=\s*)[^\s&,;'\x22]+", "${1}[redacted]"),
            (r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", "[redacted]"),
        ]
        .into_iter()
        .filter_map(|(pattern, with)| match Regex::new(pattern) {
            Ok(regex) => Some((regex, with)),
            // The patterns are constants, covered by the tests below.
            Err(_) => None,
        })
        .collect()
    })
}

/// `text` with credentials cut out: `x-amz-security-token` values (header or query),
/// `Signature=` and `Credential=` values, access key ids, and the canonical-request and
/// string-to-sign blocks a signature mismatch echoes; each replaced by `[redacted]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(text);
    for (pattern, with) in patterns() {
        if let Cow::Owned(replaced) = pattern.replace_all(&text, *with) {
            text = Cow::Owned(replaced);
        }
    }
    text
}

/// Cleans and caps every string and collection of a record.
fn record_fields(record: &mut Record) -> Capped {
    let mut fields = Fields::default();
    record.check(&mut fields);
    fields.capped
}

/// The checks a kind's record passes each of its strings and collections to
/// ([`crate::bedrock::KindRecord::check`]), noting what was cut.
#[derive(Debug, Default)]
pub struct Fields {
    capped: Capped,
}

impl Fields {
    /// A name, ARN, status or other short string: cleaned, cut to [`FIELD_MAX`].
    pub fn field(&mut self, value: &mut Option<String>) {
        self.bounded(value, FIELD_MAX);
    }

    /// A failure message: cleaned, cut to [`FAILURE_MESSAGE_MAX`].
    pub fn message(&mut self, value: &mut Option<String>) {
        self.bounded(value, FAILURE_MESSAGE_MAX);
    }

    fn bounded(&mut self, value: &mut Option<String>, max: usize) {
        if let Some(text) = value {
            if text.len() > max || text.chars().any(is_control) {
                let (bounded, was_cut) = bounded(text, max);
                self.capped.message |= was_cut;
                *text = bounded;
            }
        }
    }

    /// Hyperparameters: the first [`HYPERPARAMETERS_MAX`] by name, names and values cleaned
    /// and cut (names that clean to the same text keep the first).
    pub fn hyper_parameters(&mut self, map: &mut BTreeMap<String, String>) {
        if map.len() > HYPERPARAMETERS_MAX {
            let first_left_out = map.keys().nth(HYPERPARAMETERS_MAX).cloned();
            if let Some(first_left_out) = first_left_out {
                map.split_off(&first_left_out);
            }
            self.capped.series = true;
        }
        self.capped.message |= clean_map(map);
    }

    /// Per-validator values: the first [`VALIDATORS_MAX`].
    pub fn validators(&mut self, validators: &mut Vec<Option<f64>>) {
        if validators.len() > VALIDATORS_MAX {
            validators.truncate(VALIDATORS_MAX);
            self.capped.series = true;
        }
    }
}

/// Cleans hyperparameter names and values (names that clean to the same text keep the first);
/// whether any was cut to length.
fn clean_map(map: &mut BTreeMap<String, String>) -> bool {
    let dirty = map.iter().any(|(k, v)| {
        k.chars().any(is_control)
            || v.chars().any(is_control)
            || k.len() > FIELD_MAX
            || v.len() > FIELD_MAX
    });
    if !dirty {
        return false;
    }
    let mut was_cut = false;
    let mut seen = HashSet::new();
    let cleaned = std::mem::take(map)
        .into_iter()
        .filter_map(|(k, v)| {
            let (k, cut_k) = bounded(&k, FIELD_MAX);
            let (v, cut_v) = bounded(&v, FIELD_MAX);
            was_cut |= cut_k || cut_v;
            seen.insert(k.clone()).then_some((k, v))
        })
        .collect();
    *map = cleaned;
    was_cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::JobRecord;
    use proptest::prelude::*;

    const JOB_ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:model-customization-job/amazon.titan-text-express-v1:0:8k/abcdefghijkl";

    fn job() -> JobRecord {
        JobRecord {
            job_arn: Some(JOB_ARN.to_owned()),
            job_name: Some("my-job".to_owned()),
            ..JobRecord::default()
        }
    }

    /// What a SigV4 signature mismatch answers (Bedrock's InvalidSignatureException, STS's
    /// SignatureDoesNotMatch), with a session token in the canonical request.
    const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this request should have been\n'GET\n/model-customization-jobs/my-job\n\nhost:bedrock.us-east-1.amazonaws.com\nx-amz-date:20261205T120000Z\nx-amz-security-token:IQoJb3JpZ2luX2VjEJrSECRETTOKENvalue0123456789abcdef==\n\nhost;x-amz-date;x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261205T120000Z\n20261205/us-east-1/bedrock/aws4_request\n8d0b2f0bb24a6a7cd9fd6ca4b4f7d0e3c5d3b37f7df0e9b6de1f7f2cba1e2d3c'\n";

    #[test]
    fn redaction_cuts_every_credential_shape() {
        let cases: [(&str, &str, &[&str]); 8] = [
            (
                "signature mismatch",
                SIGNATURE_MISMATCH,
                &["SECRETTOKEN", "e3b0c442", "8d0b2f0b", "20261205/us-east-1"],
            ),
            (
                "signature mismatch, cut before the closing quote",
                "The Canonical String for this request should have been 'GET / x-amz-security-token:IQoJSECRETTOKEN",
                &["SECRETTOKEN"],
            ),
            (
                "an authorization header echoed",
                "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261205/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
                &["AKIAIOSFODNN7EXAMPLE", "fe5f80f77d5fa3be", "20261205/us-east-1"],
            ),
            (
                "a presigned URL",
                "https://bedrock.us-east-1.amazonaws.com/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIAXYZXYZXYZXYZXYZ1%2F20261205&X-Amz-Security-Token=FQoGZXIvYXdzSECRETTOKEN&X-Amz-Signature=abcdef0123456789",
                &["ASIAXYZ", "SECRETTOKEN", "abcdef0123456789"],
            ),
            (
                "a bare access key id",
                "The security token included in the request is invalid: ASIAQWERTYUIOPASDFGH",
                &["ASIAQWERTYUIOPASDFGH"],
            ),
            (
                "a security token header, mixed case",
                "X-Amz-Security-Token: IQoJSECRETTOKEN",
                &["SECRETTOKEN"],
            ),
            (
                "STS AccessDenied (nothing secret: kept readable)",
                "User: arn:aws:sts::123456789012:assumed-role/bedrock-exporter/i-0abc is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::111111111111:role/bedrock-exporter-member",
                &[],
            ),
            (
                "a Bedrock AccessDeniedException (kept readable)",
                "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: bedrock:GetModelCustomizationJob on resource: arn:aws:bedrock:us-east-1:123456789012:model-customization-job/*",
                &[],
            ),
        ];
        for (name, text, secrets) in cases {
            let out = message(text);
            for secret in secrets {
                assert!(!out.contains(secret), "{name}: {secret} survives in {out}");
            }
            if secrets.is_empty() {
                assert_eq!(out, text, "{name}: changed");
            } else {
                assert!(out.contains("[redacted]"), "{name}: {out}");
            }
            assert!(!out.contains('\n'), "{name}: not one line");
        }
        // The message still says what went wrong.
        assert!(message(SIGNATURE_MISMATCH).starts_with("The request signature we calculated"));
    }

    #[test]
    fn control_characters_become_spaces() {
        let text = "a\u{0}b\u{1b}[31mc\u{7f}d\u{85}e\u{9f}f\u{2028}g\u{2029}h\ti\nj";
        assert_eq!(clean(text), "a b [31mc d e f g h i j");
        assert!(matches!(clean("plain ünïcode"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_get_must_answer_with_the_resource_asked_for() {
        let ok = |id: &str| read(Kind::Job, id, Ok(Record::Job(job()))).0;
        assert!(ok("my-job").is_ok());
        assert!(ok(JOB_ARN).is_ok());
        let other = ok("another-job").unwrap_err();
        assert_eq!(other.kind(), ErrorKind::Other);
        assert!(other.message().contains("another resource"), "{other}");
        let empty = read(Kind::Job, "my-job", Ok(Record::Job(JobRecord::default()))).0;
        assert_eq!(empty.unwrap_err().kind(), ErrorKind::Other);
        let no_name = JobRecord {
            job_name: None,
            ..job()
        };
        assert!(read(Kind::Job, JOB_ARN, Ok(Record::Job(no_name)))
            .0
            .is_err());
    }

    #[test]
    fn collections_and_messages_are_capped_and_reported() {
        let big = JobRecord {
            hyper_parameters: (0..1000)
                .map(|i| (format!("p{i:04}"), i.to_string()))
                .collect(),
            validation_losses: vec![Some(0.5); 100],
            failure_message: Some("x".repeat(5 << 20)),
            ..job()
        };
        let (result, capped) = read(Kind::Job, "my-job", Ok(Record::Job(big)));
        assert_eq!(
            capped,
            Capped {
                series: true,
                message: true
            }
        );
        let Ok(Record::Job(job)) = result else {
            panic!("not a job")
        };
        assert_eq!(job.hyper_parameters.len(), HYPERPARAMETERS_MAX);
        assert_eq!(
            job.hyper_parameters.keys().last().map(String::as_str),
            Some("p0099")
        );
        assert_eq!(job.validation_losses.len(), VALIDATORS_MAX);
        assert_eq!(
            job.failure_message.map(|m| m.chars().count()),
            Some(FAILURE_MESSAGE_MAX + 1)
        );
        let (_, capped) = read(Kind::Job, "my-job", Ok(Record::Job(super::tests::job())));
        assert_eq!(capped, Capped::default());
    }

    #[test]
    fn a_page_drops_what_it_cannot_hold() {
        let mut records = vec![Record::Job(job()); LIST_PAGE_MAX + 5];
        records.push(Record::Job(JobRecord::default()));
        let page_of = |records, next_token: Option<&str>| Page {
            records,
            next_token: next_token.map(str::to_owned),
        };
        let (result, capped) = page(Kind::Job, Ok(page_of(records, Some("t"))));
        assert!(capped.series);
        assert_eq!(result.map(|p| p.records.len()).ok(), Some(LIST_PAGE_MAX));
        let no_arn = vec![Record::Job(JobRecord::default())];
        let (result, _) = page(Kind::Job, Ok(page_of(no_arn, None)));
        assert_eq!(result.map(|p| p.records.len()).ok(), Some(0));
        for bad in ["", "a\nb"] {
            assert!(page(Kind::Job, Ok(page_of(vec![], Some(bad)))).0.is_err());
        }
        let long = "t".repeat(TOKEN_MAX + 1);
        assert!(page(Kind::Job, Ok(page_of(vec![], Some(&long)))).0.is_err());
    }

    /// A secret as it may appear inside any message.
    fn embedded_secret() -> impl Strategy<Value = (String, String)> {
        let secret = "[A-Za-z0-9+/]{24,40}";
        let key = "(AKIA|ASIA)[A-Z0-9]{16}";
        prop_oneof![
            secret.prop_map(|s| (format!("x-amz-security-token:{s}"), s)),
            secret.prop_map(|s| (format!("X-Amz-Security-Token={s}"), s)),
            secret.prop_map(|s| (format!("x-amz-security-token: {s}"), s)),
            "[0-9a-f]{64}".prop_map(|s| (format!("Signature={s}"), s)),
            key.prop_map(|k| (format!("Credential={k}/20261205/us-east-1/bedrock/aws4_request"), k)),
            key.prop_map(|k| (k.clone(), k)),
            secret.prop_map(|s| (
                format!("The Canonical String for this request should have been\n'GET\n/\nx-amz-date:20261205T1\n{s}'"),
                s
            )),
            secret.prop_map(|s| (format!("The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n{s}\n'"), s)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn no_credential_survives_any_message_shape(
            before in "\\PC{0,80}",
            (embedded, secret) in embedded_secret(),
            after in "[ ,;\n.]\\PC{0,80}",
        ) {
            let text = format!("{before} {embedded}{after}");
            let out = message(&text);
            prop_assert!(!out.contains(&secret), "{secret} survives in {out}");
            prop_assert!(!out.chars().any(is_control));
        }

        #[test]
        fn any_answer_is_a_record_or_a_classified_error(
            json in proptest::collection::vec(any::<u8>(), 0..256),
            arn in proptest::option::of("\\PC{0,40}"),
            name in proptest::option::of("\\PC{0,40}"),
            params in proptest::collection::btree_map("\\PC{0,8}", "\\PC{0,8}", 0..200),
        ) {
            let record = JobRecord {
                job_arn: arn,
                job_name: name.clone(),
                failure_message: Some(String::from_utf8_lossy(&json).into_owned()),
                hyper_parameters: params,
                ..JobRecord::default()
            };
            let asked = name.unwrap_or_default();
            match read(Kind::Job, &asked, Ok(Record::Job(record))).0 {
                Ok(Record::Job(job)) => {
                    prop_assert!(job.hyper_parameters.len() <= HYPERPARAMETERS_MAX);
                    let strings = job.hyper_parameters.iter().flat_map(|(k, v)| [k, v])
                        .chain(job.failure_message.iter()).chain(job.job_arn.iter());
                    for text in strings {
                        prop_assert!(!text.chars().any(is_control));
                    }
                }
                Ok(_) => prop_assert!(false, "another kind"),
                Err(error) => prop_assert_eq!(error.kind(), ErrorKind::Other),
            }
        }
    }
}
