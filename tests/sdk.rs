//! The SDK adapter and the whole pipeline over real HTTP: the simulator answers in Bedrock's
//! shapes, the real `aws-sdk-bedrock` parses, signs and retries, and `/metrics` is scraped over TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, UNIX_EPOCH};

use bedrock_exporter::bedrock::aws::AwsSource;
use bedrock_exporter::bedrock::kinds::customization::Customization;
use bedrock_exporter::bedrock::{
    BedrockSource, ErrorKind, JobRecord, Kind, ModelRecord, Record, StatusDetails,
};
use bedrock_exporter::config::Target;
use bedrock_exporter::simulator::{Fault, Simulator, ASSUMED_ACCESS_KEY};
use common::kinds::{resource, State};
use common::*;

/// Generous, so a loaded machine never turns a normal call into a timeout.
const TIMEOUT: Duration = Duration::from_secs(30);
/// For the one case that waits for the timeout on purpose.
const SHORT_TIMEOUT: Duration = Duration::from_secs(1);

#[tokio::test]
async fn every_field_survives_the_sdk() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    let source = aws_source(&server.endpoint_url(), TIMEOUT).await;

    let mut odd = job("odd-job").status("Paused");
    odd.customization_type = Some("SOMETHING_NEW".to_owned());
    odd.status_details.training = Some("Resuming".to_owned());
    odd.validation_losses = vec![Some(2.5), None];
    let jobs = vec![
        job("running-job"),
        job("done-job").completed(),
        job("failed-job").failed("Data validation failed:\nline 3 is not JSON"),
        odd,
        JobRecord {
            job_name: Some("bare-job".to_owned()),
            ..JobRecord::default()
        },
    ];
    let mut creating = model("creating-model");
    creating.model_status = Some("Creating".to_owned());
    let mut failed = model("failed-model");
    failed.model_status = Some("Failed".to_owned());
    failed.failure_message = Some("artifacts unreadable".to_owned());
    failed.customization_type = Some("DISTILLATION".to_owned());
    let models = vec![
        model("active-model"),
        creating,
        failed,
        ModelRecord {
            model_name: Some("bare-model".to_owned()),
            ..ModelRecord::default()
        },
    ];
    for j in &jobs {
        sim.put_job(j.clone());
    }
    for m in &models {
        sim.put_model(m.clone());
    }

    for want in &jobs {
        let name = want.job_name.as_deref().unwrap();
        assert_eq!(
            source.get(Kind::Job, name).await.unwrap(),
            Record::Job(want.clone()),
            "{name}"
        );
    }
    for want in &models {
        let name = want.model_name.as_deref().unwrap();
        assert_eq!(
            source.get(Kind::Model, name).await.unwrap(),
            Record::Model(want.clone()),
            "{name}"
        );
    }
    // An ARN is sent percent-encoded in the path and found by the simulator.
    let arn = jobs[0].job_arn.clone().unwrap();
    assert_eq!(
        source.get(Kind::Job, &arn).await.unwrap(),
        Record::Job(jobs[0].clone())
    );
    assert_eq!(sim.calls().last().unwrap().identifier, arn);
    server.shutdown().await;
}

/// `customizationConfig`: a reinforcement fine-tuning job's typed hyperparameters join the string
/// map (a name in both: the typed value wins), its reasoning effort and grader go on `_info`, and
/// so does a distillation job's teacher model; read through the SDK and exported.
#[tokio::test]
async fn customization_config_reaches_hyperparameters_and_info() {
    let mut h = Harness::start(&["rft-job", "distill-job"], &[], TIMEOUT).await;
    let mut rft = job("rft-job");
    rft.customization_type = Some("REINFORCEMENT_FINE_TUNING".to_owned());
    rft.hyper_parameters = [("epochCount", "2"), ("evalStrategy", "steps")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    rft.customization = Customization {
        rft_hyper_parameters: [
            ("epochCount", "3"),
            ("learningRate", "0.0001"),
            ("batchSize", "16"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
        reasoning_effort: Some("medium".to_owned()),
        grader_lambda_arn: Some("arn:aws:lambda:us-east-1:123456789012:function:grader".to_owned()),
        teacher_model: None,
    };
    let mut distill = job("distill-job");
    distill.customization_type = Some("DISTILLATION".to_owned());
    distill.customization.teacher_model =
        Some("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0".to_owned());
    h.sim.put_job(rft);
    h.sim.put_job(distill);
    assert!(h.poller.poll_all().await);
    let text = h.scrape().await;

    let param = |name: &str| {
        sample(
            &text,
            &format!(
                r#"bedrock_customization_job_hyperparameter{{account_id="{ACCOUNT}",job_name="rft-job",name="{name}",region="{REGION}"}}"#
            ),
        )
    };
    assert_eq!(
        param("epochCount"),
        Some(3.0),
        "the typed value wins:\n{text}"
    );
    assert_eq!(param("learningRate"), Some(0.0001));
    assert_eq!(param("batchSize"), Some(16.0));
    let info = |job: &str| {
        series(&text, "bedrock_customization_job_info")
            .into_iter()
            .find(|l| label(l, "job_name") == Some(job))
            .unwrap_or_else(|| panic!("no info of {job}:\n{text}"))
    };
    let rft_info = info("rft-job");
    assert_eq!(label(rft_info, "reasoning_effort"), Some("medium"));
    assert_eq!(
        label(rft_info, "grader_lambda_arn"),
        Some("arn:aws:lambda:us-east-1:123456789012:function:grader")
    );
    assert_eq!(label(rft_info, "teacher_model"), Some(""));
    assert_eq!(
        label(info("distill-job"), "teacher_model"),
        Some("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0")
    );
    h.stop().await;
}

#[tokio::test]
async fn unknown_names_are_not_found() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    let source = aws_source(&server.endpoint_url(), TIMEOUT).await;
    let err = source.get(Kind::Job, "no-such-job").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.message().starts_with("ResourceNotFoundException: "),
        "{err}"
    );
    let err = source.get(Kind::Model, "no-such-model").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    server.shutdown().await;
}

fn up(text: &str, kind: &str, id: &str) -> Option<f64> {
    sample(
        text,
        &format!(
            r#"bedrock_exporter_target_up{{account_id="{ACCOUNT}",identifier="{id}",kind="{kind}",region="{REGION}"}}"#
        ),
    )
}

fn failures(text: &str, operation: &str, kind: &str) -> f64 {
    sample(
        text,
        &format!(r#"bedrock_exporter_api_request_failures_total{{error="{kind}",operation="{operation}",region="{REGION}"}}"#),
    )
    .unwrap_or_else(|| panic!("no failure counter for {kind}"))
}

fn requests(text: &str, operation: &str) -> f64 {
    sample(
        text,
        &format!(
            r#"bedrock_exporter_api_requests_total{{operation="{operation}",region="{REGION}"}}"#
        ),
    )
    .unwrap_or_else(|| panic!("no request counter for {operation}"))
}

fn last_success(text: &str, job: &str) -> Option<f64> {
    sample(
        text,
        &format!(
            r#"bedrock_exporter_target_last_success_timestamp_seconds{{account_id="{ACCOUNT}",identifier="{job}",kind="job",region="{REGION}"}}"#
        ),
    )
}

fn job_series(text: &str, name: &str) -> usize {
    text.lines()
        .filter(|l| {
            l.starts_with("bedrock_customization_job_")
                && l.contains(&format!("job_name=\"{name}\""))
        })
        .count()
}

#[tokio::test]
async fn error_matrix() {
    struct Case {
        fault: Fault,
        kind: &'static str,
        /// Attempts the SDK makes: 3 for what standard retry mode retries.
        attempts: usize,
        keeps_series: bool,
    }
    let cases = [
        Case {
            fault: Fault::validation(),
            kind: "validation",
            attempts: 1,
            keeps_series: true,
        },
        Case {
            fault: Fault::access_denied(),
            kind: "access_denied",
            attempts: 1,
            keeps_series: true,
        },
        Case {
            fault: Fault::not_found(),
            kind: "not_found",
            attempts: 1,
            keeps_series: false,
        },
        Case {
            fault: Fault::throttling(),
            kind: "throttling",
            attempts: 3,
            keeps_series: true,
        },
        Case {
            fault: Fault::internal(),
            kind: "internal",
            attempts: 3,
            keeps_series: true,
        },
        // A 403 whose code says the credentials are bad is classified by its code.
        Case {
            fault: Fault::error(403, "UnrecognizedClientException", "bad key"),
            kind: "credentials",
            attempts: 1,
            keeps_series: true,
        },
        Case {
            fault: Fault::error(
                400,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            ),
            kind: "credentials",
            attempts: 1,
            keeps_series: true,
        },
        // A 404 that is not Bedrock's ResourceNotFound (a wrong endpoint, a proxy) says nothing
        // about the job: its series stay.
        Case {
            fault: Fault::error(404, "UnknownOperationException", "Unknown operation"),
            kind: "other",
            attempts: 1,
            keeps_series: true,
        },
        // A 400 whose code says throttling is throttling, and retried as such.
        Case {
            fault: Fault::error(400, "ThrottlingException", "slow down"),
            kind: "throttling",
            attempts: 3,
            keeps_series: true,
        },
        Case {
            fault: Fault::Hold,
            kind: "timeout",
            attempts: 1,
            keeps_series: true,
        },
        Case {
            fault: Fault::MalformedJson,
            kind: "other",
            attempts: 1,
            keeps_series: true,
        },
        Case {
            fault: Fault::CloseConnection,
            kind: "network",
            attempts: 3,
            keeps_series: true,
        },
    ];
    // Two identical exporters: one whose calls time out after a second, for the hanging case
    // only, and one with a generous timeout for the rest.
    let mut harnesses = Vec::new();
    for timeout in [TIMEOUT, SHORT_TIMEOUT] {
        let mut h = Harness::start(&["victim", "bystander"], &["some-model"], timeout).await;
        h.sim.put_job(job("victim"));
        h.sim.put_job(job("bystander"));
        h.sim.put_model(model("some-model"));
        assert!(h.poller.poll_all().await);
        harnesses.push(h);
    }
    let healthy = harnesses[0].scrape().await;
    let series_when_healthy = job_series(&healthy, "victim");
    assert!(series_when_healthy > 10, "{healthy}");

    for case in cases {
        let label = format!("{:?}", case.fault);
        let h = &mut harnesses[usize::from(case.fault == Fault::Hold)];
        let before = h.scrape().await;
        let calls_before = h.sim.calls_for("victim");
        h.sim.inject(Some("victim"), case.fault.clone());
        if case.fault == Fault::Hold {
            // While a call hangs, scrapes are answered from the last snapshot.
            let calls = h.sim.calls().len();
            let sim = h.sim.clone();
            let addr = h.addr;
            let (all_up, during) = tokio::join!(h.poller.poll_all(), async move {
                wait_for_calls(&sim, calls + 3).await;
                get(addr, "/metrics").await.text()
            });
            assert!(!all_up);
            assert_eq!(
                up(&during, "job", "victim"),
                Some(1.0),
                "{label}: mid-cycle scrape shows the last snapshot"
            );
        } else {
            assert!(!h.poller.poll_all().await, "{label}");
        }
        let during = h.scrape().await;
        assert_eq!(up(&during, "job", "victim"), Some(0.0), "{label}");
        assert_eq!(up(&during, "job", "bystander"), Some(1.0), "{label}");
        assert_eq!(up(&during, "model", "some-model"), Some(1.0), "{label}");
        assert_eq!(
            failures(&during, "GetModelCustomizationJob", case.kind),
            failures(&before, "GetModelCustomizationJob", case.kind) + 1.0,
            "{label}"
        );
        // Each call counts once, however many attempts it took: two jobs and one model read.
        assert_eq!(
            requests(&during, "GetModelCustomizationJob"),
            requests(&before, "GetModelCustomizationJob") + 2.0,
            "{label}"
        );
        assert_eq!(
            requests(&during, "GetCustomModel"),
            requests(&before, "GetCustomModel") + 1.0,
            "{label}"
        );
        // The last success keeps its time: it tells how old the kept values are.
        assert_eq!(
            last_success(&during, "victim"),
            last_success(&before, "victim"),
            "{label}"
        );
        assert!(last_success(&during, "victim").is_some(), "{label}");
        assert_eq!(
            h.sim.calls_for("victim") - calls_before,
            case.attempts,
            "{label}: attempts"
        );
        let kept = job_series(&during, "victim");
        if case.keeps_series {
            assert_eq!(kept, series_when_healthy, "{label}: last values stay");
        } else {
            assert_eq!(kept, 0, "{label}: series dropped");
        }
        assert_eq!(
            job_series(&during, "bystander"),
            series_when_healthy,
            "{label}"
        );

        h.sim.clear_faults();
        assert!(h.poller.poll_all().await, "{label}: recovers");
        let after = h.scrape().await;
        assert_eq!(up(&after, "job", "victim"), Some(1.0), "{label}");
        assert_eq!(job_series(&after, "victim"), series_when_healthy, "{label}");
    }
    for h in harnesses {
        h.stop().await;
    }
}

#[tokio::test]
async fn golden_exposition() {
    let mut stopping = job("stopping-job").status("Stopping");
    stopping.status_details.training = Some("Stopping".to_owned());
    let mut stopped = job("stopped-job").status("Stopped");
    stopped.status_details.training = Some("Stopped".to_owned());
    stopped.end_time = Some(1_793_541_600.0);
    let mut distill = job("distill-job");
    distill.customization_type = Some("DISTILLATION".to_owned());
    distill.status_details = StatusDetails {
        validation: Some("Completed".to_owned()),
        data_processing: Some("InProgress".to_owned()),
        training: Some("NotStarted".to_owned()),
    };
    distill.training_loss = None;
    distill.validation_losses = Vec::new();
    distill.hyper_parameters.clear();
    let mut odd = job("odd-job").status("Paused");
    odd.customization_type = Some("REINFORCEMENT_FINE_TUNING".to_owned());
    let long = format!("{}\nsecond line is dropped", "x".repeat(300));
    let jobs = [
        job("running-job"),
        job("done-job").completed(),
        job("failed-job").failed(&long),
        stopping,
        stopped,
        distill,
        odd,
    ];
    let mut creating = model("creating-model");
    creating.model_status = Some("Creating".to_owned());
    let mut failed = model("failed-model");
    failed.model_status = Some("Failed".to_owned());
    let mut legacy = model("legacy-model");
    legacy.model_status = None;
    let models = [model("active-model"), creating, failed, legacy];

    let names = |v: Vec<Option<String>>| {
        v.into_iter()
            .map(Option::unwrap)
            .chain(["gone".to_owned()])
            .collect::<Vec<_>>()
    };
    let job_ids = names(jobs.iter().map(|j| j.job_name.clone()).collect());
    let model_ids = names(models.iter().map(|m| m.model_name.clone()).collect());
    let job_ids: Vec<&str> = job_ids.iter().map(String::as_str).collect();
    let model_ids: Vec<&str> = model_ids.iter().map(String::as_str).collect();
    let mut h = Harness::start(&job_ids, &model_ids, TIMEOUT).await;
    // A fixed wall clock, so success timestamps are part of the golden text.
    h.poller = h
        .poller
        .with_clock(|| UNIX_EPOCH + Duration::from_secs(1_795_000_000));
    for j in jobs {
        h.sim.put_job(j);
    }
    for m in models {
        h.sim.put_model(m);
    }
    assert!(!h.poller.poll_all().await, "the 'gone' identifiers fail");
    let text = String::from_utf8(h.poller.snapshot().text.to_vec()).unwrap();
    assert_golden(&text, "tests/golden/bedrock.prom");
    h.stop().await;
}

/// The seven kinds after jobs and models, each running, settled and failed (imported models,
/// which have no status, once), read through the SDK: their exposition, held as a golden file.
#[tokio::test]
async fn golden_exposition_of_the_lifecycle_kinds() {
    let kinds = Kind::ALL
        .iter()
        .copied()
        .filter(|k| !matches!(k, Kind::Job | Kind::Model));
    let mut records = Vec::new();
    for kind in kinds {
        let states: &[State] = match kind {
            Kind::ImportedModel => &[State::Settled],
            _ => &[State::Running, State::Settled, State::Failed],
        };
        for (i, &state) in states.iter().enumerate() {
            records.push(resource(kind, i, state));
        }
    }
    let mut target = target(&[], &[]);
    for record in &records {
        target
            .lists
            .entry(record.kind())
            .or_default()
            .push(record.arn().unwrap().to_owned());
    }
    let mut h = Harness::with_target(target, TIMEOUT).await;
    h.poller = h
        .poller
        .with_clock(|| UNIX_EPOCH + Duration::from_secs(1_795_000_000));
    for record in records {
        h.sim.put(record);
    }
    assert!(h.poller.poll_all().await);
    let text = String::from_utf8(h.poller.snapshot().text.to_vec()).unwrap();
    assert_golden(&text, "tests/golden/lifecycle.prom");
    h.stop().await;
}

#[tokio::test]
async fn role_arn_is_assumed_through_sts_and_signs_the_bedrock_calls() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    sim.put_job(job("job-1"));
    // The base config's endpoint is where STS goes: here, the simulator's STS.
    let base = sdk_config()
        .into_builder()
        .endpoint_url(server.endpoint_url())
        .build();
    let role = "arn:aws:iam::123456789012:role/bedrock-reader";
    let with_role = Target {
        region: Some(REGION.to_owned()),
        role_arn: Some(role.to_owned()),
        endpoint_url: Some(server.endpoint_url()),
        ..Target::default()
    };
    let (source, _) = AwsSource::new(&base, with_role.client_target(), &settings(TIMEOUT))
        .await
        .unwrap();
    assert_eq!(
        source.get(Kind::Job, "job-1").await.unwrap(),
        Record::Job(job("job-1"))
    );
    assert_eq!(sim.assumed_roles(), [role]);
    assert_eq!(sim.calls().last().unwrap().access_key, ASSUMED_ACCESS_KEY);
    // The assumed credentials are cached, not fetched per call.
    source.get(Kind::Job, "job-1").await.unwrap();
    assert_eq!(sim.assumed_roles().len(), 1);

    let without_role = Target {
        role_arn: None,
        ..with_role
    };
    let (source, _) = AwsSource::new(&base, without_role.client_target(), &settings(TIMEOUT))
        .await
        .unwrap();
    source.get(Kind::Job, "job-1").await.unwrap();
    assert_eq!(
        sim.calls().last().unwrap().access_key,
        "AKIDTESTTESTTESTTEST"
    );
    server.shutdown().await;
}

/// An STS that refuses the role: every read fails as `credentials`, with STS's reason in one
/// readable line, not a debug dump of SDK structures.
#[tokio::test]
async fn a_refused_assume_role_is_a_credentials_failure() {
    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    sim.put_job(job("job-1"));
    let role = "arn:aws:iam::123456789012:role/bedrock-reader";
    sim.inject(
        Some(role),
        Fault::error(
            403,
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:AssumeRole",
        ),
    );
    let base = sdk_config()
        .into_builder()
        .endpoint_url(server.endpoint_url())
        .build();
    let target = Target {
        role_arn: Some(role.to_owned()),
        endpoint_url: Some(server.endpoint_url()),
        ..target(&["job-1"], &[])
    };
    let (source, _) = AwsSource::new(&base, target.client_target(), &settings(TIMEOUT))
        .await
        .unwrap();
    let err = source.get(Kind::Job, "job-1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials, "{err}");
    assert!(
        err.message()
            .contains("not authorized to perform: sts:AssumeRole"),
        "{err}"
    );
    for dump in ["DispatchFailure", "ConnectorError", "{", "\n"] {
        assert!(!err.message().contains(dump), "{dump:?} in {err}");
    }
    assert_eq!(
        sim.calls_for("job-1"),
        0,
        "nothing reached Bedrock unsigned"
    );
    server.shutdown().await;
}

/// A provider chain that finds no credentials: `credentials`, not `network`.
#[tokio::test]
async fn no_credentials_in_the_chain_is_a_credentials_failure() {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};

    #[derive(Debug)]
    struct Empty;
    impl ProvideCredentials for Empty {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
                "no providers in chain provided credentials",
            )))
        }
    }

    let sim = Simulator::new();
    let server = sim.spawn().await.unwrap();
    sim.put_job(job("job-1"));
    let base = sdk_config()
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(Empty))
        .build();
    let target = Target {
        endpoint_url: Some(server.endpoint_url()),
        ..target(&["job-1"], &[])
    };
    let (source, _) = AwsSource::new(&base, target.client_target(), &settings(TIMEOUT))
        .await
        .unwrap();
    let err = source.get(Kind::Job, "job-1").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Credentials, "{err}");
    assert!(err.message().contains("no providers in chain"), "{err}");
    assert!(!err.message().contains("DispatchFailure"), "{err}");
    assert_eq!(sim.calls_for("job-1"), 0);
    server.shutdown().await;
}

/// What comes back from a hostile or broken endpoint, through the real SDK and poller: an
/// echoed canonical request with credentials, a body over 8 MiB, 100,000 hyperparameters,
/// control characters and `{}`. Nothing secret reaches /metrics or the / page, each cap is
/// counted, and the healthy job beside them is read as usual.
#[tokio::test]
async fn hostile_answers_are_refused_redacted_and_capped() {
    const SECRET: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";
    let jobs = ["healthy", "leaky", "huge", "control", "empty"];
    let mut h = Harness::start(&jobs, &["many"], TIMEOUT).await;
    h.sim.put_job(job("healthy"));
    h.sim.inject(
        Some("leaky"),
        Fault::error(
            403,
            "InvalidSignatureException",
            &format!(
                "The request signature we calculated does not match the signature you provided. \
                 Check your AWS Secret Access Key and signing method. The Canonical String for \
                 this request should have been\n'GET\n/model-customization-jobs/leaky\n\n\
                 host:bedrock.us-east-1.amazonaws.com\nx-amz-date:20261205T120000Z\n\
                 x-amz-security-token:{SECRET}\n\nhost;x-amz-date;x-amz-security-token\n\
                 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n\n\
                 The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261205T120000Z\n\
                 20261205/us-east-1/bedrock/aws4_request\n\
                 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'\n\
                 Credential=ASIAEXAMPLEKEYID12345/20261205/us-east-1/bedrock/aws4_request, \
                 Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
            ),
        ),
    );
    let mut huge = serde_json_body(&job("huge"));
    huge.truncate(huge.len() - 1);
    huge.push_str(&format!(r#","padding":"{}"}}"#, "x".repeat(9 << 20)));
    h.sim.inject(
        Some("huge"),
        Fault::Raw {
            status: 200,
            body: huge.into_bytes(),
        },
    );
    let mut many = model("many");
    many.hyper_parameters = (0..100_000)
        .map(|i| (format!("p{i}"), i.to_string()))
        .collect();
    h.sim.put_model(many);
    h.sim
        .put_job(job("control").failed("bad\u{1b}[31m\u{2028}line\u{85}x\u{7f}"));
    h.sim.inject(
        Some("empty"),
        Fault::Raw {
            status: 200,
            body: b"{}".to_vec(),
        },
    );

    assert!(!h.poller.poll_all().await, "leaky, huge and empty fail");
    let metrics = h.scrape().await;
    let page = get(h.addr, "/").await.text();
    for text in [&metrics, &page] {
        for secret in [
            SECRET,
            "ASIAEXAMPLEKEYID12345",
            "5d672d79c15b",
            "9f86d081884c7d",
        ] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
        for raw in ['\u{1b}', '\u{2028}', '\u{85}', '\u{7f}'] {
            assert!(!text.contains(raw), "{raw:?} kept");
        }
    }
    assert!(page.contains("[redacted]"), "the reason stays readable");
    assert_eq!(
        sample(
            &metrics,
            r#"bedrock_exporter_capped_total{cap="body",operation="GetModelCustomizationJob"}"#
        ),
        Some(1.0),
        "the body over 8 MiB is refused once, not retried"
    );
    assert_eq!(h.sim.calls_for("huge"), 1, "not retried");
    assert_eq!(
        sample(
            &metrics,
            r#"bedrock_exporter_capped_total{cap="series",operation="GetCustomModel"}"#
        ),
        Some(1.0)
    );
    let hyper = series(&metrics, "bedrock_custom_model_hyperparameter")
        .into_iter()
        .filter(|line| label(line, "model_name") == Some("many"))
        .count();
    assert_eq!(hyper, 100, "hyperparameters capped at 100");
    let empty = series(&metrics, "bedrock_customization_job_status")
        .into_iter()
        .filter(|line| label(line, "job_name") == Some("empty"))
        .count();
    assert_eq!(empty, 0, "an answer without identity is not a success");
    assert!(
        series(&metrics, "bedrock_customization_job_status")
            .iter()
            .any(|line| label(line, "job_name") == Some("healthy")),
        "{metrics}"
    );
    h.stop().await;
}

/// A job as the service's JSON, for a raw answer to start from.
fn serde_json_body(record: &JobRecord) -> String {
    String::from_utf8(bedrock_exporter::simulator::json::record_json(
        &Record::Job(record.clone()),
    ))
    .unwrap()
}
