#!/usr/bin/env bash
# Entrypoint of the workshop image (and of the grading image built on it).
#
#   lab [jupyter args]   (default) the GPU doctor, then JupyterLab with token authentication;
#                        prints the URL with its token
#   doctor [args]        the GPU doctor in both environments (PyTorch, TensorFlow), then exit
#   selftest [args]      scripts/gpu_validate.sh, the course's GPU test suite; exits with its status
#                        (`selftest --cpu`: the checks that need no GPU, for a machine without one)
#   grade [args]         the grading command (GRADE_CMD below; grading image); no network needed
#   help                 this text
#   anything else        runs as given, e.g. `bash`
#
# Environment: JUPYTER_TOKEN (unset: a random one is made; empty: refused, as that would switch
# authentication off), JUPYTER_PORT (8888), COURSE_PUBLIC_URL (the address printed, default
# http://127.0.0.1:$JUPYTER_PORT), COURSE_DOCTOR (full | quick | off; quick skips the framework
# probes), COURSE_DIR, COURSE_TF_PYTHON (the TensorFlow environment's python),
# COURSE_GRADING_STATE (grading image: the folder mounted from the host for nbgrader's state).
set -euo pipefail

COURSE_DIR="${COURSE_DIR:-/home/learner/course}"
TF_PYTHON="${COURSE_TF_PYTHON:-/opt/tf-gpu/bin/python}"
# The one place that names the grading command (run in COURSE_DIR with the user's arguments).
GRADE_CMD=(course-grade)

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

run_doctor() {
    # The doctor reports and never fails; a crash of it must not keep JupyterLab from starting.
    echo "== GPU doctor: PyTorch environment ($(command -v python)) =="
    python -m course_utils doctor "$@" || echo "(the doctor exited with $?)"
    if [ -x "$TF_PYTHON" ]; then
        echo "== GPU doctor: TensorFlow environment ($TF_PYTHON) =="
        "$TF_PYTHON" -m course_utils doctor "$@" || echo "(the doctor exited with $?)"
    fi
}

start_lab() {
    if [ "${JUPYTER_TOKEN+set}" = set ] && [ -z "$JUPYTER_TOKEN" ]; then
        echo "JUPYTER_TOKEN is set but empty: that would switch authentication off." >&2
        echo "Unset it to get a random token, or set a long random one (e.g. openssl rand -hex 24)." >&2
        exit 2
    fi
    local port="${JUPYTER_PORT:-8888}"
    if ! [[ "$port" =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        echo "JUPYTER_PORT=$port is not a port number (1-65535)." >&2
        exit 2
    fi
    if [ -z "${JUPYTER_TOKEN:-}" ]; then
        JUPYTER_TOKEN="$(python -c 'import secrets; print(secrets.token_hex(24))')"
    elif [ "${#JUPYTER_TOKEN}" -lt 16 ]; then
        echo "warning: JUPYTER_TOKEN has only ${#JUPYTER_TOKEN} characters; anyone who can reach port" \
             "$port can guess a short token. Use 32 or more random characters." >&2
    fi
    # Jupyter reads the token from the environment, which keeps it out of `ps` output.
    export JUPYTER_TOKEN
    case "${COURSE_DOCTOR:-full}" in
        full) run_doctor ;;
        quick) run_doctor --no-frameworks ;;
        off) ;;
        *) echo "COURSE_DOCTOR=${COURSE_DOCTOR} is not one of full, quick, off." >&2; exit 2 ;;
    esac
    local base="${COURSE_PUBLIC_URL:-http://127.0.0.1:$port}"
    echo
    echo "JupyterLab is starting. Open:"
    echo "    ${base%/}/lab/tree/notebooks/00_welcome.ipynb?token=${JUPYTER_TOKEN}"
    echo "(published on another host port? use that port instead of $port)"
    echo
    cd "$COURSE_DIR"
    exec jupyter lab --no-browser --ip=0.0.0.0 --port="$port" --ServerApp.root_dir="$COURSE_DIR" "$@"
}

mode="${1:-lab}"
[ "$#" -gt 0 ] && shift
case "$mode" in
    lab)
        start_lab "$@"
        ;;
    doctor)
        run_doctor "$@"
        ;;
    selftest)
        script="$COURSE_DIR/scripts/gpu_validate.sh"
        if [ ! -f "$script" ]; then
            echo "selftest: $script is missing from this image; rebuild it from a checkout that has it." >&2
            exit 2
        fi
        cd "$COURSE_DIR"
        exec bash "$script" "$@"
        ;;
    grade)
        if [ ! -f "$COURSE_DIR/nbgrader_config.py" ] || [ ! -d "$COURSE_DIR/solutions" ]; then
            echo "grade: this image has no nbgrader_config.py or solutions/; grading runs" \
                 "in the grading image (docker/grading.Dockerfile), which adds them." >&2
            exit 2
        fi
        if [ -n "${COURSE_GRADING_STATE:-}" ]; then
            # the course folder links gradebook.db, submitted/, autograded/, feedback/ and
            # grading-reports/ into this folder; it must be a writable mount from the host
            if ! mkdir -p "$COURSE_GRADING_STATE"/{submitted,autograded,feedback,reports} 2>/dev/null \
                    || [ ! -w "$COURSE_GRADING_STATE" ]; then
                echo "grade: $COURSE_GRADING_STATE is not writable by uid $(id -u): mount a host folder there" \
                     "that this user can write (docs/docker.md, Grade)." >&2
                exit 2
            fi
        fi
        cd "$COURSE_DIR"
        exec "${GRADE_CMD[@]}" "$@"
        ;;
    help | -h | --help)
        usage
        ;;
    *)
        exec "$mode" "$@"
        ;;
esac
