"""Notebook 06 (PyTorch memory): self-checks. Each returns a Feedback and never gives the answer."""

from __future__ import annotations

from course_utils.selfcheck import Feedback, first_failure

# Exercise 1: the tensors the learner sizes (shape, dtype name, bytes per element)
TENSORS = {
    "x": ((2048, 1024), "float32", 4),
    "w": ((4096, 4096), "bfloat16", 2),
    "ids": ((8192,), "int64", 8),
}


def tensor_bytes_truth() -> int:
    total = 0
    for shape, _dtype, size in TENSORS.values():
        n = 1
        for d in shape:
            n *= d
        total += n * size
    return total


def _as_number(value):
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def check_allocated_prediction(predicted_bytes, measured_bytes: int | None = None) -> Feedback:
    """Exercise 1: the learner predicts ``torch.cuda.memory_allocated()`` after creating the three tensors.

    ``measured_bytes``: on a GPU, what ``torch.cuda.memory_allocated()`` really said (the cell passes it).
    """
    truth = tensor_bytes_truth()
    value = _as_number(predicted_bytes)
    every = {name: _bytes(shape, size) for name, (shape, _d, size) in TENSORS.items()}
    steps = [
        (
            value is not None,
            "`predicted_bytes` is not a number yet.",
            "Multiply each tensor's number of elements by the bytes per element of its dtype, and add them up.",
        ),
        (
            value is None or value > 1e5,
            f"{value} bytes is far too small for these tensors.",
            "Count bytes, not MiB or GiB: memory_allocated() returns bytes.",
        ),
    ]
    fb = first_failure("Exercise 1: predict memory_allocated()", steps, success="")
    if not fb.ok:
        return fb
    if abs(value - truth) <= 0.001 * truth:
        extra = ""
        if measured_bytes is not None:
            extra = f" The GPU measured {measured_bytes:,} bytes: " + (
                "the same, since each of these sizes is already a multiple of 512 bytes, the allocator's rounding."
                if measured_bytes == truth
                else "slightly more: the allocator rounds every request up to a multiple of 512 bytes."
            )
        return Feedback(
            True,
            "Exercise 1: predict memory_allocated()",
            "Right: allocated memory is exactly the bytes of the live tensors (numel x element "
            "size), rounded up to 512 bytes each." + extra,
        )
    for name, b in every.items():
        if abs(value - (truth - b)) <= 1:
            return Feedback(
                False,
                "Exercise 1: predict memory_allocated()",
                "Your total leaves one tensor out.",
                f"Are all three tensors in your sum? Check `{name}`.",
            )
    # a wrong element size somewhere: try all-4-bytes (bf16 counted as float32) or all elements x 1
    if abs(value - sum(_bytes(s, 4) for s, _d, _z in TENSORS.values())) <= 1:
        return Feedback(
            False,
            "Exercise 1: predict memory_allocated()",
            "Every tensor counted at 4 bytes per element.",
            "bfloat16 and int64 do not take 4 bytes per element: t.element_size() tells.",
        )
    if abs(value - sum(_bytes(s, 1) for s, _d, _z in TENSORS.values())) <= 1:
        return Feedback(
            False,
            "Exercise 1: predict memory_allocated()",
            "You counted elements, not bytes.",
            "Multiply each count by its element size.",
        )
    if value < truth:
        return Feedback(
            False,
            "Exercise 1: predict memory_allocated()",
            "Your prediction is too low.",
            "Check each dtype's bytes per element (t.element_size()) and each shape's element count.",
        )
    return Feedback(
        False,
        "Exercise 1: predict memory_allocated()",
        "Your prediction is too high.",
        "Did you count something in MiB and then multiply again, or use 8 bytes for bfloat16?",
    )


def _bytes(shape, size) -> int:
    n = 1
    for d in shape:
        n *= d
    return n * size


EMPTY_CACHE_TRUTH = {"allocated": "same", "reserved": "lower", "nvidia_smi": "lower", "next_step": "slower"}
_WHY = {
    "allocated": "memory_allocated() counts live tensors; empty_cache() frees none of them.",
    "reserved": "reserved = allocated + the cache; empty_cache() hands the cache's unused blocks back to CUDA.",
    "nvidia_smi": "nvidia-smi sees what the process holds from CUDA: reserved plus the CUDA context.",
    "next_step": "after empty_cache() the next step must ask CUDA (cudaMalloc) for its blocks again.",
}


def check_empty_cache_prediction(prediction) -> Feedback:
    """Exercise 2: what ``torch.cuda.empty_cache()`` changes, between two training steps."""
    title = "Exercise 2: what empty_cache() changes"
    allowed = {"same", "lower", "higher", "faster", "slower"}
    if not isinstance(prediction, dict):
        return Feedback(False, title, "`prediction` must be a dict.", "Fill in the dict given in the cell.")
    missing = [k for k in EMPTY_CACHE_TRUTH if prediction.get(k) is None]
    if missing:
        return Feedback(
            False, title, f"No prediction yet for: {', '.join(missing)}.", f"Use one of {sorted(allowed)} for each key."
        )
    bad = [k for k in EMPTY_CACHE_TRUTH if str(prediction[k]).strip().lower() not in allowed]
    if bad:
        return Feedback(
            False, title, f"Not one of the allowed words: {', '.join(bad)}.", f"Use one of {sorted(allowed)}."
        )
    wrong = [k for k, v in EMPTY_CACHE_TRUTH.items() if str(prediction[k]).strip().lower() != v]
    if wrong:
        first = wrong[0]
        return Feedback(
            False, title, f"{len(wrong)} of 4 predictions are not right yet, starting with `{first}`.", _HINTS[first]
        )
    return Feedback(True, title, "Right. " + " ".join(_WHY.values()))


_HINTS = {
    "allocated": "Which memory does memory_allocated() count: live tensors or the cache?",
    "reserved": "Reserved includes the cache. What happens to the cache?",
    "nvidia_smi": "nvidia-smi cannot see PyTorch's tensors, only what the process holds from CUDA.",
    "next_step": "Look at the recorded figures above: cudaMalloc calls per step with and without empty_cache().",
}


def check_fragmentation_reading(ratio_default, ratio_expandable) -> Feedback:
    """Exercise 3 (recorded figures): peak reserved / peak allocated for both allocator settings."""
    from course_utils.memory.results import load_results

    title = "Exercise 3: read the fragmentation figures"
    results = load_results()
    if results is None:
        return Feedback(False, title, "docs/results/memory.json is missing here.", "Nothing to compare with.")
    truth = [results[k]["uncapped"]["peak_reserved_over_peak_allocated"] for k in ("frag-default", "frag-expandable")]
    got = [_as_number(ratio_default), _as_number(ratio_expandable)]
    return first_failure(
        title,
        [
            (None not in got, "Both ratios must be numbers.", "Divide peak reserved by peak allocated, for each row."),
            (
                None in got or all(g >= 1 for g in got),
                "A ratio below 1 cannot be: reserved always covers allocated.",
                "Put reserved on top of the fraction.",
            ),
            (
                None in got or abs(got[0] - truth[0]) < 0.02,
                "The default allocator's ratio is off.",
                "Use the `peak alloc` and `peak reserved` columns of the `default` row.",
            ),
            (
                None in got or abs(got[1] - truth[1]) < 0.02,
                "The expandable_segments ratio is off.",
                "Use the `peak alloc` and `peak reserved` columns of the expandable_segments row.",
            ),
        ],
        success="Right: the default allocator reserved almost twice what the workload ever used at once "
        "(fragmentation: free slivers too small for the next tensor); expandable segments grew one "
        "segment in place and wasted about a tenth.",
    )
