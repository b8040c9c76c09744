#!/usr/bin/env bash
# Build the workshop and grading images here, without a Docker engine: podman (runc) builds the
# same Dockerfiles users build with Docker; only the base image is passed as a build argument.
#
#   docker/build.sh [cpu|gpu] [--base-only] [--no-grading] [--record]
#
#   cpu (default)  the CI variant: CPU PyTorch, no TensorFlow (docs/docker.md says why)
#   gpu            what learners run: PyTorch and TensorFlow with their CUDA wheels (several GB)
#
# Images: localhost/gpu-course/workshop:$COURSE_IMAGE_TAG-<variant> and .../grading:..., where
# COURSE_IMAGE_TAG defaults to the release tag below. Base: a Debian root filesystem made by
# debootstrap and imported into podman (no registry can be pulled from here); it is reused when
# podman already has it. Build time, image size and the largest layers go to
# test-artifacts/images.json (--record: docs/results/images.json, the figures docs/docker.md
# quotes); a build over its size budget (docs/docker.md) fails. Needs root, podman, runc and
# debootstrap (make container-deps).
set -euo pipefail
SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

VARIANT=cpu BASE_ONLY=0 GRADING=1 RECORD=test-artifacts/images.json
for arg in "$@"; do
    case "$arg" in
        cpu | gpu) VARIANT=$arg ;;
        --base-only) BASE_ONLY=1 ;;
        --no-grading) GRADING=0 ;;
        --record) RECORD=docs/results/images.json ;;
        *) sed -n '2,/^set -euo/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
    esac
done

TAG="${COURSE_IMAGE_TAG:-2026.11}"
BASE="${COURSE_BASE_IMAGE:-localhost/gpu-course/base:python3.11-bookworm}"
WORKSHOP="localhost/gpu-course/workshop:$TAG-$VARIANT"
GRADING_IMAGE="localhost/gpu-course/grading:$TAG-$VARIANT"
# Size budgets in MB (podman's image size: all layers, uncompressed). docs/docker.md explains them.
case "$VARIANT" in
    cpu) BUDGET_MB="${COURSE_IMAGE_BUDGET_MB:-2500}" ;;
    gpu) BUDGET_MB="${COURSE_IMAGE_BUDGET_MB:-16000}" ;;
esac
# runc, not crun (crun: "cgroups in hybrid mode not supported"); explicit limits, or podman asks
# for more than this machine allows. See docs/docker.md ("Built and run here, with podman").
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1000:1000)

for tool in podman runc; do
    command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing: run \`make container-deps\`" >&2; exit 2; }
done

now() { date +%s.%N; }
seconds_since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$(now)"; }

# --- the base: Debian bookworm (minbase) with CPython 3.11 in /usr/local -----------------------
# The Dockerfile's default base is python:3.11.x-slim-<debian>: Debian slim with CPython 3.11 built
# into /usr/local (`python`, venv, pip). No registry can be pulled from here and python.org cannot
# be reached, and Debian's own python3.11 (3.11.2 in bookworm) is older than requirements.lock
# allows (soupsieve 4.1.3 needs >= 3.11.5). So the base is debootstrap's Debian with the CPython
# 3.11 this machine's course environment runs (COURSE_BASE_PYTHON; default: the one .venv was made from)
# copied into /usr/local, without its site-packages: the same layout as the python image.
HOST_PYTHON="${COURSE_BASE_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3.11 || true)}"
RUNTIME_LIBS=libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,libreadline8,libncursesw6,libuuid1,zlib1g,libexpat1,libgdbm6,libnsl2,libtirpc3

make_base() {
    if "${PODMAN[@]}" image exists "$BASE"; then
        echo "base: $BASE (reused)"
        return
    fi
    command -v debootstrap >/dev/null || { echo "build.sh: debootstrap is missing: run \`make container-deps\`" >&2; exit 2; }
    local mirror rootfs start prefix version
    [ -n "$HOST_PYTHON" ] || { echo "build.sh: no python3.11 here to put in the base (set COURSE_BASE_PYTHON)" >&2; exit 2; }
    prefix="$("$HOST_PYTHON" -c 'import sys; print(sys.base_prefix)')"
    version="$("$HOST_PYTHON" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    "$HOST_PYTHON" -c 'import sys; sys.exit(not ((3, 11, 5) <= sys.version_info[:3] < (3, 12)))' \
        || { echo "build.sh: $HOST_PYTHON is Python $version; the base needs 3.11.5 or later 3.11" >&2; exit 2; }
    mirror="${DEBIAN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    rootfs="$(mktemp -d /var/tmp/course-base.XXXXXX)"
    trap 'rm -rf "$rootfs"' RETURN
    start=$(now)
    echo "base: debootstrap bookworm from $mirror, plus CPython $version from $prefix (about a minute)"
    debootstrap --variant=minbase --include="ca-certificates,netbase,tzdata,$RUNTIME_LIBS" \
        bookworm "$rootfs" "$mirror" >/var/tmp/course-debootstrap.log 2>&1 \
        || { tail -20 /var/tmp/course-debootstrap.log >&2; exit 1; }
    # what a slim image leaves out: apt lists and caches, man pages
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/doc/*
    tar -C "$prefix" -c --exclude='lib/python3.11/site-packages/*' --exclude='lib/python3.11/test' \
        --exclude='__pycache__' bin/python3.11 bin/python3 lib/libpython3.11.so.1.0 lib/libpython3.11.so \
        lib/python3.11 include/python3.11 2>/dev/null | tar -C "$rootfs/usr/local" -x
    ln -sf python3.11 "$rootfs/usr/local/bin/python"
    ln -sf python3 "$rootfs/usr/local/bin/python3" 2>/dev/null || true
    [ -e "$rootfs/usr/local/bin/python3" ] || ln -sf python3.11 "$rootfs/usr/local/bin/python3"
    # the interpreter's RPATH names the host prefix; the loader falls back to its cache
    chroot "$rootfs" /sbin/ldconfig
    chroot "$rootfs" /usr/local/bin/python -m ensurepip --default-pip >/dev/null
    tar -C "$rootfs" -c . | "${PODMAN[@]}" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change "ENV PYTHON_VERSION=$version" --change 'CMD ["python3"]' \
        - "$BASE" >/dev/null 2>&1
    BASE_SECONDS=$(seconds_since "$start")
    echo "base: $BASE made in ${BASE_SECONDS} s"
}

BASE_SECONDS=0
make_base
[ "$BASE_ONLY" = 1 ] && exit 0

# --- pip inside the build: this machine's pip configuration, CA bundle and local wheel folders ----
# pip in a build container sees none of the host's settings; mount them read-only so that the
# build uses the same indexes and wheel folders (and the same proxy CA) as `pip` here.
PIP_MOUNTS=()
mount_ro() { [ -e "$1" ] && PIP_MOUNTS+=(-v "$1:$2:ro"); return 0; }
mount_ro /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
mount_ro /etc/pip.conf /etc/pip.conf
mount_ro /etc/xdg/pip /etc/xdg/pip
mount_ro "$HOME/.config/pip" /root/.config/pip
mount_ro "$HOME/.pip" /root/.pip
# every local folder the pip configuration points at (find-links, file:// indexes; an index's
# pages link to ../../files, so a .../simple index brings its parent folder)
while read -r path; do
    mount_ro "$path" "$path"
done < <( { python3 -m pip config list 2>/dev/null | cut -d= -f2- | tr -d "'"; echo "${PIP_FIND_LINKS:-}"; } \
          | tr ' ' '\n' | sed -n 's#^file://##p; s#^\(/.*\)#\1#p' | sed 's#/simple/*$##' | sort -u \
          | while read -r p; do [ -d "$p" ] && echo "$p"; done)
# The cpu variant asks the PyTorch CPU index (download.pytorch.org) unless a local wheel folder
# here holds a CPU torch wheel (download.pytorch.org is not reachable from our machines).
CPU_INDEX_ARG=()
for ((i = 1; i < ${#PIP_MOUNTS[@]}; i += 2)); do
    dir="${PIP_MOUNTS[i]%%:*}"
    if compgen -G "$dir/torch-*+cpu-*.whl" >/dev/null || compgen -G "$dir/files/torch-*+cpu-*.whl" >/dev/null; then
        CPU_INDEX_ARG=(--build-arg CPU_TORCH_INDEX=)
    fi
done

build() {  # build NAME TAG DOCKERFILE [build args...]
    local name=$1 tag=$2 file=$3 start
    shift 3
    start=$(now)
    echo "$name: building $tag from $file (log: /var/tmp/course-build-$name-$VARIANT.log)"
    # --format docker: OCI image configs have no HEALTHCHECK, podman would drop it
    "${PODMAN[@]}" build --format docker --network host "${LIMITS[@]}" "${PIP_MOUNTS[@]}" \
        --ignorefile "$file.dockerignore" -f "$file" -t "$tag" "$@" . >"/var/tmp/course-build-$name-$VARIANT.log" 2>&1 \
        || { tail -40 "/var/tmp/course-build-$name-$VARIANT.log" >&2; echo "$name: build failed" >&2; exit 1; }
    BUILD_SECONDS[$name]=$(seconds_since "$start")
    echo "$name: built in ${BUILD_SECONDS[$name]} s"
}

declare -A BUILD_SECONDS
build workshop "$WORKSHOP" docker/Dockerfile --build-arg PYTHON_IMAGE="$BASE" --build-arg VARIANT="$VARIANT" \
    "${CPU_INDEX_ARG[@]}"
if [ "$GRADING" = 1 ]; then
    build grading "$GRADING_IMAGE" docker/grading.Dockerfile --build-arg WORKSHOP_IMAGE="$WORKSHOP" \
        --build-arg BUBBLEWRAP_VERSION="0.8.*"  # the local base is Debian 12 (bookworm)
fi

# an immutable, dated tag next to the release tag (docs/docker.md: tags)
STAMP="$(date -u +%Y%m%d)"
"${PODMAN[@]}" tag "$WORKSHOP" "$WORKSHOP-$STAMP"
[ "$GRADING" = 1 ] && "${PODMAN[@]}" tag "$GRADING_IMAGE" "$GRADING_IMAGE-$STAMP"

# --- record: time, size, the largest layers; fail over budget ---------------------------------
GRADING_ARGS=()
[ "$GRADING" = 1 ] && GRADING_ARGS=(--grading "$GRADING_IMAGE" --grading-seconds "${BUILD_SECONDS[grading]}")
python3 docker/image_report.py --variant "$VARIANT" --workshop "$WORKSHOP" "${GRADING_ARGS[@]}" --base "$BASE" --base-seconds "$BASE_SECONDS" \
    --workshop-seconds "${BUILD_SECONDS[workshop]}" \
    --budget-mb "$BUDGET_MB" --out "$RECORD"
