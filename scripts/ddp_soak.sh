#!/usr/bin/env bash
# Run N consecutive 2-rank gloo DDP jobs (the course's worker, the job of
# tests/unit/test_distributed_ddp.py) and count the ones that fail.
#
#   scripts/ddp_soak.sh [N=50] [extra worker arguments...]
#
# Prints one line per failure (with the lines that name the cause) and a summary
# line: "N jobs, F failed, ... s". The exit code is 1 when any job failed.
# A job also counts as failed when a rank warns that gloo threads outlived the
# process group (the cause of the old crash at exit, seen even when it did not crash).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
N=${1:-50}
shift || true
PYTHON=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
start=$(date +%s)
for i in $(seq 1 "$N"); do
    log="$work/job$i.log"
    "$PYTHON" -m torch.distributed.run --standalone --nproc-per-node=2 -m course_utils.distributed.worker \
        --mode ddp --device cpu --train-size 96 --test-size 51 --epochs 2 --batch-size 8 \
        --run-dir "$work/run$i" "$@" >"$log" 2>&1
    rc=$?
    if [ "$rc" -ne 0 ] || grep -q "gloo threads still alive" "$log"; then
        failed=$((failed + 1))
        echo "job $i: exit code $rc"
        grep -E "terminate called|Fatal Python error|exitcode|gloo threads still alive|Error" "$log" | head -8 | sed 's/^/    /'
    fi
done
echo "$N jobs, $failed failed, $(( $(date +%s) - start )) s ($(date -u +%Y-%m-%dT%H:%MZ), $(getconf _NPROCESSORS_ONLN) cores, load $(cut -d" " -f1 /proc/loadavg), torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))"
[ "$failed" -eq 0 ]
