#!/usr/bin/env bash
# Builds the test bed's Go binaries from their published modules and caches them by version:
#   etcd, kube-apiserver, kube-controller-manager, kubectl, helm, kubeconform.
# A binary already in the cache is never rebuilt. Prints the bin directory on the last line.
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

build() { # name, module dir, package, extra ldflags
  local name=$1 dir=$2 pkg=$3 flags=$4
  if [ -x "$bin/$name" ]; then return; fi
  echo ">> building $name ($pkg)" >&2
  local start=$SECONDS
  (cd "$dir" && go build -trimpath -ldflags "$flags" -o "$bin/$name.tmp" "$pkg")
  mv "$bin/$name.tmp" "$bin/$name"
  echo ">> built $name in $((SECONDS - start))s, $(du -h "$bin/$name" | cut -f1)" >&2
}

build etcd "$here/tools/etcd" go.etcd.io/etcd/server/v3 "-s -w"
for cmd in kube-apiserver kube-controller-manager kubectl; do
  build "$cmd" "$here/tools/k8s" "k8s.io/kubernetes/cmd/$cmd" "$ldflags"
done

install_tool() { # name, module@version, extra ldflags
  local name=$1 mod=$2 flags=${3:-}
  if [ -x "$bin/$name" ]; then return; fi
  echo ">> installing $name ($mod)" >&2
  local start=$SECONDS
  GOBIN="$bin" go install -trimpath -ldflags "-s -w $flags" "$mod"
  echo ">> installed $name in $((SECONDS - start))s" >&2
}
install_tool helm "helm.sh/helm/v3/cmd/helm@$helm_version" "-X helm.sh/helm/v3/internal/version.version=$helm_version"
install_tool kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$kubeconform_version"

echo "$bin"
