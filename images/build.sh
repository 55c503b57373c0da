#!/usr/bin/env bash
# images/build.sh BUILD_DIR [TAG [IMAGE...]]: build the owx container images
# (default all, in this order) with podman from the binaries in BUILD_DIR
# (make B=BUILD_DIR build first).
#
#   owx/base            debian:bookworm-slim + the shared libraries + user owx
#   owx/gateway         + Debian's nginx, the owx module, conf/ (entrypoint renders it)
#   owx/pool-manager    + ow-pool-manager
#   owx/sidecar         + ow-sidecar (ENTRYPOINT)
#   owx/runtime-nodejs  FROM owx/sidecar + Debian's nodejs + runtimes/nodejs
#   owx/runtime-python  FROM owx/sidecar + python3 + runtimes/python
#
# No registry is reachable here, so debian:bookworm-slim is made locally with
# mmdebstrap and tagged with the name the FROM lines use; builds run with
# --pull=never, so the same Dockerfiles build unchanged anywhere else. podman's
# state lives under BUILD_DIR/images/state (images/podman-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
B=$(realpath "${1:?usage: images/build.sh BUILD_DIR [TAG [IMAGE...]]}")
TAG=${2:-dev}
shift $(($# < 2 ? $# : 2))
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(base gateway pool-manager sidecar runtime-nodejs runtime-python)
IMG_STATE=$B/images/state
. images/podman-env.sh

need() {  # need FILE: a binary the requested images copy
  [ -f "$1" ] || { echo "images/build.sh: $1 missing (make B=$B build)" >&2; exit 1; }
}

if ! podman image exists debian:bookworm-slim; then
  # minbase without docs, man pages and locales: ~80 MB instead of 163
  mmdebstrap --quiet --variant=minbase \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$B/images/rootfs.tar"
  podman import --quiet "$B/images/rootfs.tar" localhost/debian:bookworm-slim >/dev/null
  rm -f "$B/images/rootfs.tar"
fi

# one build context for every image: only what the images copy
CTX=$B/images/context
rm -rf "$CTX"
mkdir -p "$CTX/bin" "$CTX/modules"
for n in "${names[@]}"; do
  case $n in
    gateway) need "$B/modules/ngx_http_ow_module.so"
             cp "$B/modules/ngx_http_ow_module.so" "$CTX/modules/" ;;
    pool-manager) need "$B/cmake/pool-manager/ow-pool-manager"
                  cp "$B/cmake/pool-manager/ow-pool-manager" "$CTX/bin/" ;;
    sidecar) need "$B/cmake/sidecar/ow-sidecar"
             cp "$B/cmake/sidecar/ow-sidecar" "$CTX/bin/" ;;
  esac
done
# no debug info in images (RelWithDebInfo builds carry it)
find "$CTX/bin" "$CTX/modules" -type f -exec strip --strip-unneeded {} +
cp -r conf runtimes catalog "$CTX/"
mkdir -p "$CTX/tools/owx"
cp tools/owx/*.py "$CTX/tools/owx/"
rm -f "$CTX/tools/owx/"*_test.py
cp bin/ow-admin images/gateway/owx-gateway images/gateway/runtimes.json \
   images/sidecar/owx-health images/runtime-nodejs/runtime-nodejs \
   images/runtime-python/runtime-python "$CTX/bin/"

build() {  # build NAME: images/NAME/Dockerfile -> owx/NAME:TAG
  # docker format: the OCI image format has no HEALTHCHECK
  podman build --quiet --pull=never --format docker --build-arg "OWX_TAG=$TAG" \
    -f "images/$1/Dockerfile" -t "owx/$1:$TAG" "$CTX" >/dev/null
  echo "owx/$1:$TAG"
}
for n in "${names[@]}"; do
  build "$n"
done
# a rebuild leaves the previous images untagged: drop them (disk)
podman image prune -f >/dev/null
