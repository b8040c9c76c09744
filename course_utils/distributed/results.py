"""Results of training runs and benchmarks: scaling efficiency, a table, a plot.

A row is a dict as written by the trainer (``result.json``) or by the multi-GPU
benchmark (``docs/results/multi_gpu.json``); the keys they share are ``mode``,
``img_per_s`` and ``peak_mem_gib``, with the device count in ``devices`` (trainer)
or ``gpus`` (benchmark).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MODE_NAMES = {"single": "single", "dataparallel": "DataParallel", "ddp": "DDP"}
_GROUP_KEYS = ("label", "model", "image_size", "batch_per_device", "batch", "dtype", "amp", "compile")


def load_rows(path: str | os.PathLike) -> list[dict]:
    """Rows from a JSON file holding one result, a list of them, or ``{"runs": [...]}``;
    ``[]`` when the file does not exist (nothing measured yet)."""
    path = Path(path)
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "runs" in data:
        return list(data["runs"])
    return data if isinstance(data, list) else [data]


def devices_of(row: dict) -> int:
    return int(row.get("gpus") or row.get("devices") or row.get("world_size") or 1)


def _group(row: dict) -> tuple:
    return tuple(row.get(k) for k in _GROUP_KEYS)


def add_scaling(rows: list[dict]) -> list[dict]:
    """Copies of ``rows`` with ``scaling_efficiency`` = img/s / (devices x the single-device img/s
    of the same model, size, batch and precision). Rows that already carry one keep it."""
    base: dict[tuple, float] = {}
    for r in rows:
        if r.get("mode") == "single" and r.get("img_per_s"):
            base.setdefault(_group(r), r["img_per_s"])
    out = []
    for r in rows:
        r = dict(r)
        if r.get("scaling_efficiency") is None and r.get("img_per_s") and _group(r) in base:
            r["scaling_efficiency"] = round(r["img_per_s"] / (devices_of(r) * base[_group(r)]), 4)
        out.append(r)
    return out


def _fmt(value, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "int":
        return f"{value:,.0f}"
    if kind == "pct":  # one decimal: 94.7% must not read as a 95% target met
        return f"{100 * value:.1f}%"
    if kind == "gib":
        return f"{value:.2f}"
    return str(value)


def recorded_on(rows: list[dict]) -> str:
    """When, where and with what the rows were measured, one entry per distinct machine and day:
    a results file gathers runs of several days, so its top-level host describes only the last."""
    seen: dict[tuple, None] = {}
    for r in rows:
        gpus = r.get("gpus_visible")
        machine = f"{gpus} x {r['device_name']}" if gpus and r.get("device_name") else r.get("device_name", "?")
        seen[(r.get("date", "?"), machine, r.get("torch", "?"))] = None
    return "; ".join(f"{date} on {machine}, torch {torch}" for date, machine, torch in sorted(seen))


def config_label(row: dict) -> str:
    """What tells two runs of one model and mode apart: compilation (and what it wraps), batch per
    device, precision, DDP's options when not its defaults."""
    compiled = {"none": "eager", None: "", "default": "compiled", "reduce-overhead": "compiled + CUDA graphs"}
    parts = [compiled.get(row.get("compile"), f"compile={row.get('compile')}")]
    if row.get("scope") == "step" and row.get("compile") not in (None, "none"):
        parts[0] += " (whole step)"
    options = row.get("ddp_options") or ""
    if "optimize_ddp=False" in options:
        parts.append("one graph")
    if "static_graph=True" in options:
        parts.append("static_graph")
    if "bucket_cap_mb=" in options and "bucket_cap_mb=25" not in options:
        parts.append(options.split("bucket_cap_mb=")[1].split(",")[0] + " MB buckets")
    batch = row.get("batch") or row.get("batch_per_device") or row.get("batch_size")
    if batch:
        parts.append(f"batch {batch}/device")
    if row.get("dtype"):
        dtype = row["dtype"]
        if row.get("mode") == "dataparallel" and row.get("replica_autocast_dtype"):
            dtype += f" (replicas {'/'.join(row['replica_autocast_dtype'])})"
        parts.append(dtype)
    return ", ".join(p for p in parts if p)


def comparison_table(rows: list[dict]) -> str:
    """A plain-text table (readable in a notebook, a log or a terminal)."""
    rows = add_scaling(rows)
    header = ["where", "model", "mode", "devices", "config", "img/s", "scaling", "peak GPU mem GiB", "accuracy", "note"]
    body = []
    for r in rows:
        where = r.get("label") or ("GPU" if r.get("gpus") else "?")
        mode = MODE_NAMES.get(str(r.get("mode")), str(r.get("mode")))
        if r.get("mode") == "dataparallel" and r.get("cudnn_benchmark") is False:
            mode += " (cudnn.benchmark off)"
        body.append(
            [
                where,
                str(r.get("model", "")),
                mode,
                str(devices_of(r)),
                config_label(r),
                _fmt(r.get("img_per_s"), "int"),
                _fmt(r.get("scaling_efficiency"), "pct"),
                _fmt(r.get("peak_mem_gib"), "gib"),
                _fmt(r.get("final_accuracy"), "pct"),
                r.get("note") or "",
            ]
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)]
    lines = [
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)).rstrip() for b in body]
    return "\n".join(lines)


def plot_comparison(rows: list[dict], title: str = ""):
    """Four bar charts side by side: img/s, scaling efficiency, peak GPU memory, final accuracy.
    A metric that no row has (GPU memory on a CPU, accuracy in a benchmark) says so instead."""
    import matplotlib.pyplot as plt

    rows = add_scaling(rows)
    labels = [
        f"{MODE_NAMES.get(str(r.get('mode')), r.get('mode'))} x{devices_of(r)}"
        + (" (bench off)" if r.get("mode") == "dataparallel" and r.get("cudnn_benchmark") is False else "")
        for r in rows
    ]
    models = sorted({str(r.get("model", "")) for r in rows})
    colours = {"single": "#888888", "dataparallel": "#d9822b", "ddp": "#2b7bd9"}
    metrics = [
        ("img_per_s", "images / s", 1),
        ("scaling_efficiency", "scaling efficiency (%)", 100),
        ("peak_mem_gib", "peak GPU memory (GiB)", 1),
        ("final_accuracy", "final test accuracy (%)", 100),
    ]
    # two by two, labels slanted: four panels side by side left each bar ~1 cm for a three-line label
    fig, axes = plt.subplots(2, 2, figsize=(min(16, max(9, 1.1 * len(rows) + 4)), 7.2))
    axes = axes.ravel()
    for ax, (key, name, scale) in zip(axes, metrics, strict=True):
        values = [r.get(key) for r in rows]
        ax.set_title(name, fontsize=10)
        if all(v is None for v in values):
            why = "no GPU in these runs" if key == "peak_mem_gib" else "not measured in these runs"
            ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#666666")
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        xs = range(len(rows))
        ax.bar(
            xs,
            [0 if v is None else v * scale for v in values],
            color=[colours.get(str(r.get("mode")), "#999999") for r in rows],
        )
        ax.set_xticks(list(xs), labels, fontsize=8, rotation=30, ha="right", rotation_mode="anchor")
        if key == "scaling_efficiency":
            ax.axhline(100, color="black", lw=0.8, ls="--")
    shown = [m for m in models if m and m not in title]  # name the models unless the title already does
    if title or shown:
        fig.suptitle(f"{title} ({', '.join(shown)})" if title and shown else title or ", ".join(shown))
    fig.tight_layout()
    return fig
