#!/usr/bin/env bash
# The set-up the demo (./demo.sh) and the test command (tests/run.sh) share, from a fresh machine;
# each step is skipped when already done, so a second run takes a second or two:
#   1. Debian packages: prometheus, prometheus-alertmanager, victoria-metrics (vmalert), redis-server (gateway
#      tests), golang-1.19-go (the Go release of Debian's promtool, which builds the rule checker)
#   2. Go-built binaries: etcd, kube-apiserver, kube-controller-manager, kubectl, helm, kubeconform
#      (cached in ~/.cache/alertagent/bin by version, with a progress line; see build-binaries.sh)
#   3. A Python virtual environment in <repo>/.venv with the project and its test extras
#   4. The operator's rule checker (operator/rulecheck, Go), cached like step 2, linked into .venv/bin
# Progress goes to stderr ("==> step  (+Ns)"); the bin directory of step 2 is the last line on stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
cd "$repo"
step() { echo "==> $*  (+${SECONDS}s)" >&2; }

step "Debian packages"
need_apt=()
for pair in prometheus:prometheus promtool:prometheus prometheus-alertmanager:prometheus-alertmanager \
  amtool:prometheus-alertmanager vmalert:victoria-metrics redis-server:redis-server; do
  command -v "${pair%%:*}" >/dev/null || need_apt+=("${pair#*:}")
done
# The Go that built Debian's promtool builds the rule checker (build-rulecheck.sh): /usr/lib/go-1.19.
[ -x /usr/lib/go-1.19/bin/go ] || need_apt+=(golang-1.19-go)
if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo ">> installing $(printf '%s\n' "${need_apt[@]}" | sort -u | tr '\n' ' ')" >&2
  $sudo apt-get update -qq >&2
  # policy-rc.d-less containers may try to start the services: they are not needed, the stack starts its own.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi

step "Go-built binaries"
command -v go >/dev/null || { echo "Go >= 1.24 is required to build the Kubernetes binaries" >&2; exit 1; }
bin="$(bash "$here/build-binaries.sh" | tail -n 1)"

step "Python environment"
python="${PYTHON:-python3}"
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
# Two runs at once (two demos, a demo and the tests) install one at a time; the second finds it done.
exec 9>"${TMPDIR:-/tmp}/alertagent-venv-$(pwd | sha256sum | cut -c1-12).lock"
flock 9
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/pip install -q --upgrade pip >&2
  .venv/bin/pip install -q -e ".[test]" >&2
  rm -f .venv/.installed-*
  touch "$stamp"
fi
flock -u 9

step "The rule checker"
# Built from operator/rulecheck and linked into .venv/bin, beside `alertagent` (build-rulecheck.sh).
bash "$here/build-rulecheck.sh" "$repo/.venv/bin" >/dev/null

echo "$bin"
