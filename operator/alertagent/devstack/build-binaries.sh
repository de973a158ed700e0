#!/usr/bin/env bash
# Builds the local stack's Go binaries from their published modules and caches them by version:
#   etcd, kube-apiserver, kube-controller-manager, kubectl, helm, kubeconform.
# A binary already in the cache is never rebuilt. Prints the bin directory on the last line; progress
# (step n/6, binary, elapsed time) goes to stderr while each one builds, so a first run (~7 minutes on
# 2 cores) is never silent.
#
#   ALERTAGENT_CACHE   cache root (default ~/.cache/alertagent)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${ALERTAGENT_CACHE:-$HOME/.cache/alertagent}"

# Versions come from the committed wrapper modules so there is one place to bump them.
k8s_version="$(awk '$1 == "k8s.io/kubernetes" {print $2}' "$here/tools/k8s/go.mod")"
etcd_version="$(awk '$1 == "go.etcd.io/etcd/server/v3" {print $2}' "$here/tools/etcd/go.mod")"
helm_version="v3.21.4"
kubeconform_version="v0.7.0"

bin="$cache/bin/k8s-$k8s_version-etcd-$etcd_version-helm-$helm_version"
mkdir -p "$bin"

export CGO_ENABLED=0
k8s_minor="$(echo "$k8s_version" | cut -d. -f2)"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$k8s_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$k8s_minor"
  ldflags+=" -X $pkg.gitTreeState=clean"
done

step=0
steps=6
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# Runs "$@" in the background and shows "[n/6] what  1m23s (total 4m05s)" until it ends: rewritten in
# place on a terminal, a line every 15 s otherwise (CI logs). Returns the command's exit status.
with_progress() { # what, command...
  local what=$1 start=$SECONDS pid rc=0
  shift
  step=$((step + 1))
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    local line
    line="$(printf '>> [%d/%d] %s  %s (total %s)' "$step" "$steps" "$what" \
      "$(elapsed $((SECONDS - start)))" "$(elapsed "$SECONDS")")"
    if [ -t 2 ]; then
      printf '\r\033[K%s' "$line" >&2
    elif [ $(((SECONDS - start) % 15)) -eq 0 ]; then
      echo "$line" >&2
    fi
    sleep 1
  done
  wait "$pid" || rc=$?
  [ -t 2 ] && printf '\r\033[K' >&2
  return "$rc"
}

build() { # name, module dir, package, extra ldflags
  local name=$1 dir=$2 pkg=$3 flags=$4
  if [ -x "$bin/$name" ]; then step=$((step + 1)); return; fi
  local start=$SECONDS
  with_progress "building $name ($pkg)" \
    bash -c 'cd "$1" && go build -trimpath -ldflags "$2" -o "$3" "$4"' _ "$dir" "$flags" "$bin/$name.tmp" "$pkg"
  mv "$bin/$name.tmp" "$bin/$name"
  echo ">> [$step/$steps] built $name in $(elapsed $((SECONDS - start))), $(du -h "$bin/$name" | cut -f1)" >&2
}

build etcd "$here/tools/etcd" go.etcd.io/etcd/server/v3 "-s -w"
for cmd in kube-apiserver kube-controller-manager kubectl; do
  build "$cmd" "$here/tools/k8s" "k8s.io/kubernetes/cmd/$cmd" "$ldflags"
done

install_tool() { # name, module@version, extra ldflags
  local name=$1 mod=$2 flags=${3:-}
  if [ -x "$bin/$name" ]; then step=$((step + 1)); return; fi
  local start=$SECONDS
  with_progress "installing $name ($mod)" env GOBIN="$bin" go install -trimpath -ldflags "-s -w $flags" "$mod"
  echo ">> [$step/$steps] installed $name in $(elapsed $((SECONDS - start)))" >&2
}
install_tool helm "helm.sh/helm/v3/cmd/helm@$helm_version" "-X helm.sh/helm/v3/internal/version.version=$helm_version"
install_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$kubeconform_version"

echo "$bin"
