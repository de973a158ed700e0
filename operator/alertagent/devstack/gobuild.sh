# Sourced by build-kstatus.sh and build-rulecheck.sh: the cached build of a Go module's main package.
#
#   source_hash FILE...         12 hex digits of the files' content: part of the binary's path, so an
#                               edited source is built anew rather than served stale
#   build_cached MODULE OUT WHAT
#                               builds MODULE's main package to OUT (CGO off, stripped) unless OUT is
#                               there; WHAT names it in the progress lines on stderr; $GO is the go
#                               command (default: go on PATH)

source_hash() {
  cat "$@" | sha256sum | cut -c1-12
}

build_cached() {
  local module="$1" out="$2" what="$3"
  [ -x "$out" ] && return 0
  mkdir -p "$(dirname "$out")"
  local start=$SECONDS
  echo ">> building $what (first time only)" >&2
  # A temporary name per build: two test sessions building at once never run a half-written binary.
  local tmp="$out.tmp.$$"
  (cd "$module" && CGO_ENABLED=0 "${GO:-go}" build -trimpath -ldflags "-s -w" -o "$tmp" .)
  mv -f "$tmp" "$out"
  echo ">> built $what in $((SECONDS - start)) s" >&2
}
