#!/usr/bin/env bash
# AlertAgent on a real local stack, from a fresh machine, in one command (no cluster, no Docker):
# the set-up the tests share (operator/alertagent/devstack/setup.sh: Debian packages, Go-built
# Kubernetes binaries, .venv; each step skipped when done), then `alertagent demo`: a control plane,
# Prometheus, Alertmanager, vmalert, the operator and its sidecars on free loopback ports, the
# examples applied, and a scripted database outage whose alerts you watch arrive. Ctrl-C stops it all.
# Arguments go to `alertagent demo` (see `.venv/bin/alertagent demo --help`).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$repo"
ALERTAGENT_TESTBED_BIN="$(bash operator/alertagent/devstack/setup.sh | tail -n 1)"
export ALERTAGENT_TESTBED_BIN
exec .venv/bin/alertagent demo --examples "$repo/examples" "$@"
