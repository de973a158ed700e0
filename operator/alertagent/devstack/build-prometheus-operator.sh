#!/usr/bin/env bash
# Builds prometheus-operator (for benchmarks/bench_side_by_side.py only; the test suite does not need it)
# from the committed wrapper module and caches it by version, like build-binaries.sh. Prints the binary's
# path on the last line. A first build takes ~1 min of downloads and ~5 min of compile on 2 cores.
#
#   ALERTAGENT_CACHE   cache root (default ~/.cache/alertagent)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$here/tools/prometheus-operator"
cache="${ALERTAGENT_CACHE:-$HOME/.cache/alertagent}"
version="$(awk '$1 == "github.com/prometheus-operator/prometheus-operator" {print $2}' "$module/go.mod")"
# The revision of the v0.93.1 tag, as upstream stamps it into its release binaries.
revision="51cc33a31bf3bd83dd22b1ae6efaf26e199194d9"
out="$cache/bin/prometheus-operator-$version/operator"

if [ ! -x "$out" ]; then
  mkdir -p "$(dirname "$out")"
  start=$SECONDS
  echo ">> building prometheus-operator $version (first time only, ~6 min on 2 cores)" >&2
  v="github.com/prometheus/common/version"
  (cd "$module" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X $v.Version=${version#v} -X $v.Revision=$revision -X $v.Branch=$version" \
    -o "$out.tmp" github.com/prometheus-operator/prometheus-operator/cmd/operator)
  mv "$out.tmp" "$out"
  echo ">> built prometheus-operator in $((SECONDS - start)) s" >&2
fi
echo "$out"
