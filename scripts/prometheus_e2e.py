#!/usr/bin/env python3
"""The deploy/ pieces on a real Prometheus: the exporter's demo, scraped with deploy/prometheus's
scrape config and rules, queried with the dashboard's and the rules' PromQL.

    python3 scripts/prometheus_e2e.py --exporter target/release/bedrock-exporter [--prometheus prometheus]

1. Starts two `bedrock-exporter --demo` replicas (as two sidecars watching one account would be)
   and Prometheus on loopback, each on a port it picks itself (all log the address they bound).
   Prometheus loads deploy/prometheus/prometheus.yml with the targets pointed at the exporters,
   1 s scrape and evaluation intervals, and the rules file as it is.
2. Once Prometheus holds three scrapes, runs every rule expression through the HTTP API (each must
   parse) and checks that Prometheus evaluated every rule without error.
3. Runs every dashboard panel query (variables replaced by their "All" value) as Grafana would,
   instant or over a range, and every variable query; each must return data, except a table of
   failure messages of a kind none of whose resources has failed (the exporters expose no
   `<prefix>failure_info`: the demo's copy jobs, say, need not fail).
4. Checks that the dashboard's counts count each resource and identifier once, not once per
   replica.
5. Checks that each exporter's discovery of every kind it discovers (jobs and models at least) is
   up and has found some.
6. Checks that Prometheus reads the whole of each scrape: its scrape_samples_scraped equals the
   samples of a plain GET of /metrics made just before and just after that scrape (Prometheus asks
   for gzip on every scrape, and the exporter's gzip is one member whose start, the exposition, is
   compressed once per snapshot and whose end, its own metrics, is added per scrape; those must be
   the same series at every scrape).
7. Waits for the alerts the demo must raise, once each, and checks that nothing else is pending
   or firing. What must fire is read from the exporters' own /metrics, not from Prometheus nor the
   rules' expressions (RESOURCE_ALERTS): each resource whose status is Failed (a deployment's
   update UpdateFailed; a batch inference job Expired or PartiallyCompleted) and each provisioned
   throughput whose commitment ends within 7 days. Alerts without `for:` must be firing, the others
   at least pending. Alerts are keyed by the identity label they carry (job_name, model_name,
   deployment_name, provisioned_model_name, job_id). Each alert whose description quotes its kind's
   `_failure_info` carries the resource's message; the failed customization job's must. At least
   the failed job's and failed model's alerts must be among them (DEMO_RAISES).
8. Web security, with certificates made for the run (a CA, a server certificate for 127.0.0.1
   and the ServiceMonitor's serverName, a client certificate): two more demo exporters, each with
   a web config, which Prometheus scrapes with its own scheme https, tls_config and basic_auth:
   - one with the web config of deploy/kubernetes/components/web-security as kustomize renders it
     (TLS, basic auth), scraped as its ServiceMonitor says (the CA, its serverName, the user and
     password of its scrape Secret), and asked for /healthz and /readyz as its probes ask
     (HTTPS, their Authorization header);
   - one that requires a client certificate signed by the CA (RequireAndVerifyClientCert),
     scraped with Prometheus's tls_config cert_file and key_file.
   Both must be up (up 1, their samples stored). And the negatives: a scrape job with a wrong
   password and one without a client certificate are down with the exporter's refusal as their
   error, a request without credentials gets 401, one without a client certificate no response.
   These scrape jobs keep only bedrock_exporter_build_info, so that steps 2 to 7 still see the
   two replicas alone.
Waits are for events (a log line, a query result), each with a deadline; nothing sleeps blindly.
"""

import argparse
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import zlib

import yaml

from deploy_check import (DASHBOARD, DASHBOARD_VARIABLES, RULES, dashboard_panels, make_certificates, path,
                          rendered, secret_value)

PROMETHEUS_CONFIG = path("deploy/prometheus/prometheus.yml")
# The dashboard's variables at their "All" value, and a range wide enough for three 1 s scrapes.
VARIABLES = {name: "1m" if name == "__rate_interval" else ".*" for name in DASHBOARD_VARIABLES}


def in_status(*statuses):
    return lambda labels, value, now: labels.get("status") in statuses and value == 1


# The alerts on a resource, and when one must fire for it, judged from a sample of the exporters'
# /metrics: alert -> (the kind's prefix, the family after it, its identity label, a predicate of
# the sample's labels, its value and the time now). Step 7 expects these from what the demo
# exposes (src/demo.rs), rather than from a list of its resources.
RESOURCE_ALERTS = {
    "BedrockCustomizationJobFailed": ("bedrock_customization_job_", "status", "job_name", in_status("Failed")),
    "BedrockCustomModelFailed": ("bedrock_custom_model_", "status", "model_name", in_status("Failed")),
    "BedrockCustomModelDeploymentFailed":
        ("bedrock_custom_model_deployment_", "status", "deployment_name", in_status("Failed")),
    "BedrockCustomModelDeploymentUpdateFailed":
        ("bedrock_custom_model_deployment_", "update_status", "deployment_name", in_status("UpdateFailed")),
    "BedrockProvisionedThroughputFailed":
        ("bedrock_provisioned_throughput_", "status", "provisioned_model_name", in_status("Failed")),
    "BedrockProvisionedThroughputCommitmentExpiring":
        ("bedrock_provisioned_throughput_", "commitment_expiration_timestamp_seconds", "provisioned_model_name",
         lambda labels, value, now: 0 < value - now < 7 * 86400),
    "BedrockEvaluationJobFailed": ("bedrock_evaluation_job_", "status", "job_name", in_status("Failed")),
    "BedrockModelImportJobFailed": ("bedrock_model_import_job_", "status", "job_name", in_status("Failed")),
    "BedrockModelCopyJobFailed": ("bedrock_model_copy_job_", "status", "job_id", in_status("Failed")),
    "BedrockBatchInferenceJobFailed": ("bedrock_batch_inference_job_", "status", "job_name", in_status("Failed")),
    "BedrockBatchInferenceJobIncomplete":
        ("bedrock_batch_inference_job_", "status", "job_name", in_status("Expired", "PartiallyCompleted")),
}
# Alerts the demo raises from its start (src/demo.rs: a failed job, with its failure message,
# and a failed model), at least one each, whatever else it raises: so that step 7 does not pass
# on a demo in which nothing fails.
DEMO_RAISES = {"BedrockCustomizationJobFailed", "BedrockCustomModelFailed"}
# Alerts on resources that the demo cannot raise in a run of this length: its jobs run for
# minutes, these need hours.
NOT_IN_DEMO = {"BedrockCustomizationJobRunningTooLong", "BedrockCustomizationJobStuck"}
# The labels that name a resource in an alert; an alert carries one of them, or none.
IDENTITY_LABELS = ("job_name", "model_name", "deployment_name", "provisioned_model_name", "job_id")
# Dashboard counts that must not grow with the number of exporters: (panel title, refId), run as
# an instant query, and the number it must sum to. Discovered resources have no label of their
# own to count: each replica's total must be the dashboard's.
DISTINCT_COUNTS = {
    ("Jobs by status", "A"): "count(count by (account_id, region, job_name) (bedrock_customization_job_info))",
    ("Custom models by status", "A"): "count(count by (account_id, region, model_name) (bedrock_custom_model_info))",
    ("Custom model deployments by status", "A"):
        "count(count by (account_id, region, deployment_name) (bedrock_custom_model_deployment_info))",
    ("Deployment updates by status", "A"):
        "count(count by (account_id, region, deployment_name) (bedrock_custom_model_deployment_update_status))",
    ("Provisioned throughputs by status", "A"):
        "count(count by (account_id, region, provisioned_model_name) (bedrock_provisioned_throughput_info))",
    ("Evaluation jobs by status", "A"): "count(count by (account_id, region, job_name) (bedrock_evaluation_job_info))",
    ("Batch inference jobs by status", "A"):
        "count(count by (account_id, region, job_name) (bedrock_batch_inference_job_info))",
    ("Model import jobs by status", "A"): "count(count by (account_id, region, job_name) (bedrock_model_import_job_info))",
    ("Model copy jobs by status", "A"): "count(count by (account_id, region, job_id) (bedrock_model_copy_job_info))",
    ("Imported models", "A"): "count(count by (account_id, region, model_name) (bedrock_imported_model_info))",
    ("Targets up / watched", "B"): "count(count by (account_id, kind, identifier, region) (bedrock_exporter_target_up))",
    ("Discovered resources by kind", "A"): "sum by (instance) (bedrock_exporter_discovered_resources)",
}
# Kinds that every exporter must discover (src/demo.rs discovers these and more: step 5 checks
# every kind an exporter reports a discovery of).
DISCOVERED_KINDS = {"job", "model"}
EXPORTERS = 2
# The exporter's own families (besides process_*), encoded at every scrape after the snapshot.
OWN_FAMILIES = {
    "bedrock_exporter_build_info",
    "bedrock_exporter_api_requests_total",
    "bedrock_exporter_api_request_failures_total",
    "bedrock_exporter_api_request_duration_seconds",
    "bedrock_exporter_poll_duration_seconds",
    "bedrock_exporter_last_poll_timestamp_seconds",
}
DEADLINE = 60.0
# The rendering of deploy/kubernetes with the Operator's ServiceMonitor and web security.
WEB_SECURITY_RENDERING = "base+prometheus-operator+web-security"
# The secured exporters' scrape jobs keep this family alone (see 8. above).
SECURE_KEEP = "bedrock_exporter_build_info"


class Failure(Exception):
    pass


class Process:
    """A child process whose stderr is read line by line, so a test can wait for a line."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.lines = []
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)
            self.changed.notify_all()

    def wait_for(self, pattern, timeout=DEADLINE):
        """The first match of `pattern` in a log line, waiting for the line to be written."""
        regex = re.compile(pattern)
        seen = 0
        end = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines[seen:]:
                    if line is None:
                        raise Failure(f"{self.name} exited ({self.proc.wait()}) before logging {pattern!r}:\n{self.log()}")
                    match = regex.search(line)
                    if match:
                        return match
                seen = len(self.lines)
                if not self.changed.wait(max(0.0, end - time.monotonic())) and time.monotonic() >= end:
                    raise Failure(f"{self.name} did not log {pattern!r} within {timeout} s:\n{self.log()}")

    def log(self):
        return "\n".join(line for line in self.lines[-30:] if line is not None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode


class Prometheus:
    def __init__(self, address):
        self.base = f"http://{address}"

    def get(self, api, **params):
        """A GET of the HTTP API; its JSON, errors included (Prometheus answers 4xx with JSON)."""
        url = f"{self.base}{api}?{urllib.parse.urlencode(params, doseq=True)}"
        try:
            try:
                with urllib.request.urlopen(url, timeout=10) as response:
                    return json.load(response)
            except urllib.error.HTTPError as e:
                return json.load(e)
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise Failure(f"GET {url}: {e}") from e

    def query(self, expr, range_seconds=None):
        """The result of an instant query, or of a range query over the last `range_seconds` at
        1 s steps; Failure if Prometheus rejects it."""
        if range_seconds is None:
            answer = self.get("/api/v1/query", query=expr)
        else:
            end = time.time()
            answer = self.get("/api/v1/query_range", query=expr, start=end - range_seconds, end=end, step=1)
        if answer.get("status") != "success":
            raise Failure(f"query failed: {expr}\n  {answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]["result"]

    def until(self, what, check, timeout=DEADLINE):
        """Polls `check` until it returns something truthy: Prometheus has no push for these."""
        end = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() >= end:
                raise Failure(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.2)


def substitute(expr):
    def value(match):
        name = match.group(1) or match.group(2)
        if name not in VARIABLES:
            raise Failure(f"unknown dashboard variable ${name} in {expr}")
        return VARIABLES[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def dashboard_queries():
    with open(path(DASHBOARD), encoding="utf-8") as f:
        dashboard = json.load(f)
    for panel in dashboard_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            # Grafana runs a target as a range query unless it is marked instant only.
            kind = "instant" if target.get("instant") and not target.get("range") else "range"
            yield (panel["title"], target["refId"]), kind, substitute(target["expr"])
    for variable in dashboard["templating"]["list"]:
        if variable.get("type") == "query":
            query = variable["query"] if isinstance(variable["query"], str) else variable["query"]["query"]
            yield ("variable", variable["name"]), "label_values", substitute(query)


def rules():
    with open(path(RULES), encoding="utf-8") as f:
        for group in yaml.safe_load(f)["groups"]:
            yield from group["rules"]


def prometheus_config(exporter_addresses, directory, secure_jobs):
    with open(PROMETHEUS_CONFIG, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [os.path.join(os.path.dirname(PROMETHEUS_CONFIG), r) for r in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job.update(scrape_interval="1s", scrape_timeout="1s", static_configs=[{"targets": exporter_addresses}])
    config["scrape_configs"] += secure_jobs
    written = os.path.join(directory, "prometheus.yml")
    with open(written, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f)
    return written, job["job_name"]


def counted_once(prom, where, expr):
    """A dashboard count, run as an instant query, sums to each value of its reference in
    DISTINCT_COUNTS: each job, model and identifier counts once however many exporters report it.
    The two demos started a moment apart, so around a change one may report it a scrape before the
    other: they are given a few seconds to agree."""
    end = time.monotonic() + 20
    while True:
        total = sum(float(series["value"][1]) for series in prom.query(expr))
        expected = [float(series["value"][1]) for series in prom.query(DISTINCT_COUNTS[where])]
        if expected and all(value == total for value in expected):
            return
        if time.monotonic() >= end:
            raise Failure(f"{where} sums to {total} with {EXPORTERS} exporters, not {expected}: {expr}")
        time.sleep(0.5)


def samples_by_family(text):
    """The number of samples of each family in a text exposition (families by their # TYPE line)."""
    counts = {}
    family = None
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            family = line.split()[2]
            counts.setdefault(family, 0)
        elif line and not line.startswith("#"):
            counts[family] = counts.get(family, 0) + 1
    return counts


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(text):
    """(name, labels, value) of each sample of a text exposition, label values unescaped."""
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if not match:
            raise Failure(f"not a sample line of the text format: {line!r}")
        labels = {k: re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], v)
                  for k, v in LABEL.findall(match[2] or "")}
        yield match[1], labels, float(match[3])


def exposed(addresses):
    """Every sample of the exporters' /metrics now, and the time it was read."""
    now = time.time()
    return [s for address in addresses for s in samples(fetch(address)[0].decode())], now


def fetch(address, gzip=False):
    """GET /metrics of an exporter: the body, and the Content-Encoding it was sent with."""
    request = urllib.request.Request(f"http://{address}/metrics",
                                     headers={"Accept-Encoding": "gzip" if gzip else "identity"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read(), response.headers.get("Content-Encoding")
    except (urllib.error.URLError, OSError) as e:
        raise Failure(f"GET http://{address}/metrics: {e}") from e


def gzip_members(data):
    """The decompressed members of a gzip stream, in order."""
    members = []
    while data:
        member = zlib.decompressobj(wbits=31)
        text = member.decompress(data) + member.flush()
        if not member.eof:
            raise Failure(f"a gzip member is cut short after {len(text)} bytes")
        members.append(text.decode())
        data = member.unused_data
    return members


def own_families(address):
    """The exporter's own metric families and their number of samples, from its gzip response:
    one member (which a client that reads only the first, as curl --compressed does, reads whole),
    holding the exposition of the last poll and then the exporter's own families."""
    body, encoding = fetch(address, gzip=True)
    if encoding != "gzip":
        raise Failure(f"{address} answered Accept-Encoding: gzip with Content-Encoding {encoding}")
    members = gzip_members(body)
    if len(members) != 1:
        raise Failure(f"{address}: the gzip response has {len(members)} members, not 1")
    plain = samples_by_family(fetch(address)[0].decode())
    zipped = samples_by_family(members[0])
    if zipped.keys() != plain.keys():
        raise Failure(f"{address}: the gzip response's families differ from the plain one's: "
                      f"{sorted(zipped.keys() ^ plain.keys())}")
    own = {f: n for f, n in zipped.items() if f.startswith("process_") or f in OWN_FAMILIES}
    if not own:
        raise Failure(f"{address}: no exporter's own families in the gzip response")
    return set(own), sum(own.values())


def whole_scrapes(prom, scrape_job, addresses):
    """Prometheus's count of the samples of one scrape of each exporter equals the samples of a
    plain GET made just before it and of one made just after it, when those two agree (the demo
    changes as it runs: then it tries again). The own metrics must be the same series each time."""
    for address in addresses:
        own, own_in_gzip = own_families(address)
        own_counts = {own_in_gzip}
        for attempt in range(10):
            before = samples_by_family(fetch(address)[0].decode())
            after_before = time.time()

            def scraped_since():
                answer = prom.query(f'scrape_samples_scraped{{job="{scrape_job}",instance="{address}"}}[30s]')
                return [(float(t), int(float(v))) for series in answer for t, v in series["values"]
                        if float(t) > after_before]

            scraped = prom.until(f"a scrape of {address}", scraped_since, timeout=10)
            after = samples_by_family(fetch(address)[0].decode())
            own_counts |= {sum(n for f, n in counts.items() if f in own) for counts in (before, after)}
            if len(own_counts) != 1:
                raise Failure(f"{address}: the exporter's own metrics changed their number of samples between "
                              f"scrapes: {sorted(own_counts)}")
            if sum(before.values()) != sum(after.values()):
                continue
            total = sum(after.values())
            (own_samples,) = own_counts
            for _, count in scraped:
                if count != total:
                    raise Failure(f"{address}: Prometheus scraped {count} samples, but /metrics holds {total} "
                                  f"({total - own_samples} of the last poll, {own_samples} of the exporter's own)")
            print(f"ok: {address}: Prometheus's scrape (gzip) held all {total} samples of /metrics "
                  f"({total - own_samples} of the last poll, {own_samples} of the exporter's own; attempt {attempt + 1})")
            break
        else:
            raise Failure(f"{address}: /metrics changed its number of samples around each of 10 scrapes")


def discovering(prom, scrape_job, addresses):
    """Each exporter's discovery of every kind it discovers, jobs and models at least, is up and
    has found something. The kinds are those of the exporter's own bedrock_exporter_discovery_up."""
    wanted = set()
    for address in addresses:
        kinds = {labels["kind"] for name, labels, _ in samples(fetch(address)[0].decode())
                 if name == "bedrock_exporter_discovery_up"}
        if not DISCOVERED_KINDS <= kinds:
            raise Failure(f"{address} does not discover {sorted(DISCOVERED_KINDS - kinds)}: "
                          f"it discovers {sorted(kinds)}")
        wanted |= {(address, kind) for kind in kinds}

    def every(selection):
        found = {(s["metric"]["instance"], s["metric"]["kind"]) for s in prom.query(selection)}
        return found == wanted

    kinds = ", ".join(sorted({kind for _, kind in wanted}))
    prom.until(f"bedrock_exporter_discovery_up 1 for {kinds} in each exporter",
               lambda: every(f'bedrock_exporter_discovery_up{{job="{scrape_job}"}} == 1'))
    prom.until(f"bedrock_exporter_discovered_resources above 0 for {kinds} in each exporter",
               lambda: every(f'bedrock_exporter_discovered_resources{{job="{scrape_job}"}} > 0'))
    print(f"ok: each exporter's discovery of {kinds} is up (discovery_up 1) and has found some")


def nothing_failed(expr, addresses):
    """Whether `expr` reads only `<prefix>failure_info` families of which the exporters expose no
    sample: a table of failure messages of a kind none of whose resources has failed."""
    families = set(re.findall(r"\b(bedrock_\w+)", expr))
    if not families or not all(f.endswith("_failure_info") for f in families):
        return False
    present, _ = exposed(addresses)
    return not any(name in families for name, _, _ in present)


def expected_alerts(addresses):
    """The alerts the demo's state calls for now, from the exporters' /metrics (RESOURCE_ALERTS):
    {(alert, identity): the resource's failure message or None}."""
    present, now = exposed(addresses)
    messages = {(name, labels.get(ident)): labels["message"]
                for name, labels, _ in present if name.endswith("_failure_info")
                for ident in IDENTITY_LABELS if ident in labels}
    expected = {}
    for alert, (prefix, family, ident, fires) in RESOURCE_ALERTS.items():
        for name, labels, value in present:
            if name == prefix + family and fires(labels, value, now):
                expected[(alert, labels[ident])] = messages.get((prefix + "failure_info", labels[ident]))
    return expected


def alert_key(alert):
    """(alertname, the identity it names, or None)."""
    labels = alert["labels"]
    return labels["alertname"], next((labels[i] for i in IDENTITY_LABELS if i in labels), None)


def raised(prom, addresses):
    """Step 7: the alerts the demo's state calls for are pending or firing (firing, for those
    without `for:`) once each, and no others are."""
    rules_by_alert = {r["alert"]: r for r in rules() if "alert" in r}
    # Every alert on a resource's series is one this step knows when to expect.
    on_resources = {name for name, rule in rules_by_alert.items()
                    if re.search(r"\bbedrock_(?!exporter_)\w+", rule["expr"])}
    differ = (on_resources - RESOURCE_ALERTS.keys() - NOT_IN_DEMO) | (RESOURCE_ALERTS.keys() - on_resources)
    if differ:
        raise Failure(f"alerts on resources that RESOURCE_ALERTS and NOT_IN_DEMO do not know, or that the rules "
                      f"lack: {sorted(differ)}")

    def settled():
        expected = expected_alerts(addresses)
        alerts = prom.get("/api/v1/alerts")["data"]["alerts"]
        found = {alert_key(a): a for a in alerts}
        if len(found) != len(alerts):
            raise Failure(f"an alert fires once per exporter: {alerts}")
        for key in expected:
            if key not in found:
                return None
            if "for" not in rules_by_alert[key[0]] and found[key]["state"] != "firing":
                return None
        # The demo moves on: expect what it exposes on both sides of the look at Prometheus.
        if expected_alerts(addresses).keys() != expected.keys():
            return None
        return expected, found

    expected, found = prom.until("the alerts the demo's resources call for", settled)
    if found.keys() != expected.keys():
        raise Failure(f"unexpected alerts pending or firing: {sorted(found.keys() - expected.keys(), key=str)}")
    carried = []
    for key, message in expected.items():
        description = found[key]["annotations"].get("description", "")
        prefix = RESOURCE_ALERTS[key[0]][0]
        if message is not None and prefix + "failure_info" in rules_by_alert[key[0]]["annotations"]["description"]:
            if message not in description:
                raise Failure(f"{key} does not carry the failure message {message!r}: {description!r}")
            carried.append(key)
    missing = DEMO_RAISES - {alert for alert, _ in expected}
    if missing:
        raise Failure(f"the demo raises none of {sorted(missing)}")
    failed_jobs = {key for key in expected if key[0] == "BedrockCustomizationJobFailed"}
    if not failed_jobs <= set(carried):
        raise Failure(f"the failed customization jobs' alerts do not carry their failure message: "
                      f"{sorted(failed_jobs - set(carried))}")
    for key in sorted(found, key=str):
        print(f"ok: {found[key]['state']}: {key[0]} {key[1]}: {found[key]['annotations'].get('description', '')!r}")
    print(f"ok: {len(found)} alerts, as the demo's series call for; {len(carried)} carry their failure message")


def check(prom, scrape_job, addresses):
    # 1. Three scrapes, so that rates over the dashboard's range have data.
    prom.until("three scrapes of the exporter",
               lambda: prom.query(f'count_over_time(up{{job="{scrape_job}"}}[1m]) >= 3'))
    up = prom.query(f'up{{job="{scrape_job}"}}')
    if [s["value"][1] for s in up] != ["1"] * EXPORTERS:
        raise Failure(f"the exporters are not up in Prometheus: {up}")

    # 2. Every rule parses, and Prometheus has evaluated each without error.
    count = 0
    for rule in rules():
        prom.query(rule["expr"])
        count += 1

    def evaluated():
        groups = prom.get("/api/v1/rules")["data"]["groups"]
        states = [r for g in groups for r in g["rules"]]
        return states if len(states) == count and all(r.get("evaluationTime", 0) > 0 for r in states) else None

    for state in prom.until("every rule evaluated", evaluated):
        if state["health"] != "ok":
            raise Failure(f"rule {state['name']} is {state['health']}: {state.get('lastError')}")
    # The BedrockExporterDown selector matches the scrape job as deploy/prometheus names it.
    exporter_down = next(r["expr"] for r in rules() if r.get("alert") == "BedrockExporterDown")
    if not prom.query(exporter_down.replace("== 0", "== 1")):
        raise Failure(f"BedrockExporterDown's selector does not match the scrape job {scrape_job}")
    print(f"ok: {count} rule expressions parse, each evaluated without error")

    # 3. Every dashboard query returns data.
    empty = []
    queries = 0
    counted = set()
    for where, kind, expr in dashboard_queries():
        queries += 1
        if kind == "label_values":
            label_values = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", expr)
            if not label_values:
                raise Failure(f"{where}: not a label_values(metric, label) query: {expr}")
            answer = prom.get(f"/api/v1/label/{label_values[2]}/values", **{"match[]": label_values[1]})
            if answer.get("status") != "success":
                raise Failure(f"{where}: {expr}: {answer.get('error')}")
            result = answer["data"]
        else:
            result = prom.query(expr, range_seconds=60 if kind == "range" else None)
        if not result and not nothing_failed(expr, addresses):
            empty.append(f"{where}: {expr}")
        if where in DISTINCT_COUNTS:
            counted_once(prom, where, expr)
            counted.add(where)
    if counted != DISTINCT_COUNTS.keys():
        raise Failure(f"dashboard panels not found: {sorted(DISTINCT_COUNTS.keys() - counted)}")
    if empty:
        raise Failure("dashboard queries without data:\n  " + "\n  ".join(empty))
    print(f"ok: {queries} dashboard queries return data (but tables of failures none of which is exposed); "
          "its counts count each resource and identifier once")

    # 4. Discovery works in each exporter.
    discovering(prom, scrape_job, addresses)

    # 5. Prometheus reads every sample of a scrape.
    whole_scrapes(prom, scrape_job, addresses)

    # 6. The alerts the demo's resources call for fire (or are pending), and nothing else does.
    raised(prom, addresses)


class SecureExporters:
    """The two exporters of step 8, their web configs and certificates, and the scrape jobs that
    Prometheus runs against them."""

    def __init__(self, exporter, directory, env, processes):
        docs = rendered(WEB_SECURITY_RENDERING)
        if docs is None:
            raise Failure(f"kustomize could not render {WEB_SECURITY_RENDERING}")
        (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor"]
        (endpoint,) = monitor["spec"]["endpoints"]
        auth = endpoint["basicAuth"]
        self.user = secret_value(docs, auth["username"]["name"], auth["username"]["key"])
        self.password = secret_value(docs, auth["password"]["name"], auth["password"]["key"])
        self.server_name = endpoint["tlsConfig"]["serverName"]
        # What the kubelet sends: each probe's path and headers.
        self.probes = {probe["httpGet"]["path"]: {h["name"]: h["value"] for h in probe["httpGet"].get("httpHeaders", [])}
                       for probe in (container["livenessProbe"], container["readinessProbe"])}
        web_file = next(a.split("=", 1)[1] for a in container["args"] if a.startswith("--web.config.file="))
        (web_secret,) = [d for d in docs if d["kind"] == "Secret" and os.path.basename(web_file) in d.get("stringData", {})]
        shipped = web_secret["stringData"][os.path.basename(web_file)]

        self.certificates = os.path.join(directory, "certificates")
        os.mkdir(self.certificates)
        try:
            make_certificates(self.certificates, [self.server_name, "127.0.0.1"], clients=["prometheus"])
        except RuntimeError as e:
            raise Failure(str(e)) from e
        self.ca = os.path.join(self.certificates, "ca.crt")
        client_cert_config = {"tls_server_config": {
            "cert_file": "tls.crt", "key_file": "tls.key",
            "client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": "ca.crt",
        }}
        self.addresses = {}
        for name, web_config in (("basic-auth", shipped), ("client-cert", yaml.safe_dump(client_cert_config))):
            home = os.path.join(directory, name)
            os.mkdir(home)
            for file in ("tls.crt", "tls.key", "ca.crt"):
                shutil.copy(os.path.join(self.certificates, file), home)
            with open(os.path.join(home, "web.yml"), "w", encoding="utf-8") as f:
                f.write(web_config)
            process = Process(f"bedrock-exporter {name}", [
                exporter, "--demo", "--web.listen-address=127.0.0.1:0", f"--web.config.file={home}/web.yml",
            ], env)
            processes.append(process)
            match = process.wait_for(r'message="serving metrics" address=(\S+) .*\bweb="([^"]*)"')
            self.addresses[name] = match[1]
            print(f"bedrock-exporter {name} on {match[1]}: {match[2]}")

    def jobs(self):
        """Scrape jobs: two that must be up, as the ServiceMonitor's and with a client
        certificate, and two that must not (their names leave them out of the rules'
        bedrock-exporter jobs: down on purpose, they would make BedrockExporterDown pending)."""
        keep = [{"source_labels": ["__name__"], "regex": SECURE_KEEP, "action": "keep"}]

        def job(name, address, tls_config, **more):
            return {"job_name": name, "scheme": "https", "tls_config": {"ca_file": self.ca, **tls_config},
                    "static_configs": [{"targets": [address]}], "metric_relabel_configs": keep,
                    "scrape_interval": "1s", "scrape_timeout": "1s", **more}

        client = {"cert_file": os.path.join(self.certificates, "prometheus.crt"),
                  "key_file": os.path.join(self.certificates, "prometheus.key")}
        return [
            job("bedrock-exporter-tls-basic-auth", self.addresses["basic-auth"], {"server_name": self.server_name},
                basic_auth={"username": self.user, "password": self.password}),
            job("bedrock-exporter-tls-client-cert", self.addresses["client-cert"], client),
            job("negative-wrong-password", self.addresses["basic-auth"], {"server_name": self.server_name},
                basic_auth={"username": self.user, "password": self.password + "-wrong"}),
            job("negative-no-client-cert", self.addresses["client-cert"], {}),
        ]

    def request(self, name, url_path, headers=None, client_cert=False):
        """A GET over HTTPS, verifying the exporter's certificate: (status, headers), or the
        error that left no response."""
        context = ssl.create_default_context(cafile=self.ca)
        if client_cert:
            context.load_cert_chain(os.path.join(self.certificates, "prometheus.crt"),
                                    os.path.join(self.certificates, "prometheus.key"))
        request = urllib.request.Request(f"https://{self.addresses[name]}{url_path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                response.read()
                return response.status, response.headers
        except urllib.error.HTTPError as e:
            return e.code, e.headers
        except (urllib.error.URLError, OSError) as e:
            return None, e

    def check(self, prom):
        def target(job):
            for t in prom.get("/api/v1/targets")["data"]["activeTargets"]:
                if t["labels"]["job"] == job and t["health"] != "unknown":
                    return t
            return None

        for job, how in (("bedrock-exporter-tls-basic-auth",
                          f"over TLS (tls_config ca_file, server_name {self.server_name}) with basic auth as "
                          f"{self.user} (the scrape Secret's user and password), as the ServiceMonitor does"),
                         ("bedrock-exporter-tls-client-cert",
                          "over TLS with a client certificate (tls_config cert_file, key_file) that the "
                          "exporter requires and verifies (RequireAndVerifyClientCert)")):
            prom.until(f"up 1 for {job}", lambda: prom.query(f'up{{job="{job}"}} == 1'))
            stored = prom.until(f"{SECURE_KEEP} of {job}", lambda: prom.query(f'{SECURE_KEEP}{{job="{job}"}}'))
            samples = prom.query(f'scrape_samples_scraped{{job="{job}"}}')[0]["value"][1]
            version = stored[0]["metric"].get("version")
            print(f"ok: Prometheus scrapes {target(job)['scrapeUrl']} {how}: up 1, {samples} samples a scrape "
                  f"({SECURE_KEEP} version {version} stored)")

        for job, refusal in (("negative-wrong-password", "401"), ("negative-no-client-cert", "certificate")):
            found = prom.until(f"{job} scraped", lambda: target(job))
            if found["health"] != "down" or refusal not in found["lastError"]:
                raise Failure(f"{job}: health {found['health']}, error {found['lastError']!r}; expected down "
                              f"with {refusal!r}")
            if prom.query(f'up{{job="{job}"}} == 1'):
                raise Failure(f"{job} is up")
            print(f"ok: Prometheus's {job} job is down: {found['lastError']}")

        status, headers = self.request("basic-auth", "/metrics")
        if status != 401 or headers.get("WWW-Authenticate") != "Basic":
            raise Failure(f"GET /metrics without credentials: {status} {headers}, not 401 with WWW-Authenticate: Basic")
        for probe_path, probe_headers in self.probes.items():
            status, headers = self.request("basic-auth", probe_path, probe_headers)
            if status != 200:
                raise Failure(f"GET {probe_path} as the Deployment's probe (HTTPS, {sorted(probe_headers)}): {status} {headers}")
        print(f"ok: {self.addresses['basic-auth']}: GET /metrics without credentials gets 401 "
              f"(WWW-Authenticate: Basic); the Deployment's probes, HTTPS with their Authorization header, "
              f"get 200 from {' and '.join(sorted(self.probes))}")
        status, error = self.request("client-cert", "/metrics")
        if status is not None:
            raise Failure(f"GET /metrics without a client certificate got HTTP {status}")
        status, headers = self.request("client-cert", "/metrics", client_cert=True)
        if status != 200:
            raise Failure(f"GET /metrics with the client certificate: {status} {headers}")
        print(f"ok: {self.addresses['client-cert']}: without a client certificate the TLS handshake fails "
              f"({error}); with it, GET /metrics gets 200")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exporter", required=True, help="the bedrock-exporter binary")
    parser.add_argument("--prometheus", default="prometheus", help="the Prometheus binary")
    args = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="bedrock-e2e-")
    env = {k: v for k, v in os.environ.items() if k != "AWS_BEARER_TOKEN_BEDROCK"}
    processes = []
    try:
        addresses = []
        for replica in range(EXPORTERS):
            exporter = Process(f"bedrock-exporter {replica}",
                               [args.exporter, "--demo", "--web.listen-address=127.0.0.1:0"], env)
            processes.append(exporter)
            addresses.append(exporter.wait_for(r'message="serving metrics" address=(\S+)')[1])
        secure = SecureExporters(args.exporter, directory, env, processes)
        config, scrape_job = prometheus_config(addresses, directory, secure.jobs())
        prometheus = Process("prometheus", [
            args.prometheus, f"--config.file={config}", "--web.listen-address=127.0.0.1:0",
            f"--storage.tsdb.path={directory}/data", "--log.level=info",
        ], env)
        processes.append(prometheus)
        prometheus_address = prometheus.wait_for(r'msg="Listening on".*?\baddress=(\S+)')[1]
        prometheus.wait_for(r'msg="Server is ready to receive web requests."')
        print(f"exporters --demo on {', '.join(addresses)}, Prometheus on {prometheus_address}")
        prom = Prometheus(prometheus_address)
        check(prom, scrape_job, addresses)
        secure.check(prom)
    except Failure as e:
        print(f"prometheus e2e: {e}", file=sys.stderr)
        for process in processes:
            print(f"--- {process.name} log:\n{process.log()}", file=sys.stderr)
        return 1
    finally:
        codes = {p.name: p.stop() for p in processes}
        shutil.rmtree(directory, ignore_errors=True)
    failed = {name: code for name, code in codes.items() if name.startswith("bedrock-exporter") and code != 0}
    if failed:
        print(f"prometheus e2e: exporters exited non-zero on SIGTERM: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
