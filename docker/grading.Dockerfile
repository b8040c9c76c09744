# syntax=docker/dockerfile:1.7
# Grading image: the workshop image plus solutions/, nbgrader_config.py and the grading command.
# Instructors only: it contains the hidden tests. Build the workshop image first, then:
#   docker build -f docker/grading.Dockerfile -t gpu-course/grading:2026.11 .
# Grade with no network (see docs/docker.md for the folders to mount):
#   docker run --rm --network none --gpus all gpu-course/grading:2026.11 grade --help
ARG WORKSHOP_IMAGE=gpu-course/workshop:2026.11
FROM ${WORKSHOP_IMAGE}
COPY --chown=learner:learner nbgrader_config.py ${COURSE_DIR}/
COPY --chown=learner:learner solutions/ ${COURSE_DIR}/solutions/
# Nothing at grading time may reach a network: kernels run from the image, pip may not download.
ENV PIP_NO_INDEX=1 \
    HF_HUB_OFFLINE=1 \
    COURSE_GRADING=1
# The grading container runs a batch job, not JupyterLab: the lab health check does not apply.
HEALTHCHECK NONE
CMD ["grade", "--help"]
