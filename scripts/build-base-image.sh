#!/usr/bin/env bash
# Builds local stand-ins for the three images docker-compose.yml pulls, for a machine that
# reaches Debian's mirror and PyPI but no container registry (docs/airflow.md):
#   apache/airflow:3.3.2-python3.11   Debian bookworm + Python 3.11 + apache-airflow 3.3.2 from
#                                     PyPI as user 50000, laid out like the official image
#                                     (deploy/standin/airflow.Containerfile)
#   postgres:16, redis:7.2-bookworm   Debian's PostgreSQL 15 and Redis 7.0 behind the same
#                                     interface (deploy/standin/*.Containerfile)
# Each is tagged with the official name, so `FROM apache/airflow:...` and docker-compose.yml
# use it unchanged. They are stand-ins: remove them (`podman rmi` / `docker rmi`) before
# pulling the real images. Needs root, debootstrap and docker or podman (+ buildah).
# The Debian root file system is cached in $STANDIN_WORK (default /var/tmp/overlap-standin).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${STANDIN_WORK:-/var/tmp/overlap-standin}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
AIRFLOW_VERSION=${AIRFLOW_VERSION:-3.3.2}
PYTHON_VERSION=3.11  # Debian bookworm's python3
BASE=localhost/overlap-standin/debian:bookworm
PACKAGES=(python3 python3-venv python3-dev gcc git ca-certificates curl procps tini dumb-init
          libpq5 postgresql redis-server)

if [[ -n "${ENGINE:-}" ]]; then :
elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
elif command -v podman >/dev/null; then ENGINE=podman
else echo "build-base-image: neither a running docker engine nor podman" >&2; exit 1
fi
BUILD=("$ENGINE" build)
# podman as root here: build without a network namespace of its own (the host's network).
[[ "$ENGINE" == podman ]] && BUILD+=(--isolation chroot --network host)
# Behind a TLS-inspecting proxy (the host trusts its CA: SSL_CERT_FILE or PIP_CERT names the
# bundle), podman mounts that bundle into the build and pip/uv use it; nothing stays in the image.
CA_BUNDLE=${BUILD_CA_BUNDLE:-${PIP_CERT:-${SSL_CERT_FILE:-}}}
if [[ "$ENGINE" == podman && -n "$CA_BUNDLE" && -f "$CA_BUNDLE" ]]; then
  BUILD+=(-v "$CA_BUNDLE:/run/build-ca.crt:ro" --build-arg PIP_CERT=/run/build-ca.crt
          --build-arg SSL_CERT_FILE=/run/build-ca.crt)
fi
[[ $(id -u) == 0 ]] || { echo "build-base-image: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "build-base-image: apt-get install debootstrap" >&2; exit 1; }

log() { echo "build-base-image: $*" >&2; }
ROOTFS=$WORK/rootfs
mkdir -p "$WORK"
if [[ ! -f "$ROOTFS/.overlap-debootstrap-done" ]]; then
  log "debootstrap bookworm into $ROOTFS (several minutes)"
  rm -rf "$ROOTFS"
  debootstrap --variant=minbase --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    bookworm "$ROOTFS" "$MIRROR"
  touch "$ROOTFS/.overlap-debootstrap-done"
fi
# Idempotent: a cached root file system gets whatever PACKAGES gained since.
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
  --no-install-recommends "${PACKAGES[@]}" >/dev/null
chroot "$ROOTFS" apt-get clean
log "importing $BASE"
tar -C "$ROOTFS" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* \
    --exclude=./.overlap-debootstrap-done -c . \
  | "$ENGINE" import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null

# The build context: deploy/standin plus the constraints Airflow is installed under. The
# official image installs under Airflow's constraints file, which needs GitHub; the stand-in
# uses uv.lock's pins instead (the same tested set for apache-airflow and its dependencies) and
# deploy/standin/constraints.txt for the extras' packages the lock does not hold.
STANDIN=$WORK/context
rm -rf "$STANDIN"
cp -r "$REPO/deploy/standin" "$STANDIN"
python3 - "$REPO/uv.lock" >>"$STANDIN/constraints.txt" <<'PYEOF'
import sys, tomllib

packages = [p for p in tomllib.load(open(sys.argv[1], "rb"))["package"]
            if "registry" in p.get("source", {})]
names = [p["name"] for p in packages]
print("# uv.lock's pins (scripts/build-base-image.sh); a package locked at two versions (one per")
print("# Python or platform) is left to pip")
for package in packages:
    if names.count(package["name"]) == 1:
        print(f"{package['name']}=={package['version']}")
PYEOF
build() {  # build TAG CONTAINERFILE [ARGS...]
  local tag=$1 file=$2; shift 2
  log "building $tag (stand-in)"
  "${BUILD[@]}" --build-arg BASE_IMAGE="$BASE" "$@" -t "$tag" -f "$STANDIN/$file" "$STANDIN"
}
build "docker.io/library/postgres:16" postgres.Containerfile
build "docker.io/library/redis:7.2-bookworm" redis.Containerfile
build "docker.io/apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}" airflow.Containerfile \
  --build-arg AIRFLOW_VERSION="$AIRFLOW_VERSION"
log "done: $("$ENGINE" images --format '{{.Repository}}:{{.Tag}}' | grep -E 'airflow|postgres|redis' | tr '\n' ' ')"
