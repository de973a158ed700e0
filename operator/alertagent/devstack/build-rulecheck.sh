#!/usr/bin/env bash
# Builds the operator's long-lived rule checker (operator/rulecheck: `promtool check rules` kept
# running, see its main.go) and caches it by the hash of its source, like build-kstatus.sh; then links
# it beside the Python environment's `alertagent` ($1, a venv's bin directory), where the operator looks
# for it. Idempotent: a cached binary is never rebuilt. Prints the binary's path on the last line.
# A first build takes ~40 s of downloads and ~30 s of compile on 2 cores.
#
#   ALERTAGENT_CACHE   cache root (default ~/.cache/alertagent)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/gobuild.sh"
module="$(cd "$here/../../rulecheck" && pwd)"
venv_bin="${1:?usage: build-rulecheck.sh VENV_BIN_DIR}"
cache="${ALERTAGENT_CACHE:-$HOME/.cache/alertagent}"
version="$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" {print $3}' "$module/go.mod")"
hash="$(source_hash "$module/main.go" "$module/go.mod" "$module/go.sum" "$module"/sigv4/*)"
out="$cache/bin/rulecheck-prometheus-$version-$hash/alertagent-rulecheck"
build_cached "$module" "$out" "the rule checker (Prometheus module $version)"
ln -sfn "$out" "$venv_bin/alertagent-rulecheck"
echo "$out"
