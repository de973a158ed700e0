#!/usr/bin/env bash
# The whole test run from a fresh machine: the set-up the demo shares, then lint and tests.
#   1-3. operator/alertagent/devstack/setup.sh: Debian packages (Prometheus, Alertmanager, vmalert), the
#        Go-built binaries (cached in ~/.cache/alertagent/bin by version), the virtual environment .venv
#   4.   ruff, mypy, import-linter (layers), then pytest (unit and integration, the demo's own test
#        included; extra arguments go to pytest)
# Every set-up step is skipped when already done, so a second run goes straight to the tests.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
step() { echo "==> $*  (+${SECONDS}s)"; }

ALERTAGENT_TESTBED_BIN="$(bash operator/alertagent/devstack/setup.sh | tail -n 1)"
export ALERTAGENT_TESTBED_BIN

step "Lint"
.venv/bin/ruff check operator sidecar tests benchmarks
.venv/bin/ruff format --check operator sidecar tests benchmarks
.venv/bin/mypy
.venv/bin/lint-imports --no-cache  # the layers and contracts in pyproject.toml

step "Tests"
.venv/bin/python -m pytest tests "$@"
