#!/usr/bin/env bash
# configure.sh: make a fresh Debian 12 machine ready to build, run and test owx.
# Idempotent and non-interactive: installs Debian packages, the npm packages the
# tests use, configures the nginx module build against the packaged nginx and
# builds everything (make).
set -euo pipefail
cd "$(dirname "$0")"

packages=(
  # build
  build-essential g++ pkg-config cmake make git curl ca-certificates
  # nginx modules against the packaged nginx (headers + conf_flags)
  nginx nginx-dev libpcre2-dev libssl-dev zlib1g-dev
  # libraries (C++ daemons: Boost.Asio/Beast, nlohmann-json; the nginx
  # module links the web bridge, libow/ow_web.h: g++, nlohmann-json)
  libhiredis-dev libjansson-dev libboost-dev nlohmann-json3-dev
  # pool-manager's Kubernetes backend (API client)
  libcurl4-openssl-dev
  # unit tests
  libgtest-dev libgmock-dev googletest
  # fuzz targets (make fuzz, fuzz-smoke): clang, and its libFuzzer and
  # sanitizer runtimes (only recommended by clang, and installs go without)
  clang libclang-rt-dev
  # runtime and tests; slirp4netns: the outside world of each runtime's
  # network namespace (sidecar/slirp.h)
  slirp4netns redis-server python3 python3-pytest python3-requests python3-redis
  python3-pytest-timeout python3-yaml
  # benchmarks
  wrk
  # the Helm chart check (tools/helm-render: Go + sprig + YAML, GOPATH mode)
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v3-dev
  golang-gopkg-yaml.v2-dev
  # container images (make images / make test-images; images/build.sh)
  podman buildah runc mmdebstrap
  # the real Kubernetes control plane of the tests (../shared/k8s/: etcd +
  # kube-apiserver, controller-manager, scheduler; t/kube/control_plane.py)
  etcd-server openssl xz-utils
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
    || missing+=("$p")
done
# Node.js and npm: Debian's packages unless the machine already has them (a
# vendor's nodejs package bundles npm and conflicts with Debian's npm package,
# which apt then refuses as "held broken packages").
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# kubectl (the chart's server-side dry run): Debian's kubernetes-client only
# where there is none; it conflicts with the upstream kubectl package.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
if [ ${#missing[@]} -gt 0 ]; then
  echo "configure.sh: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi

# npm packages for the client-compatibility tests (t/npm/package.json)
if [ -f t/npm/package.json ] && [ ! -d t/npm/node_modules/openwhisk ]; then
  (cd t/npm && npm install --no-audit --no-fund --loglevel=error)
fi

make -j2 build
echo "configure.sh: done. 'make run' starts owx on 127.0.0.1:\${OWX_PORT:-3233}"
