#!/usr/bin/env bash
# Validate the whole course on a GPU machine, offline, in one command:
#   scripts/gpu_validate.sh [--gpus N] [--only STEP,...] [--skip STEP,...]
# Installs the Python packages the machine lacks from wheels in .whl/ (made by
# scripts/fetch_gpu_wheels.sh where there is network), then runs scripts/gpu_validate.py,
# which runs the gpu tests, every notebook and solution with nbval, and the benchmarks,
# and writes docs/gpu-validation.md. The workshop and grading images run it as their self-test.
set -euo pipefail
cd "$(dirname "$0")/.."
# NVLink multicast off: on shared hosts a program using it can take the GPUs out of service.
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" >/dev/null; then
    SITE="${COURSE_SITE:-/tmp/course-site}"
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl
    export PYTHONPATH="$SITE:$PYTHONPATH"
    export PATH="$SITE/bin:$PATH"  # nbgrader runs `alembic` from PATH
    # --target puts data files (nbconvert's HTML templates, for feedback) under $SITE/share
    export JUPYTER_PATH="$SITE/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
fi
# bubblewrap for the grading self-test's sandbox, unpacked from the .deb fetch_gpu_wheels.sh saved
if ! command -v bwrap >/dev/null && compgen -G ".whl/bubblewrap_*.deb" >/dev/null; then
    for deb in .whl/bubblewrap_*.deb; do dpkg -x "$deb" /tmp/course-bwrap; done
    export PATH="/tmp/course-bwrap/usr/bin:$PATH"
fi
exec "$PYTHON" scripts/gpu_validate.py "$@"
