#!/usr/bin/env bash
# Builds the operator's long-lived rule checker (operator/rulecheck: `promtool check rules` kept
# running, see its main.go) and caches it by its Go release and the hash of its source, like
# build-kstatus.sh; then links it beside the Python environment's `alertagent` ($1, a venv's bin
# directory), where the operator looks for it. Idempotent: a cached binary is never rebuilt. Prints the
# binary's path on the last line. A first build takes ~40 s of downloads and ~30 s of compile on 2 cores.
#
# It is built by the Go release that built the installed promtool (Debian 12's: go1.19.8, package
# golang-1.19-go, which setup.sh installs), as the image builds it: Go's templates, regexes and Unicode
# tables decide part of promtool's verdicts, so only the same Go release answers word for word (a
# go1.26 build accepts `{{else with}}` and `\p{Toto}`, which promtool 2.42 refuses).
#
#   ALERTAGENT_CACHE        cache root (default ~/.cache/alertagent)
#   ALERTAGENT_RULECHECK_GO the go command to build with (default /usr/lib/go-1.19/bin/go)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/gobuild.sh"
module="$(cd "$here/../../rulecheck" && pwd)"
venv_bin="${1:?usage: build-rulecheck.sh VENV_BIN_DIR}"
cache="${ALERTAGENT_CACHE:-$HOME/.cache/alertagent}"
version="$(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" {print $3}' "$module/go.mod")"
go_command="${ALERTAGENT_RULECHECK_GO:-/usr/lib/go-1.19/bin/go}"
[ -x "$go_command" ] || { echo "$go_command not found: install Debian's golang-1.19-go (setup.sh does)" >&2; exit 1; }
go_version="$(GOTOOLCHAIN=local "$go_command" env GOVERSION)"
hash="$(source_hash "$module/main.go" "$module/go.mod" "$module/go.sum" "$module"/sigv4/*)"
out="$cache/bin/rulecheck-prometheus-$version-$go_version-$hash/alertagent-rulecheck"
GO="$go_command" GOTOOLCHAIN=local build_cached "$module" "$out" "the rule checker (Prometheus module $version, $go_version)"
ln -sfn "$out" "$venv_bin/alertagent-rulecheck"
echo "$out"
