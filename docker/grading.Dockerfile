# syntax=docker/dockerfile:1.7
# Grading image: the workshop image plus solutions/, nbgrader_config.py and the grading command.
# Instructors only: it contains the hidden tests. Build the workshop image first, then:
#   docker build -f docker/grading.Dockerfile -t gpu-course/grading:2026.11 .
# Grade with no network, on the course folder of the host (see docs/docker.md):
#   docker run --rm --network none --privileged --user 0 --gpus all -v "$PWD":/course -e COURSE_DIR=/course \
#     gpu-course/grading:2026.11 grade gpu_monitoring_dashboard submitted --workers 2
ARG WORKSHOP_IMAGE=gpu-course/workshop:2026.11
FROM ${WORKSHOP_IMAGE}
# bubblewrap: every submission's kernel runs in its sandbox (docs/grading-security.md). Grading
# runs with --user 0 in a privileged container (the sandbox switches uids, uses namespaces and
# cgroups); the image itself stays non-root.
USER 0:0
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "bubblewrap=0.11.*" \
    && rm -rf /var/lib/apt/lists/*
COPY --chown=learner:learner nbgrader_config.py ${COURSE_DIR}/
COPY --chown=learner:learner solutions/ ${COURSE_DIR}/solutions/
# Nothing at grading time may reach a network: kernels run from the image, pip may not download.
ENV PIP_NO_INDEX=1 \
    HF_HUB_OFFLINE=1 \
    COURSE_GRADING=1
# The grading container runs a batch job, not JupyterLab: the lab health check does not apply.
HEALTHCHECK NONE
USER 1000:1000
CMD ["grade", "--help"]
