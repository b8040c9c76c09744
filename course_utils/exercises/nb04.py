"""Notebook 04 (Dockerfiles): driver/CUDA compatibility predicted then computed, and a pinned base image."""

from __future__ import annotations

from collections.abc import Mapping

from ..containers import check_command, find_docker, image_pinning
from ..diagnostics.compat import check_runtime_on_driver
from ..selfcheck import Feedback, first_failure

__all__ = ["PAIRS", "check_compat_predictions", "check_pinned_image"]

# (CUDA runtime in the image, host driver) -> the learner predicts True (runs) or False.
PAIRS = [
    ("12.4", "535.104.05"),
    ("13.0", "570.86.10"),
    ("12.9", "580.65.06"),
    ("11.8", "520.61.05"),
    ("13.0", "580.65.06"),
]


def check_compat_predictions(predictions: Mapping[tuple[str, str], bool] | None) -> Feedback:
    title = "Exercise 2: which images run on which driver?"
    if not isinstance(predictions, Mapping) or set(predictions) != set(PAIRS):
        return Feedback(
            False,
            title,
            "`predictions` needs True/False for each (CUDA, driver) pair in PAIRS.",
            "Keep the keys of PAIRS.",
        )
    if any(not isinstance(v, bool) for v in predictions.values()):
        return Feedback(False, title, "each prediction must be True or False.", "Replace None with a bool.")
    wrong = [pair for pair in PAIRS if check_runtime_on_driver(*pair).ok is not predictions[pair]]
    if wrong:
        cuda, driver = wrong[0]
        return Feedback(
            False,
            title,
            f"{len(wrong)} prediction(s) differ from the rule; e.g. CUDA {cuda} on driver {driver}.",
            "Only the CUDA *major* version sets the minimum driver "
            "(minor version compatibility); look up that major's minimum in the section above.",
        )
    return Feedback(
        True,
        title,
        "Right: the major version decides. Across majors, data-centre GPUs can also "
        "use the cuda-compat forward-compatibility package (see below).",
    )


EXAMPLE_DIGEST = "sha256:" + "5f2c1e0b" * 8  # an example value, not a real image's digest


def check_pinned_image(reference: str | None) -> Feedback:
    """``python:3.11.14-slim-trixie`` pinned by EXAMPLE_DIGEST, keeping the tag for readers."""
    title = "Exercise 1: pin the base image by digest"
    ref = str(reference or "").strip()
    try:
        pinning, refused = image_pinning(ref), ""
    except ValueError as exc:
        pinning, refused = None, str(exc)
    client = check_command(["docker", "pull", ref]) if ref and find_docker() else None
    return first_failure(
        title,
        [
            (bool(ref), "`pinned` is empty.", "Write the image reference as one string."),
            (
                not refused,
                "docker does not accept this as an image reference.",
                "name:tag@sha256:<64 hex digits>, all lowercase, no spaces.",
            ),
            (
                client is None or client.status == "accepted",
                f"the real docker client says {client.status if client else ''}: {client.message if client else ''}",
                "A reference with a typo fails before any registry is asked.",
            ),
            (
                pinning == "digest",
                "this reference is not pinned by a digest.",
                "A digest follows the tag after an @ sign.",
            ),
            (
                ref.startswith("python:3.11.14-slim-trixie@"),
                "keep the name and the tag before the digest.",
                "name:tag@digest: the tag tells a reader what it is, the digest makes it immutable.",
            ),
            (
                ref.endswith("@" + EXAMPLE_DIGEST),
                "the digest is not the one given above.",
                "Copy EXAMPLE_DIGEST, algorithm prefix included.",
            ),
        ],
        success="Right"
        + (": and the real docker client accepts the reference." if client else ".")
        + " The tag alone can be re-pushed; with the digest, every pull gets the same bytes.",
    )
