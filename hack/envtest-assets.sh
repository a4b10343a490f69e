#!/usr/bin/env bash
# Provides kube-apiserver and etcd for envtest and for `make run`, and prints the directory
# that holds them on its last line (use it as KUBEBUILDER_ASSETS).
#
# setup-envtest downloads prebuilt binaries from a host this machine cannot reach, so:
#   1. KUBEBUILDER_ASSETS, when set and holding both binaries, is used as it is;
#   2. otherwise binaries already cached in ./bin/k8s/<version> are used;
#   3. otherwise both are built from source through the Go module proxy and cached there.
# kube-apiserver comes from k8s.io/kubernetes, built in a scratch module that replaces each
# ./staging module with its published v0.x twin; etcd from go.etcd.io/etcd/server/v3.
# Progress goes to stderr; only the assets directory goes to stdout.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${ENVTEST_ASSETS_DIR:-$ROOT/bin/k8s/${KUBE_VERSION}-etcd${ETCD_VERSION}}"

say() { echo "envtest-assets: $*" >&2; }

have_both() { [ -x "$1/kube-apiserver" ] && [ -x "$1/etcd" ]; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && have_both "$KUBEBUILDER_ASSETS"; then
  say "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi
if have_both "$DEST"; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$DEST"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0

build_etcd() {
  [ -x "$DEST/etcd" ] && return 0
  say "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3 (about 2 minutes cold)"
  local dir="$WORK/etcd"
  mkdir -p "$dir"
  (cd "$dir" &&
    go mod init zerotrust.local/build-etcd >/dev/null 2>&1 &&
    go get "go.etcd.io/etcd/server/v3@${ETCD_VERSION}" >&2 &&
    go build -trimpath -o "$DEST/etcd.tmp" go.etcd.io/etcd/server/v3 >&2)
  mv "$DEST/etcd.tmp" "$DEST/etcd"
  say "etcd ready: $DEST/etcd"
}

build_apiserver() {
  [ -x "$DEST/kube-apiserver" ] && return 0
  say "building kube-apiserver $KUBE_VERSION from k8s.io/kubernetes (about 8 minutes cold on 2 cores)"
  local dir="$WORK/apiserver" staging minor modfile
  mkdir -p "$dir"
  minor="v0.${KUBE_VERSION#v1.}"
  modfile="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$modfile")"
  {
    echo "module zerotrust.local/build-kube-apiserver"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo
    for m in $staging; do echo "replace $m => $m $minor"; done
  } >"$dir/go.mod"
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=${KUBE_VERSION}"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2)"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=${KUBE_VERSION}"
  (cd "$dir" &&
    go get "k8s.io/kubernetes/cmd/kube-apiserver@${KUBE_VERSION}" >&2 &&
    go build -trimpath -ldflags "$ldflags" -o "$DEST/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2)
  mv "$DEST/kube-apiserver.tmp" "$DEST/kube-apiserver"
  say "kube-apiserver ready: $DEST/kube-apiserver"
}

start=$(date +%s)
build_etcd
build_apiserver
say "done in $(($(date +%s) - start))s; cached in $DEST"
echo "$DEST"
