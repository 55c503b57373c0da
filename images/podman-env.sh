# images/podman-env.sh: sourced by images/build.sh and the image tests.
# podman on these machines (../shared/docs/containers.md): runc instead of
# crun (crun fails on the hybrid cgroup layout), explicit ulimits (containers
# cannot raise their own), and storage kept under the build directory so
# nothing lands in /var/lib/containers. Needs IMG_STATE (a directory).
: "${IMG_STATE:?IMG_STATE must name the podman state directory}"
mkdir -p "$IMG_STATE/storage" "$IMG_STATE/run"
cat >"$IMG_STATE/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=1000:1000"]
[engine]
runtime = "runc"
CONF
cat >"$IMG_STATE/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$IMG_STATE/storage"
runroot = "$IMG_STATE/run"
CONF
export CONTAINERS_CONF="$IMG_STATE/containers.conf"
export CONTAINERS_STORAGE_CONF="$IMG_STATE/storage.conf"
