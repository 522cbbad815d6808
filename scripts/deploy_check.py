#!/usr/bin/env python3
"""Static checks of deploy/ and the Dockerfile: that the pieces agree with each other and with the code.

    python3 scripts/deploy_check.py --exporter target/release/bedrock-exporter
    python3 scripts/deploy_check.py --write      regenerate the two generated files

Two files are generated, so that each fact has one source:
- deploy/kubernetes/prometheusrule.yaml from deploy/prometheus/rules/bedrock-exporter.rules.yml;
- deploy/kubernetes/sidecar/example.yaml from sidecar/workload.yaml and sidecar/patch.yaml,
  merged as a strategic-merge patch is.
Every other check prints what is wrong and where; the script exits 1 if anything is.
"""

import argparse
import copy
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = "deploy/prometheus/rules/bedrock-exporter.rules.yml"
RULES_TEST = "deploy/prometheus/rules/bedrock-exporter.rules.test.yml"
PROMETHEUS_RULE = "deploy/kubernetes/prometheusrule.yaml"
SIDECAR = "deploy/kubernetes/sidecar"
SIDECAR_EXAMPLE = f"{SIDECAR}/example.yaml"
DASHBOARD = "deploy/grafana/bedrock-exporter.json"
DEFAULT_PORT = 10025
TELEMETRY_PATH = "/metrics"
# The variables the dashboard may use inside PromQL; prometheus_e2e.py substitutes them.
DASHBOARD_VARIABLES = {"region", "account", "job", "model", "__rate_interval"}
# Prometheus' duration syntax, as the Operator's CRDs validate it.
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


def path(rel):
    return os.path.join(ROOT, rel)


def read(rel):
    with open(path(rel), encoding="utf-8") as f:
        return f.read()


def load_all(rel):
    return [d for d in yaml.safe_load_all(read(rel)) if d is not None]


def cargo_version():
    return re.search(r'^version = "([^"]+)"', read("Cargo.toml"), re.M).group(1)


# ---------------------------------------------------------------------------------------------
# Generated files


def prometheus_rule_text():
    """The PrometheusRule: the rules file's groups, indented under spec, comments dropped."""
    body = [line for line in read(RULES).splitlines() if not line.lstrip().startswith("#")]
    start = next(i for i, line in enumerate(body) if line.startswith("groups:"))
    spec = "\n".join(("  " + line) if line.strip() else "" for line in body[start:])
    return (
        f"# Generated from {RULES} by `python3 scripts/deploy_check.py --write`.\n"
        "# Edit the rules file, not this one: CI fails when the two differ.\n"
        "# Your Prometheus' ruleSelector must select this object (kube-prometheus-stack, for example,\n"
        "# wants the label release: <helm release>).\n"
        "apiVersion: monitoring.coreos.com/v1\n"
        "kind: PrometheusRule\n"
        "metadata:\n"
        "  name: bedrock-exporter\n"
        "  labels:\n"
        "    app.kubernetes.io/name: bedrock-exporter\n"
        "spec:\n"
        f"{spec.rstrip()}\n"
    )


# Merge keys of the lists that a strategic-merge patch merges item by item (apimachinery's
# patchMergeKey for the fields a pod template uses); every other list is replaced.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "volumes": "name",
    "env": "name",
    "imagePullSecrets": "name",
    "ports": "containerPort",
    "volumeMounts": "mountPath",
}


def strategic_merge(original, patch, field=None):
    if isinstance(original, dict) and isinstance(patch, dict):
        merged = dict(original)
        for key, value in patch.items():
            merged[key] = strategic_merge(original[key], value, key) if key in original else copy.deepcopy(value)
        return merged
    if isinstance(original, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        merged = [copy.deepcopy(item) for item in original]
        for item in patch:
            index = next((i for i, old in enumerate(merged) if old.get(key) == item.get(key)), None)
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = strategic_merge(merged[index], item, None)
        return merged
    return copy.deepcopy(patch)


class IndentedDumper(yaml.SafeDumper):
    """Indents block sequences under their key, as Kubernetes manifests are usually written."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def sidecar_example_text():
    workload = next(d for d in load_all(f"{SIDECAR}/workload.yaml") if d["kind"] == "Deployment")
    (patch,) = load_all(f"{SIDECAR}/patch.yaml")
    merged = strategic_merge(workload, patch)
    return (
        f"# Generated from {SIDECAR}/workload.yaml and patch.yaml by `python3 scripts/deploy_check.py --write`:\n"
        "# the complete Deployment of a workload with the bedrock-exporter sidecar, as\n"
        f"# `kubectl kustomize {SIDECAR}` renders it. CI fails when it is out of date.\n"
        + yaml.dump(merged, Dumper=IndentedDumper, sort_keys=False, default_flow_style=False, width=100)
    )


GENERATED = {PROMETHEUS_RULE: prometheus_rule_text, SIDECAR_EXAMPLE: sidecar_example_text}


def check_generated():
    for rel, generate in GENERATED.items():
        if not os.path.exists(path(rel)) or read(rel) != generate():
            problem(rel, "out of date: run `python3 scripts/deploy_check.py --write` and commit the result")
    # One source, checked semantically too: the PrometheusRule's spec is the rules file.
    (rule,) = load_all(PROMETHEUS_RULE)
    if rule.get("spec") != yaml.safe_load(read(RULES)):
        problem(PROMETHEUS_RULE, f"spec differs from {RULES}")


# ---------------------------------------------------------------------------------------------
# Kubernetes


def kustomization_resources(directory):
    (kustomization,) = load_all(f"{directory}/kustomization.yaml")
    listed = set(kustomization.get("resources", []))
    listed |= {p["path"] for p in kustomization.get("patches", [])}
    present = {f for f in os.listdir(path(directory)) if f.endswith(".yaml") and f != "kustomization.yaml"}
    for missing in sorted(present - listed - {"example.yaml"}):
        problem(f"{directory}/kustomization.yaml", f"{missing} is in the directory but not listed")
    for absent in sorted(listed - present):
        problem(f"{directory}/kustomization.yaml", f"lists {absent}, which does not exist")
    return kustomization, {f: load_all(f"{directory}/{f}") for f in sorted(listed & present)}


def objects(docs_by_file, kind):
    return [(f, d) for f, docs in docs_by_file.items() for d in docs if d.get("kind") == kind]


def one(docs_by_file, kind, where):
    found = objects(docs_by_file, kind)
    if len(found) != 1:
        problem(where, f"expected one {kind}, found {len(found)}")
        return None, {}
    return found[0]


def subset(small, big):
    return all(big.get(k) == v for k, v in (small or {}).items())


def flag(args, name, default):
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def check_container(where, container, pod_security, image_tag, probes):
    """The hardening and wiring that both the Deployment and the sidecar must have."""
    security = container.get("securityContext", {})
    effective = {**pod_security, **security}
    expect = {
        "runAsNonRoot": True,
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
    }
    for key, value in expect.items():
        if effective.get(key) != value:
            problem(where, f"securityContext.{key} must be {value}")
    if effective.get("runAsUser") != 65532:
        problem(where, "runAsUser must be 65532 (distroless nonroot, numeric so the kubelet can check it)")
    if security.get("capabilities", {}).get("drop") != ["ALL"]:
        problem(where, "securityContext.capabilities.drop must be [ALL]")
    if effective.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problem(where, "seccompProfile.type must be RuntimeDefault")
    resources = container.get("resources", {})
    for part in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(part, {}):
                problem(where, f"resources.{part}.{resource} is not set")
    image = container.get("image", "")
    if image.rsplit(":", 1)[-1] != image_tag:
        problem(where, f"image {image!r} is not tagged {image_tag} (Cargo.toml's version)")

    args = container.get("args", [])
    listen = flag(args, "web.listen-address", f":{DEFAULT_PORT}")
    port = int(listen.rsplit(":", 1)[1])
    ports = {p.get("name"): p.get("containerPort") for p in container.get("ports", [])}
    if port not in ports.values():
        problem(where, f"listens on {port} (--web.listen-address) but declares ports {sorted(ports.values())}")
    telemetry = flag(args, "web.telemetry-path", TELEMETRY_PATH)
    config_file = flag(args, "config.file", None)
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    if config_file is None or os.path.dirname(config_file) not in mounts:
        problem(where, f"--config.file={config_file} is not under a volumeMount ({sorted(mounts)})")
    for probe, probe_path in probes.items():
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != probe_path or ports.get(get.get("port"), get.get("port")) != port:
            problem(where, f"{probe} must GET {probe_path} on the metrics port, not {get}")
    for probe in {"livenessProbe", "readinessProbe"} - set(probes):
        if probe in container:
            problem(where, f"must not have a {probe}")
    return ports, telemetry, config_file, mounts


def config_map_of(volumes, mounts, config_file):
    """The ConfigMap name and key the config file comes from."""
    mount = mounts[os.path.dirname(config_file)]
    volume = next((v for v in volumes if v["name"] == mount["name"]), {})
    return volume.get("configMap", {}).get("name"), os.path.basename(config_file)


def check_base(image_tag, configs):
    base = "deploy/kubernetes"
    kustomization, docs = kustomization_resources(base)
    for image in kustomization.get("images", []):
        if image.get("newTag") != image_tag:
            problem(f"{base}/kustomization.yaml", f"images[{image.get('name')}].newTag must be {image_tag}")

    file, deployment = one(docs, "Deployment", base)
    _, service = one(docs, "Service", base)
    _, account = one(docs, "ServiceAccount", base)
    _, monitor = one(docs, "ServiceMonitor", base)
    if not (deployment and service and account and monitor):
        return
    where = f"{base}/{file}"
    pod = deployment["spec"]["template"]
    if not subset(deployment["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"]):
        problem(where, "selector does not match the pod template's labels")
    spec = pod["spec"]
    if spec.get("serviceAccountName") != account.get("metadata", {}).get("name"):
        problem(where, "serviceAccountName is not the ServiceAccount of this base")
    if "eks.amazonaws.com/role-arn" not in account.get("metadata", {}).get("annotations", {}):
        problem(f"{base}/serviceaccount.yaml", "has no IRSA annotation eks.amazonaws.com/role-arn")
    (container,) = spec["containers"]
    probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    ports, telemetry, config_file, mounts = check_container(
        f"{where} container {container['name']}", container, spec.get("securityContext", {}), image_tag, probes
    )
    if config_file:
        configs.append((base, docs, *config_map_of(spec.get("volumes", []), mounts, config_file)))

    if not subset(service["spec"]["selector"], pod["metadata"]["labels"]):
        problem(f"{base}/service.yaml", "selector does not select the Deployment's pods")
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    for name, p in service_ports.items():
        if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
            problem(f"{base}/service.yaml", f"port {name} targets {p.get('targetPort')}, not a container port")
    check_monitor(f"{base}/servicemonitor.yaml", monitor, "ServiceMonitor", "endpoints",
                  service["metadata"].get("labels", {}), set(service_ports), telemetry)
    check_prometheus_rule(docs)


def check_sidecar(image_tag, configs):
    kustomization, docs = kustomization_resources(SIDECAR)
    (patch,) = load_all(f"{SIDECAR}/patch.yaml")
    example = yaml.safe_load(read(SIDECAR_EXAMPLE))
    spec = example["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    where = f"{SIDECAR_EXAMPLE} container bedrock-exporter"
    if "bedrock-exporter" not in containers or len(containers) < 2:
        problem(SIDECAR_EXAMPLE, "the workload should have its own container and the bedrock-exporter sidecar")
        return
    default = example["spec"]["template"].get("metadata", {}).get("annotations", {})
    if default.get("kubectl.kubernetes.io/default-container") not in containers.keys() - {"bedrock-exporter"}:
        problem(f"{SIDECAR}/patch.yaml", "should keep kubectl's default container the workload's own")
    ports, telemetry, config_file, mounts = check_container(
        where, containers["bedrock-exporter"], {}, image_tag, {"livenessProbe": "/healthz"}
    )
    if config_file:
        configs.append((SIDECAR, docs, *config_map_of(spec.get("volumes", []), mounts, config_file)))
    _, monitor = one(docs, "PodMonitor", SIDECAR)
    check_monitor(f"{SIDECAR}/podmonitor.yaml", monitor, "PodMonitor", "podMetricsEndpoints",
                  example["spec"]["template"]["metadata"]["labels"], set(ports), telemetry)
    if patch["metadata"]["name"] != example["metadata"]["name"]:
        problem(f"{SIDECAR}/patch.yaml", "does not name the workload it patches")


def check_config_maps(configs, exporter):
    """Every config that a ConfigMap carries passes the exporter's own --config.check."""
    for directory, docs, name, key in configs:
        found = [d for _, d in objects(docs, "ConfigMap") if d["metadata"]["name"] == name]
        if len(found) != 1 or key not in found[0].get("data", {}):
            problem(directory, f"no ConfigMap {name} with key {key} for the config volume")
            continue
        if exporter is None:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(found[0]["data"][key])
        try:
            run = subprocess.run([exporter, "--config.check", f"--config.file={f.name}"],
                                 capture_output=True, text=True, timeout=30)
        finally:
            os.unlink(f.name)
        if run.returncode != 0:
            report = run.stderr.strip().replace(f.name, f"data.{key}")
            problem(f"{directory} ConfigMap {name}", f"--config.check exit {run.returncode}: {report}")
        else:
            print(f"ok: --config.check on {directory} ConfigMap {name}/{key}")


# The Operator's CRDs are not in kubernetes-validate's bundled schemas, so their structure is
# checked here: the keys this project uses, known fields only, valid durations.
MONITOR_ENDPOINT_KEYS = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels",
                         "relabelings", "metricRelabelings", "targetPort"}


def check_operator_object(where, obj, kind, spec_keys):
    if obj.get("apiVersion") != "monitoring.coreos.com/v1" or obj.get("kind") != kind:
        problem(where, f"must be monitoring.coreos.com/v1 {kind}")
    unknown = set(obj) - {"apiVersion", "kind", "metadata", "spec"}
    unknown |= {f"spec.{k}" for k in set(obj.get("spec", {})) - spec_keys}
    if unknown:
        problem(where, f"unknown fields {sorted(unknown)}")
    if not obj.get("metadata", {}).get("name"):
        problem(where, "metadata.name is missing")


def seconds(duration):
    units = {"y": 31536000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|[ywdhms])", duration))


def check_monitor(where, monitor, kind, endpoints_key, target_labels, port_names, telemetry):
    if not monitor:
        return
    check_operator_object(where, monitor, kind, {"selector", endpoints_key, "jobLabel", "namespaceSelector"})
    if not subset(monitor["spec"].get("selector", {}).get("matchLabels"), target_labels):
        problem(where, f"selector {monitor['spec'].get('selector')} does not select {target_labels}")
    for i, endpoint in enumerate(monitor["spec"].get(endpoints_key, [])):
        at = f"{where} spec.{endpoints_key}[{i}]"
        if set(endpoint) - MONITOR_ENDPOINT_KEYS:
            problem(at, f"unknown fields {sorted(set(endpoint) - MONITOR_ENDPOINT_KEYS)}")
        if endpoint.get("port") not in port_names:
            problem(at, f"port {endpoint.get('port')!r} is not one of {sorted(port_names)}")
        if endpoint.get("path", "/metrics") != telemetry:
            problem(at, f"path {endpoint.get('path')} is not the telemetry path {telemetry}")
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint and not DURATION.match(str(endpoint[key])):
                problem(at, f"{key} {endpoint[key]!r} is not a Prometheus duration")
        if seconds(endpoint.get("scrapeTimeout", "10s")) > seconds(endpoint.get("interval", "30s")):
            problem(at, "scrapeTimeout is longer than interval")


def check_prometheus_rule(docs):
    file, rule = one(docs, "PrometheusRule", "deploy/kubernetes")
    if not rule:
        return
    where = f"deploy/kubernetes/{file}"
    check_operator_object(where, rule, "PrometheusRule", {"groups"})
    for g, group in enumerate(rule["spec"].get("groups", [])):
        if not group.get("name") or set(group) - {"name", "interval", "rules", "limit"}:
            problem(f"{where} groups[{g}]", "needs a name and only known fields")
        for r, item in enumerate(group.get("rules", [])):
            at = f"{where} groups[{g}].rules[{r}]"
            if ("alert" in item) == ("record" in item) or not isinstance(item.get("expr"), str):
                problem(at, "needs exactly one of alert and record, and an expr")
            if set(item) - {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}:
                problem(at, f"unknown fields {sorted(set(item) - {'alert', 'record', 'expr', 'for', 'labels', 'annotations'})}")
            if "for" in item and not DURATION.match(str(item["for"])):
                problem(at, f"for {item['for']!r} is not a Prometheus duration")
            for key in ("labels", "annotations"):
                if not all(isinstance(k, str) and isinstance(v, str) for k, v in item.get(key, {}).items()):
                    problem(at, f"{key} must map strings to strings")


# ---------------------------------------------------------------------------------------------
# Prometheus rules, Grafana, IAM, Dockerfile


def check_rule_tests():
    """Every alert has a unit test where it fires and one where it does not."""
    alerts = [r["alert"] for g in yaml.safe_load(read(RULES))["groups"] for r in g["rules"] if "alert" in r]
    evaluations = [e for t in yaml.safe_load(read(RULES_TEST))["tests"] for e in t.get("alert_rule_test", [])]
    for alert in alerts:
        cases = [bool(e.get("exp_alerts")) for e in evaluations if e["alertname"] == alert]
        if True not in cases or False not in cases:
            problem(RULES_TEST, f"{alert} needs a case where it fires and one where it does not")


def dashboard_panels(panels):
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def check_dashboard():
    dashboard = json.loads(read(DASHBOARD))
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    source = variables.get("datasource", {})
    if source.get("type") != "datasource" or source.get("query") != "prometheus":
        problem(DASHBOARD, "needs a datasource variable named datasource for Prometheus")
    for name in ("region", "account", "job"):
        if name not in variables:
            problem(DASHBOARD, f"needs a {name} filter variable")
    uses_datasource = {"type": "prometheus", "uid": "${datasource}"}
    for name, variable in variables.items():
        if variable.get("type") == "query" and variable.get("datasource") != uses_datasource:
            problem(DASHBOARD, f"variable {name} does not query ${{datasource}}")
    ids = set()
    for panel in dashboard_panels(dashboard.get("panels", [])):
        where = f"{DASHBOARD} panel {panel.get('id')} {panel.get('title')!r}"
        if panel.get("id") in ids:
            problem(where, "duplicate panel id")
        ids.add(panel.get("id"))
        if panel.get("datasource", uses_datasource) != uses_datasource:
            problem(where, "does not use ${datasource}")
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            problem(where, "has no query")
        if "datasource" not in panel:
            problem(where, "does not use ${datasource}")
        ref_ids = [t.get("refId") for t in targets]
        if len(set(ref_ids)) != len(ref_ids):
            problem(where, f"duplicate refIds {ref_ids}")
        for target in targets:
            if target.get("datasource", uses_datasource) != uses_datasource:
                problem(where, f"target {target.get('refId')} does not use ${{datasource}}")
            used = set(re.findall(r"\$\{?(\w+)", target.get("expr", "")))
            if used - DASHBOARD_VARIABLES:
                problem(where, f"target {target.get('refId')} uses unknown variables {sorted(used - DASHBOARD_VARIABLES)}")
            if re.search(r'\b(job|instance)\s*=~?\s*"', target.get("expr", "")):
                problem(where, f"target {target.get('refId')} filters on the scrape's job or instance label")


def check_iam():
    """The policy grants exactly the Bedrock operations the code calls, each in the API model."""
    rel = "deploy/iam/policy.json"
    calls = re.findall(r"\.(get_\w+|list_\w+|describe_\w+)\(\)", read("src/aws.rs"))
    needed = {"bedrock:" + "".join(w.capitalize() for w in c.split("_")) for c in calls}
    model = os.path.join(ROOT, "..", "shared", "reference", "bedrock-2023-04-20.service.json")
    if os.path.exists(model):
        with open(model, encoding="utf-8") as f:
            known = set(json.load(f)["operations"])
        for action in sorted(needed):
            if action.split(":")[1] not in known:
                problem("src/aws.rs", f"calls {action}, which is not an operation of the Bedrock API model")
    else:
        print(f"note: {os.path.normpath(model)} is not beside the repo: IAM actions not checked against the API model")
    policy = json.loads(read(rel))
    granted = set()
    for statement in policy["Statement"]:
        actions = statement["Action"]
        granted |= {actions} if isinstance(actions, str) else set(actions)
    if granted != needed:
        problem(rel, f"grants {sorted(granted)}, but the exporter calls {sorted(needed)}")


def docker_context_files(ignore_text, files):
    """The files of `files` that a .dockerignore leaves in the build context (last match wins)."""
    rules = []
    for line in ignore_text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), line.lstrip("!").rstrip("/")))

    def included(file):
        keep = True
        parts = file.split("/")
        for negated, pattern in rules:
            if any(fnmatch.fnmatchcase("/".join(parts[:n]), pattern) for n in range(1, len(parts) + 1)):
                keep = negated
        return keep

    return [f for f in files if included(f)]


def dockerfile_build_command():
    text = read("Dockerfile").replace("\\\n", " ")
    match = re.search(r"(cargo build [^&\n]*?)\s*(&&|$)", text, re.M)
    return match.group(1).strip() if match else None


def check_dockerfile():
    text = read("Dockerfile")
    if dockerfile_build_command() is None or "--locked" not in dockerfile_build_command():
        problem("Dockerfile", "the build stage must run cargo build --locked")
    rust = re.search(r"^FROM rust:(\d+)\.(\d+)", text, re.M)
    wanted = re.search(r'^rust-version = "(\d+)\.(\d+)"', read("Cargo.toml"), re.M)
    if not rust or (int(rust[1]), int(rust[2])) < (int(wanted[1]), int(wanted[2])):
        problem("Dockerfile", f"the Rust image must be at least Cargo.toml's rust-version {wanted[1]}.{wanted[2]}")
    if not re.search(r"^FROM gcr\.io/distroless/cc-debian\d+:nonroot$", text, re.M):
        problem("Dockerfile", "must run on distroless cc, nonroot")
    if not re.search(r"^USER 65532:65532$", text, re.M):
        problem("Dockerfile", "must run as the numeric nonroot user 65532:65532")
    if not re.search(rf"^EXPOSE {DEFAULT_PORT}$", text, re.M):
        problem("Dockerfile", f"must expose {DEFAULT_PORT}")


def check_prometheus_configs():
    """kubernetes-sd.yml: its discovery blocks (Debian's promtool is built without Kubernetes
    discovery), and that it keeps the port names the Service and the sidecar declare."""
    rel = "deploy/prometheus/kubernetes-sd.yml"
    config = yaml.safe_load(read(rel))
    service = yaml.safe_load(read("deploy/kubernetes/service.yaml"))
    sidecar = yaml.safe_load(read(SIDECAR_EXAMPLE))["spec"]["template"]["spec"]["containers"]
    port_names = {
        "__meta_kubernetes_endpoint_port_name": {p["name"] for p in service["spec"]["ports"]},
        "__meta_kubernetes_pod_container_port_name": {
            p["name"] for c in sidecar if c["name"] == "bedrock-exporter" for p in c.get("ports", [])
        },
    }
    for job in config["scrape_configs"]:
        for sd in job.get("kubernetes_sd_configs", []):
            if sd.get("role") not in {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}:
                problem(rel, f"{job['job_name']}: unknown role {sd.get('role')}")
        for relabel in job.get("relabel_configs", []):
            source = (relabel.get("source_labels") or [None])[0]
            if relabel.get("action") == "keep" and source in port_names:
                if not any(re.fullmatch(relabel["regex"], name) for name in port_names[source]):
                    problem(rel, f"{job['job_name']}: keeps ports {relabel['regex']!r}, but the manifests name theirs {sorted(port_names[source])}")


def without_kubernetes_sd(rel, out):
    """A copy of a Prometheus config without kubernetes_sd_configs, for promtool to check the rest."""
    config = yaml.safe_load(read(rel))
    for job in config["scrape_configs"]:
        job.pop("kubernetes_sd_configs", None)
    config["rule_files"] = [os.path.join(ROOT, os.path.dirname(rel), f) for f in config.get("rule_files", [])]
    with open(out, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f, sort_keys=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="regenerate the generated files")
    parser.add_argument("--exporter", help="a bedrock-exporter binary, for --config.check on the ConfigMaps")
    parser.add_argument("--docker-build-command", action="store_true",
                        help="print the Dockerfile's cargo build command and exit")
    parser.add_argument("--docker-context", action="store_true",
                        help="print the files .dockerignore sends to the build, one per line, and exit")
    parser.add_argument("--strip-kubernetes-sd", nargs=2, metavar=("CONFIG", "OUT"),
                        help="write CONFIG without kubernetes_sd_configs to OUT and exit")
    args = parser.parse_args()

    if args.write:
        for rel, generate in GENERATED.items():
            with open(path(rel), "w", encoding="utf-8") as f:
                f.write(generate())
            print(f"wrote {rel}")
        return 0
    if args.docker_build_command:
        print(dockerfile_build_command())
        return 0
    if args.docker_context:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        print("\n".join(docker_context_files(read(".dockerignore"), files.split())))
        return 0
    if args.strip_kubernetes_sd:
        without_kubernetes_sd(*args.strip_kubernetes_sd)
        return 0

    image_tag = cargo_version()
    configs = []
    check_generated()
    check_base(image_tag, configs)
    check_sidecar(image_tag, configs)
    check_config_maps(configs, args.exporter)
    check_rule_tests()
    check_dashboard()
    check_iam()
    check_dockerfile()
    check_prometheus_configs()
    for p in problems:
        print(f"deploy check: {p}", file=sys.stderr)
    if problems:
        return 1
    print("deploy check: no problems")
    return 0


if __name__ == "__main__":
    sys.exit(main())
