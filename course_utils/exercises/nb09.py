"""Notebook 09 (monitoring): checks for reading the GPU yourself and for an alert rule. Never gives the answer."""

from __future__ import annotations

from course_utils.selfcheck import Feedback, first_failure


def check_readings(readings, truth) -> Feedback:
    """Exercise 1: the learner's ``read_gpus()`` output against the backend's own snapshot taken right after.

    ``readings``: a list with one dict per GPU: index, memory_used_mib, memory_total_mib, utilization_pct.
    ``truth``: a telemetry Snapshot of the same GPUs.
    """
    title = "Exercise 1: read the GPUs yourself"
    if readings is None:
        return Feedback(False, title, "`read_gpus()` returned None.", "Return a list with one dict per GPU.")
    if not isinstance(readings, list) or not all(isinstance(r, dict) for r in readings):
        return Feedback(False, title, "`read_gpus()` must return a list of dicts.", "One dict per GPU.")
    want = {"index", "memory_used_mib", "memory_total_mib", "utilization_pct"}
    gpus = {g.index: g for g in truth.gpus}
    missing = [sorted(want - set(r)) for r in readings if want - set(r)]
    steps = [
        (
            len(readings) == len(gpus),
            f"{len(readings)} reading(s) for {len(gpus)} GPU(s).",
            "nvmlDeviceGetCount() says how many handles to ask for.",
        ),
        (not missing, f"A reading lacks {missing[0] if missing else ''}.", f"Each dict needs the keys {sorted(want)}."),
    ]
    fb = first_failure(title, steps, success="")
    if not fb.ok:
        return fb
    for r in readings:
        g = gpus.get(r["index"])
        if g is None:
            return Feedback(False, title, f"There is no GPU {r['index']}.", "Indices run from 0 to count - 1.")
        total = g.memory_total_mib
        got_total = float(r["memory_total_mib"])
        if abs(got_total - total) > 1:
            factor = got_total / total if total else 0
            hint = (
                "That is bytes: divide by 1024**2 for MiB."
                if abs(factor - 1024**2) < 1
                else "That is GiB or MB: MiB is bytes / 1024**2."
                if factor < 1 or abs(factor - 1.048576) < 0.01
                else "Use the `total` field of nvmlDeviceGetMemoryInfo, in MiB."
            )
            return Feedback(False, title, f"GPU {r['index']}: memory_total_mib is {got_total:,.1f}.", hint)
        if abs(float(r["memory_used_mib"]) - g.memory_used_mib) > max(64.0, 0.05 * total):
            return Feedback(
                False,
                title,
                f"GPU {r['index']}: memory_used_mib is far from what NVML reports.",
                "Use the `used` field of the same memory info, in MiB.",
            )
        util = float(r["utilization_pct"])
        if not 0 <= util <= 100:
            return Feedback(
                False,
                title,
                f"GPU {r['index']}: utilisation {util} is not a percentage.",
                "nvmlDeviceGetUtilizationRates(handle).gpu is already in percent.",
            )
    return Feedback(
        True,
        title,
        "Right: these are the numbers every dashboard starts from. Memory is the whole "
        "GPU's (every process); utilisation is the share of time a kernel ran.",
    )


def check_alert_rule(rule) -> Feedback:
    """Exercise 2: an alert when memory is more than 80% full, cleared below 70%."""
    from course_utils.telemetry import AlertRule

    title = "Exercise 2: a memory alert"
    if rule is None:
        return Feedback(False, title, "`my_rule` is still None.", "Make an AlertRule(metric, high=..., clear=...).")
    if not isinstance(rule, AlertRule):
        return Feedback(
            False,
            title,
            f"`my_rule` is a {type(rule).__name__}, not an AlertRule.",
            "Use course_utils.telemetry.AlertRule.",
        )
    return first_failure(
        title,
        [
            (
                rule.metric != "memory_busy_pct",
                "memory_busy_pct is NVML's utilization.memory: how busy the memory "
                "controller is, not how full the memory is.",
                "Which metric says how full the memory is?",
            ),
            (
                rule.metric == "memory_used_pct",
                f"`{rule.metric}` is not a memory-fullness metric.",
                "The dashboard's table shows it as memory used (%).",
            ),
            (abs(rule.high - 80.0) < 1e-9, f"The alert fires above {rule.high}.", "Re-read the task's threshold."),
            (
                rule.clear is not None and abs(rule.clear - 70.0) < 1e-9,
                f"The alert clears below {rule.clear}.",
                "A lower clear threshold keeps an alert from flapping.",
            ),
        ],
        success="Right: raised above 80% full, cleared only below 70%, so a value hovering near 80% raises one "
        "alert, not one per sample.",
    )
