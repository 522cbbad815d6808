//! The `/` page: what the exporter watches, for a person. Resources sorted by kind and name,
//! shown by name (the ARN on hover), with their status and how long they have been in it, their
//! losses, and what went wrong: the failure message of a failed resource, the last error of a
//! read. Everything that came from outside is HTML-escaped.

use std::fmt::Write as _;

use aws_smithy_types::date_time::Format;
use aws_smithy_types::DateTime;

use crate::exposition::{ResourceView, Snapshot};
use crate::fleet::Origin;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1em 2em;color:#222}\
    table{border-collapse:collapse}td,th{padding:3px 10px;text-align:left;vertical-align:top}\
    th{border-bottom:2px solid #999}tr:nth-child(even){background:#f4f4f4}\
    td.num{text-align:right;font-variant-numeric:tabular-nums}\
    tr.failed td.status,tr.down td.up{color:#b00020;font-weight:bold}\
    td{white-space:nowrap}td.message{white-space:normal;min-width:20em;max-width:40em;\
    overflow-wrap:anywhere}";

/// The page for `snapshot` at Unix time `now`, linking to the metrics at `telemetry_path`.
pub fn render(snapshot: &Snapshot, telemetry_path: &str, now: f64) -> String {
    let mut html = String::with_capacity(4096 + 512 * snapshot.resources.len());
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Bedrock Exporter</title><style>{STYLE}</style></head>\n\
         <body><h1>Bedrock Exporter</h1>\n<p>Version {version} ({revision}). \
         <a href=\"{path}\">Metrics</a> · <a href=\"/healthz\">Health</a> · \
         <a href=\"/readyz\">Readiness</a></p>\n<p>Poll cycles finished: {cycles}</p>\n",
        version = env!("CARGO_PKG_VERSION"),
        revision = env!("BEDROCK_EXPORTER_REVISION"),
        path = escape(telemetry_path),
        cycles = snapshot.cycles,
    );
    if !snapshot.discoveries.is_empty() {
        html.push_str(
            "<h2>Discovery</h2>\n<table><tr><th>Kind</th><th>Account</th><th>Region</th>\
             <th>Up</th><th>Found</th><th>Last error</th></tr>\n",
        );
        for d in &snapshot.discoveries {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                 <td class=\"message\">{}</td></tr>",
                d.kind.as_str(),
                escape(&d.account),
                escape(&d.region),
                if d.up { "yes" } else { "no" },
                d.discovered,
                escape(
                    &d.last_error
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default()
                ),
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str(
        "<h2>Resources</h2>\n<table><tr><th>Kind</th><th>Name</th><th>Status</th>\
         <th>Training loss</th><th>Validation loss</th><th>Account</th><th>Region</th>\
         <th>Origin</th><th>Up</th><th>Last success</th><th>Failure</th><th>Last error</th></tr>\n",
    );
    let mut resources: Vec<&ResourceView> = snapshot.resources.iter().map(|r| &**r).collect();
    resources.sort_by_cached_key(|r| {
        (
            r.kind,
            display_name(r).to_lowercase(),
            r.account.clone(),
            r.region.clone(),
        )
    });
    for r in resources {
        row(&mut html, r, now);
    }
    html.push_str("</table></body></html>\n");
    html
}

/// One resource's row.
fn row(html: &mut String, r: &ResourceView, now: f64) {
    let class = match (r.failure_message.is_some(), r.up) {
        (true, _) => " class=\"failed\"",
        (false, false) => " class=\"down\"",
        (false, true) => "",
    };
    let last_success = r.last_success.map_or_else(
        || "never".to_owned(),
        |t| {
            DateTime::from_secs(t as i64)
                .fmt(Format::DateTime)
                .unwrap_or_default()
        },
    );
    let validation: Vec<String> = r
        .validation_losses
        .iter()
        .map(|loss| loss.map_or_else(|| "–".to_owned(), loss_text))
        .collect();
    let _ = writeln!(
        html,
        "<tr{class}><td>{kind}</td><td title=\"{arn}\">{name}</td><td class=\"status\">{status}</td>\
         <td class=\"num\">{training}</td><td class=\"num\">{validation}</td><td>{account}</td>\
         <td>{region}</td><td>{origin}</td><td class=\"up\">{up}</td><td>{last_success}</td>\
         <td class=\"message\">{failure}</td><td class=\"message\">{error}</td></tr>",
        kind = r.kind.as_str(),
        arn = escape(r.arn.as_deref().unwrap_or(&r.identifier)),
        name = escape(display_name(r)),
        status = escape(&status_text(r, now)),
        training = r.training_loss.map(loss_text).unwrap_or_default(),
        validation = validation.join(", "),
        account = escape(&r.account),
        region = escape(&r.region),
        origin = match r.origin {
            Origin::Configured => "configured",
            Origin::Discovered => "discovered",
        },
        up = if r.up { "yes" } else { "no" },
        failure = escape(r.failure_message.as_deref().unwrap_or("")),
        error = escape(r.last_error.as_deref().unwrap_or("")),
    );
}

/// The resource's name once known; until then what it is watched as (a configured name or
/// ARN).
fn display_name(r: &ResourceView) -> &str {
    r.name.as_deref().unwrap_or(&r.identifier)
}

/// Its status and how long it has been in it, as far as its timestamps tell: "InProgress for
/// 42 min" (running: since it was created), "Completed 3 h ago" (finished: since it ended),
/// "Active, created 2 d ago" (settled without an end time).
fn status_text(r: &ResourceView, now: f64) -> String {
    let Some(status) = r.status.as_deref() else {
        return String::new();
    };
    let since = |t: f64| age((now - t).max(0.0));
    match (r.settled, r.end_time, r.creation_time) {
        (false, _, Some(created)) => format!("{status} for {}", since(created)),
        (true, Some(ended), _) => format!("{status} {} ago", since(ended)),
        (true, None, Some(created)) => format!("{status}, created {} ago", since(created)),
        (_, _, None) => status.to_owned(),
    }
}

/// A duration for a person: "45 s", "42 min", "5 h 3 min", "3 d 4 h".
fn age(seconds: f64) -> String {
    let s = seconds as u64;
    let (d, h, m) = (s / 86_400, s / 3_600 % 24, s / 60 % 60);
    match s {
        0..60 => format!("{s} s"),
        60..3_600 => format!("{m} min"),
        3_600..86_400 if m == 0 => format!("{h} h"),
        3_600..86_400 => format!("{h} h {m} min"),
        _ if h == 0 => format!("{d} d"),
        _ => format!("{d} d {h} h"),
    }
}

/// A loss with four decimals, as the console shows them.
fn loss_text(loss: f64) -> String {
    format!("{loss:.4}")
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn ages_read_as_a_person_would_say_them() {
        let cases = [
            (0.0, "0 s"),
            (59.9, "59 s"),
            (60.0, "1 min"),
            (42.0 * 60.0, "42 min"),
            (3_600.0, "1 h"),
            (5.0 * 3_600.0 + 180.0, "5 h 3 min"),
            (2.0 * 86_400.0, "2 d"),
            (3.0 * 86_400.0 + 4.0 * 3_600.0 + 59.0, "3 d 4 h"),
        ];
        for (seconds, text) in cases {
            assert_eq!(age(seconds), text, "{seconds}");
        }
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    /// The references `escape` writes, and the characters they stand for.
    const REFERENCES: [(&str, char); 5] = [
        ("&amp;", '&'),
        ("&lt;", '<'),
        ("&gt;", '>'),
        ("&quot;", '"'),
        ("&#39;", '\''),
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any text, and text made of markup and of what looks like references already.
        #[test]
        fn any_text_is_inert_in_html_and_reads_back(
            text in prop_oneof![any::<String>(), "[<>\"'&;#0-9a-z/= \n]{0,24}"],
        ) {
            let html = escape(&text);
            for c in ['<', '>', '"', '\''] {
                prop_assert!(!html.contains(c), "{:?} in {:?}", c, html);
            }
            if !text.contains('\n') {
                prop_assert!(!html.contains('\n'), "{:?}", html);
            }
            // Every `&` starts a reference; read back, they give the text again.
            let mut read = String::new();
            let mut rest = html.as_str();
            while let Some(at) = rest.find('&') {
                read.push_str(&rest[..at]);
                let Some((r, c)) = REFERENCES.iter().find(|(r, _)| rest[at..].starts_with(r))
                else {
                    return Err(TestCaseError::fail(format!("an unescaped & in {html:?}")));
                };
                read.push(*c);
                rest = &rest[at + r.len()..];
            }
            read.push_str(rest);
            prop_assert_eq!(read, text);
        }
    }
}
