#!/usr/bin/env bash
# The whole test run from a fresh machine: installs what is missing, then lints and tests.
#   1. Debian packages: prometheus, prometheus-alertmanager, victoria-metrics (vmalert)
#   2. Go-built binaries: etcd, kube-apiserver, kube-controller-manager, kubectl, helm, kubeconform
#      (cached in ~/.cache/alertagent/bin by version; see tests/testbed/build-binaries.sh)
#   3. A Python virtual environment in .venv with the project and its test extras
#   4. ruff, mypy, import-linter (layers), then pytest (unit and integration; extra arguments go to pytest)
# Every step is skipped when already done, so a second run goes straight to the tests.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
step() { echo "==> $*  (+${SECONDS}s)"; }

step "Debian packages"
need_apt=()
for pair in prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
  amtool:prometheus-alertmanager vmalert:victoria-metrics; do
  command -v "${pair%%:*}" >/dev/null || need_apt+=("${pair#*:}")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # policy-rc.d-less containers may try to start the services: they are not needed, tests start their own.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

step "Go-built binaries"
command -v go >/dev/null || { echo "Go is required to build the test bed binaries" >&2; exit 1; }
ALERTAGENT_TESTBED_BIN="$(bash tests/testbed/build-binaries.sh | tail -n 1)"
export ALERTAGENT_TESTBED_BIN

step "Python environment"
python="${PYTHON:-python3}"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[test]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi

step "Lint"
.venv/bin/ruff check operator sidecar tests benchmarks
.venv/bin/ruff format --check operator sidecar tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layers and contracts in pyproject.toml

step "Tests"
.venv/bin/python -m pytest tests "$@"
