#!/usr/bin/env bash
# Builds the kstatus checker (tools/kstatus: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute over a
# JSON list of objects on stdin) from its committed module and caches it by cli-utils version, like
# build-binaries.sh. Idempotent: a cached binary is never rebuilt. Prints the binary's path on the last
# line. A first build takes ~10 s of downloads and ~30 s of compile on 2 cores.
#
#   ALERTAGENT_CACHE   cache root (default ~/.cache/alertagent)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$here/tools/kstatus"
cache="${ALERTAGENT_CACHE:-$HOME/.cache/alertagent}"
version="$(awk '$1 == "sigs.k8s.io/cli-utils" {print $2}' "$module/go.mod")"
# The source's hash is part of the path, so an edited main.go is built anew rather than served stale.
source_hash="$(cat "$module/main.go" "$module/go.mod" "$module/go.sum" | sha256sum | cut -c1-12)"
out="$cache/bin/kstatus-cli-utils-$version-$source_hash/kstatus"

if [ ! -x "$out" ]; then
  mkdir -p "$(dirname "$out")"
  start=$SECONDS
  echo ">> building the kstatus checker (cli-utils $version; first time only)" >&2
  # A temporary name per build: two test sessions building at once never run a half-written binary.
  tmp="$out.tmp.$$"
  (cd "$module" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp" .)
  mv -f "$tmp" "$out"
  echo ">> built the kstatus checker in $((SECONDS - start)) s" >&2
fi
echo "$out"
