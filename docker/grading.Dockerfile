# syntax=docker/dockerfile:1.7
# Grading image: the workshop image plus solutions/, nbgrader_config.py and the grading command.
# Instructors only: it contains the hidden tests. Build the workshop image first, then:
#   docker build -f docker/grading.Dockerfile -t gpu-course/grading:2026.11 .
# Grade with no network; nbgrader's state lives in ./grading on the host, and the sandbox around each
# submission needs root, namespaces and cgroups inside the container (docs/docker.md):
#   docker run --rm --init --network none --privileged --user 0 --gpus all -v "$PWD/grading:/grading" gpu-course/grading:2026.11 grade --help
ARG WORKSHOP_IMAGE=gpu-course/workshop:2026.11
FROM ${WORKSHOP_IMAGE}
# bubblewrap: every submission's kernel runs in its sandbox (docs/grading-security.md). Grading
# runs with --user 0 in a privileged container (the sandbox switches uids, uses namespaces and
# cgroups); the image itself stays non-root. The version is the base release's (Debian 13: 0.11;
# docker/build.sh passes bookworm's for the local base it builds on).
ARG BUBBLEWRAP_VERSION=0.11.*
USER 0:0
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "bubblewrap=${BUBBLEWRAP_VERSION}" \
    && rm -rf /var/lib/apt/lists/*
COPY --chown=learner:learner nbgrader_config.py ${COURSE_DIR}/
COPY --chown=learner:learner solutions/ ${COURSE_DIR}/solutions/
# nbgrader's state (the gradebook, submitted/, autograded/, feedback/, the reports) goes to
# /grading, a folder mounted from the host, so that it outlives the container; the course folder
# points there. `grade` creates the subfolders in the mounted folder.
RUN ln -s /grading/gradebook.db gradebook.db \
    && ln -s /grading/submitted submitted \
    && ln -s /grading/autograded autograded \
    && ln -s /grading/feedback feedback \
    && ln -s /grading/reports grading-reports
# Nothing at grading time may reach a network: kernels run from the image, pip may not download.
ENV PIP_NO_INDEX=1 \
    HF_HUB_OFFLINE=1 \
    COURSE_GRADING=1 \
    COURSE_GRADING_STATE=/grading
# The grading container runs a batch job, not JupyterLab: the lab health check does not apply.
HEALTHCHECK NONE
USER 1000:1000
CMD ["grade", "--help"]
