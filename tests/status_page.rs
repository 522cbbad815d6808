//! The `/` page over real HTTP, fed by the real SDK against the simulator: rows sorted by kind and
//! name, names instead of ARNs, status with its age, losses, failures only for failed resources.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

const TIMEOUT: Duration = Duration::from_secs(30);

/// The page's rows of resources (after the "Resources" heading), one string each.
fn rows(html: &str) -> Vec<&str> {
    let table = html
        .split("<h2>Resources</h2>")
        .nth(1)
        .unwrap_or_else(|| panic!("no table of resources in:\n{html}"));
    table
        .lines()
        .filter(|l| l.starts_with("<tr") && !l.contains("<th>"))
        .collect()
}

/// The text of each `<td>` of a row, markup removed.
fn cells(row: &str) -> Vec<String> {
    row.split("<td")
        .skip(1)
        .map(|cell| {
            let text = cell.split_once('>').map_or("", |(_, rest)| rest);
            text.split("</td>").next().unwrap_or_default().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_status_page_sorts_names_and_shows_what_matters() {
    let running_arn = job_arn(&id_of("zeta-running"));
    let configured = [running_arn.as_str(), "alpha-failed", "Mid-completed"];
    let mut h = Harness::with_target(target(&configured, &["model-b", "model-a"]), TIMEOUT).await;
    let mut running = job("zeta-running");
    running.training_loss = Some(0.25);
    running.validation_losses = vec![Some(0.5)];
    // A message the API may leave on a job that is not failed: not shown.
    running.failure_message = Some("an earlier attempt failed".to_owned());
    h.sim.put_job(running);
    h.sim
        .put_job(job("alpha-failed").failed("Insufficient training data <b>"));
    h.sim.put_job(job("Mid-completed").completed());
    h.sim.put_model(model("model-b"));
    h.sim.put_model(model("model-a"));
    assert!(h.poller.poll_all().await);

    let html = get(h.addr, "/").await.text();
    let rows: Vec<Vec<String>> = rows(&html).into_iter().map(cells).collect();
    let names: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(
        names,
        [
            "alpha-failed",
            "Mid-completed",
            "zeta-running",
            "model-a",
            "model-b"
        ],
        "by kind, then name whatever its case:\n{html}"
    );
    assert!(
        html.contains(&format!("title=\"{running_arn}\">zeta-running</td>")),
        "the ARN on hover:\n{html}"
    );
    let row = |name: &str| rows.iter().find(|r| r[1] == name).unwrap();

    let zeta = row("zeta-running");
    assert!(zeta[2].starts_with("InProgress for "), "{zeta:?}");
    assert_eq!((zeta[3].as_str(), zeta[4].as_str()), ("0.2500", "0.5000"));
    assert_eq!(zeta[10], "", "no failure for a running job: {zeta:?}");

    let alpha = row("alpha-failed");
    assert!(
        alpha[2].starts_with("Failed ") && alpha[2].ends_with(" ago"),
        "{alpha:?}"
    );
    assert_eq!(alpha[10], "Insufficient training data &lt;b&gt;");
    assert!(html.contains("<tr class=\"failed\">"), "{html}");

    let mid = row("Mid-completed");
    assert!(mid[2].starts_with("Completed "), "{mid:?}");
    assert_eq!(mid[10], "");
    let model_a = row("model-a");
    assert!(model_a[2].starts_with("Active, created "), "{model_a:?}");
    h.stop().await;
}
