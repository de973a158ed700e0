#!/usr/bin/env bash
# Builds the kstatus checker (tools/kstatus: sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute over a
# JSON list of objects on stdin) from its committed module and caches it by cli-utils version, like
# build-binaries.sh. Idempotent: a cached binary is never rebuilt. Prints the binary's path on the last
# line. A first build takes ~10 s of downloads and ~30 s of compile on 2 cores.
#
#   ALERTAGENT_CACHE   cache root (default ~/.cache/alertagent)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/gobuild.sh"
module="$here/tools/kstatus"
cache="${ALERTAGENT_CACHE:-$HOME/.cache/alertagent}"
version="$(awk '$1 == "sigs.k8s.io/cli-utils" {print $2}' "$module/go.mod")"
out="$cache/bin/kstatus-cli-utils-$version-$(source_hash "$module/main.go" "$module/go.mod" "$module/go.sum")/kstatus"
build_cached "$module" "$out" "the kstatus checker (cli-utils $version)"
echo "$out"
