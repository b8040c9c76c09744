"""HTML and SVG for the dashboard: pure functions from model data to strings.

No Jupyter import: these are tested on their own and measured by the
benchmark. Everything here is sent to the browser several times a second, so
the markup is kept small on purpose:

* one ``<style>`` block, sent once, and short class names (prefix ``cud-``);
* chart lines as SVG paths with *relative* integer steps (``l1-3 1 2``), flat
  runs merged into one ``h`` step, y quantised to 1% of the chart height;
* single-quoted or unquoted attributes (double quotes double in JSON).

Text from outside (GPU and process names, alert labels, reasons) is escaped.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence

from .model import CHARTS, ChartData, GpuRow, ProcessRow

Y_STEPS = 100  # chart height in path units: 1% resolution
MISSING = "n/a"

STYLE = """<style>
.cud{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:12px;color:var(--jp-ui-font-color1,#222);
line-height:1.4;white-space:normal;min-width:0;
--cud-bg:var(--jp-layout-color1,#fff);--cud-bg2:var(--jp-layout-color2,#eee);--cud-line:var(--jp-border-color2,#ddd);
--cud-dim:var(--jp-ui-font-color2,#666)}
.cud b{font-weight:600}
.course-gpu-dashboard .widget-html-content{min-width:0;flex:1 1 auto}
.cud-hd{display:flex;align-items:center;gap:10px;flex-wrap:wrap}
.cud-hd h3{margin:0;font-size:15px}
.cud-dim{color:var(--cud-dim)}
.cud-badge{padding:1px 8px;border-radius:9px;font-weight:700;font-size:11px;letter-spacing:.05em}
.cud-sim{background:#f08c00;color:#fff}.cud-real{background:#2f9e44;color:#fff}
.cud-banner{border:1px solid #e03131;border-left:5px solid #e03131;border-radius:4px;padding:10px 14px;
background:rgba(224,49,49,.07);max-width:900px}
.cud-banner p{margin:4px 0}.cud-banner code{font-size:11px}
.cud-tb{border-collapse:collapse;width:100%;max-width:1100px}
.cud-tb th{text-align:left;font-weight:600;color:var(--cud-dim);border-bottom:1px solid var(--cud-line);padding:2px 6px}
.cud-tb td{padding:3px 6px;border-bottom:1px solid var(--cud-line);white-space:nowrap}
.cud-tb td.r,.cud-tb th.r{text-align:right;font-variant-numeric:tabular-nums}
.cud-bar{position:relative;height:18px;min-width:130px;background:var(--cud-bg2);border-radius:3px;overflow:hidden;
line-height:18px}
.cud-bar i{position:absolute;left:0;top:0;bottom:0;background:#2f9e44;opacity:.8}
.cud-bar i.w{background:#f08c00}.cud-bar i.a{background:#e03131}.cud-bar i.m{background:#8e5cd9}
.cud-bar i.p{background:#f08c00}
.cud-bar span{position:relative;display:block;padding-left:6px;line-height:18px;font-variant-numeric:tabular-nums;
font-size:11px;white-space:nowrap}
.cud-bad{color:#e03131;font-weight:600}
.cud-al{display:flex;gap:6px;flex-wrap:wrap;align-items:center;min-height:20px}
.cud-chip{background:#e03131;color:#fff;border-radius:9px;padding:1px 8px;font-weight:600}
.cud-ok{color:#2f9e44}
.cud-grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:8px;max-width:1100px}
.cud-card{border:1px solid var(--cud-line);border-radius:5px;padding:5px 7px;background:var(--cud-bg)}
.cud-ct{display:flex;justify-content:space-between;font-size:11px}
.cud-plot{position:relative}
.cud-plot span{position:absolute;left:3px;font-size:10px;color:var(--cud-dim);line-height:1;padding:0 2px;
background:var(--cud-bg2);border-radius:2px;opacity:.9}
.cud-plot .t{top:2px}.cud-plot .b{bottom:2px}
.cud-svg{display:block;width:100%;height:72px;background:var(--cud-bg2);border-radius:2px}
.cud-svg path{vector-effect:non-scaling-stroke;stroke-width:1.5;fill:none;stroke-linejoin:round}
.cud-svg path.g{stroke:var(--cud-line);stroke-width:1;stroke-dasharray:3 3}
.cud-xa{display:flex;justify-content:space-between;font-size:10px;color:var(--cud-dim)}
.cud-lg{display:flex;gap:10px;flex-wrap:wrap;font-size:11px;color:var(--cud-dim);margin:2px 0 4px}
.cud-lg i{display:inline-block;width:10px;height:3px;vertical-align:middle;margin-right:3px}
.cud-note{font-size:11px;color:var(--cud-dim);max-width:1100px;margin:2px 0}
.cud-sl{display:inline-flex;align-items:center;gap:4px;margin-right:14px;font-variant-numeric:tabular-nums;
font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:12px;color:var(--jp-ui-font-color1,#222)}
.cud-sl svg{width:60px;height:14px;background:var(--jp-layout-color2,#eee);border-radius:2px}
.cud-sl path{vector-effect:non-scaling-stroke;stroke-width:1.2;fill:none}
</style>"""


# -- numbers -------------------------------------------------------------------


def fmt(value: float | None, spec: str = ".0f", unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return f"{value:{spec}}{unit}"


def level(pct: float | None, warn: float = 70.0, alarm: float = 90.0) -> str:
    """CSS class of a bar: green, amber above ``warn``, red above ``alarm``."""
    if pct is None or pct < warn:
        return ""
    return "w" if pct < alarm else "a"


def bar(pct: float | None, text: str, cls: str = "") -> str:
    width = 0.0 if pct is None else max(0.0, min(100.0, pct))
    klass = f" class={cls}" if cls else ""
    return f"<div class=cud-bar><i{klass} style=width:{width:.0f}%></i><span>{text}</span></div>"


# -- chart paths ---------------------------------------------------------------


def quantise(v: float, y_min: float, y_max: float) -> int:
    """SVG y of ``v``: 0 at ``y_max`` (top), ``Y_STEPS`` at ``y_min``; clamped."""
    span = (y_max - y_min) or 1.0
    frac = (min(max(v, y_min), y_max) - y_min) / span
    return round(Y_STEPS * (1.0 - frac))


def path_d(values: Sequence[float | None], y_min: float, y_max: float, area: bool = False) -> str:
    """A compact SVG path through ``values`` (x = slot index, y quantised).

    ``None`` breaks the line. With ``area``, each run is closed down to the
    baseline, for a filled chart.
    """
    out: list[str] = []
    prev_y: int | None = None
    cmd = ""  # the last command written: repeated 'l' pairs need no letter
    run_start = 0
    flat = 0  # pending horizontal run length

    def flush_flat() -> None:
        nonlocal flat, cmd
        if flat:
            out.append(f"h{flat}")
            flat = 0
            cmd = "h"

    def close_run() -> None:
        nonlocal cmd
        flush_flat()
        if area:
            out.append(f"V{Y_STEPS}H{run_start}Z")
            cmd = "Z"

    for i, v in enumerate(values):
        if v is None:
            if prev_y is not None:
                close_run()
            prev_y = None
            continue
        y = quantise(v, y_min, y_max)
        if prev_y is None:
            run_start = i
            out.append(f"M{i},{Y_STEPS}V{y}" if area else f"M{i},{y}")
            cmd = "V" if area else "M"
        else:
            dy = y - prev_y
            if dy == 0:
                flat += 1
            else:
                flush_flat()
                if cmd == "l":  # implicit repeat: a space (or the minus sign) separates the pairs
                    out.append(f" 1{dy}" if dy < 0 else f" 1 {dy}")
                else:
                    out.append(f"l1{dy}" if dy < 0 else f"l1 {dy}")
                cmd = "l"
        prev_y = y
    if prev_y is not None:
        close_run()
    return "".join(out)


def decode_path(d: str) -> list[list[tuple[float, float]]]:
    """Absolute points of each run of a path made by :func:`path_d` (for tests and
    the browser check); area runs include their baseline corners."""
    import re

    tokens = re.findall(r"[MmLlHhVvZz]|-?\d+(?:\.\d+)?", d)
    runs: list[list[tuple[float, float]]] = []
    x = y = 0.0
    cmd = ""
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t.isalpha():
            cmd = t
            i += 1
            if cmd in "Zz":
                continue
        if cmd == "M":
            x, y = float(tokens[i]), float(tokens[i + 1])
            i += 2
            runs.append([(x, y)])
            cmd = "L"  # implicit lineto after moveto
        elif cmd == "l":
            x, y = x + float(tokens[i]), y + float(tokens[i + 1])
            i += 2
            runs[-1].append((x, y))
        elif cmd == "L":
            x, y = float(tokens[i]), float(tokens[i + 1])
            i += 2
            runs[-1].append((x, y))
        elif cmd == "h":
            x += float(tokens[i])
            i += 1
            runs[-1].append((x, y))
        elif cmd == "H":
            x = float(tokens[i])
            i += 1
            runs[-1].append((x, y))
        elif cmd == "V":
            y = float(tokens[i])
            i += 1
            runs[-1].append((x, y))
        elif cmd == "v":
            y += float(tokens[i])
            i += 1
            runs[-1].append((x, y))
        else:
            raise ValueError(f"unexpected path token {t!r} in {d[:40]!r}")
    return runs


def _axis_label(v: float, unit: str) -> str:
    if unit == "GiB":
        return f"{v:.0f} GiB"
    if unit == "%":
        return f"{v:.0f}%"
    return f"{v:.0f} {unit}"


def _window_label(seconds: float) -> str:
    return f"−{seconds / 60:.0f} min" if seconds < 3600 else f"−{seconds / 3600:.0f} h"


def chart_card(c: ChartData, title: str) -> str:
    n = len(c.values[0]) if c.values else 0
    paths = [f"<path class=g d=M0,50H{max(n - 1, 1)} />"]
    for spec, values in zip(c.spec.series, c.values, strict=True):
        d = path_d(values, c.y_min, c.y_max, area=spec.fill)
        if not d:
            continue
        fill = f" style=fill:{spec.color};fill-opacity:.22" if spec.fill else ""
        paths.append(f"<path stroke='{spec.color}'{fill} d='{d}'/>")
    unit = c.spec.unit
    return (
        f"<div class=cud-card><div class=cud-ct><b>{html.escape(title)}</b>"
        f"<span class=cud-dim>{c.bin_s:g} s per point</span></div><div class=cud-plot>"
        f"<svg class=cud-svg viewBox='0 0 {max(n - 1, 1)} {Y_STEPS}' preserveAspectRatio=none>{''.join(paths)}"
        f"</svg><span class=t>{_axis_label(c.y_max, unit)}</span><span class=b>{_axis_label(c.y_min, unit)}</span>"
        f"</div><div class=cud-xa><span>{_window_label(c.window_s)}</span><span>now</span></div></div>"
    )


def charts_html(charts: Sequence[ChartData]) -> str:
    if not charts:
        return "<div class=cud><p class=cud-dim>Waiting for the first samples…</p></div>"
    spec = charts[0].spec
    legend = "".join(f"<span><i style=background:{s.color}></i>{html.escape(s.label)}</span>" for s in spec.series)
    cards = "".join(chart_card(c, f"GPU {c.gpu}") for c in charts)
    return (
        f"<div class=cud><div class=cud-lg><b>{html.escape(spec.title)}</b>{legend}</div>"
        f"<div class=cud-grid>{cards}</div><p class=cud-note>{html.escape(spec.note)}</p></div>"
    )


# -- table, processes, alerts ---------------------------------------------------


def _row(r: GpuRow) -> str:
    name = html.escape(r.name)
    if not r.healthy:
        return (
            f"<tr><td class=r>{r.index}</td><td>{name}</td>"
            f"<td colspan=6 class=cud-bad>GPU not responding: {html.escape(r.error or 'unknown error')} "
            "(the other GPUs keep reporting)</td></tr>"
        )
    mem_text = (
        f"{fmt(r.memory_used_gib, '.1f')} / {fmt(r.memory_total_gib, '.0f')} GiB · {fmt(r.memory_used_pct, '.0f', '%')}"
    )
    mem_cls = "a" if (r.memory_used_pct or 0) >= 90 else ("w" if (r.memory_used_pct or 0) >= 75 else "m")
    power_text = f"{fmt(r.power_w, '.0f')} / {fmt(r.power_limit_w, '.0f')} W"
    alerts = "".join(f"<span class=cud-chip>{html.escape(a)}</span>" for a in r.alerts)
    return (
        f"<tr><td class=r>{r.index}</td><td>{name}</td>"
        f"<td>{bar(r.memory_used_pct, mem_text, mem_cls)}</td>"
        f"<td>{bar(r.utilization_pct, fmt(r.utilization_pct, '.0f', '%'))}</td>"
        f"<td>{bar(r.power_pct, power_text, 'p')}</td>"
        f"<td class=r>{fmt(r.temperature_c, '.0f', ' °C')}</td>"
        f"<td class=r>{fmt(r.sm_clock_mhz, '.0f', ' MHz')}</td><td>{alerts}</td></tr>"
    )


def table_html(rows: Sequence[GpuRow], timestamp: float | None = None, hidden: int = 0) -> str:
    if not rows:
        return "<div class=cud><p class=cud-dim>Waiting for the first sample…</p></div>"
    head = (
        "<tr><th class=r>GPU</th><th>name</th><th>memory used / total</th><th>utilisation</th>"
        "<th>power / limit</th><th class=r>temp</th><th class=r>SM clock</th><th>alerts</th></tr>"
    )
    foot = ""
    if hidden:
        foot = (
            f"<p class=cud-note>{hidden} more GPU(s) not shown: the dashboard shows 8 at most; "
            "pick them with <code>Dashboard(gpus=[...])</code>.</p>"
        )
    when = "" if timestamp is None else time.strftime("%H:%M:%S", time.localtime(timestamp))
    return (
        f"<div class=cud><table class=cud-tb>{head}{''.join(_row(r) for r in rows)}</table>{foot}"
        f"<p class=cud-note>read at {when}</p></div>"
    )


# Static: sent once, below the table, not with every update.
TABLE_NOTE = (
    "<p class='cud cud-note'>Memory is the whole GPU's: all processes and all containers on it. "
    "NVML's <code>utilization.memory</code> is the share of time the memory controller was busy, "
    "not how full memory is. Utilisation is the share of time a kernel ran (NVML averages it over "
    "1/6 to 1 s), not how much of the GPU it used.</p>"
)


def processes_html(rows: Sequence[ProcessRow] | None, every_s: float = 2.0) -> str:
    if rows is None:
        return "<div class=cud><p class=cud-note>Process table: waiting for the first reading…</p></div>"
    if not rows:
        body = "<tr><td colspan=4 class=cud-dim>no process holds GPU memory</td></tr>"
    else:
        body = "".join(
            f"<tr><td class=r>{p.gpu}</td><td class=r>{p.pid}</td>"
            f"<td{'' if p.visible else ' class=cud-dim'}>{html.escape(p.name)}</td>"
            f"<td class=r>{fmt(p.used_memory_mib, ',.0f', ' MiB')}</td></tr>"
            for p in rows
        )
    return (
        "<div class=cud><table class=cud-tb style=max-width:700px><tr><th class=r>GPU</th><th class=r>PID</th>"
        f"<th>process</th><th class=r>GPU memory</th></tr>{body}</table>"
        f"<p class=cud-note>processes holding GPU memory, read every {every_s:g} s · inside a container NVML "
        "reports host PIDs, "
        "which the container usually cannot see</p></div>"
    )


_UNITS = {
    "temperature_c": " °C",
    "power_w": " W",
    "power_limit_w": " W",
    "sm_clock_mhz": " MHz",
    "memory_used_mib": " MiB",
    "memory_total_mib": " MiB",
}


def _value_with_unit(metric: str, value: float) -> str:
    return f"{value:.0f}{'%' if metric.endswith('_pct') else _UNITS.get(metric, '')}"


def alerts_html(active, recent, rules) -> str:
    if active:
        chips = "".join(
            f"<span class=cud-chip>⚠ GPU {e.gpu}: {html.escape(e.rule.name)} "
            f"({_value_with_unit(e.rule.metric, e.value)}) since "
            f"{time.strftime('%H:%M:%S', time.localtime(e.timestamp))}</span>"
            for e in active
        )
    else:
        names = ", ".join(html.escape(r.name) for r in rules) or "none set"
        chips = f"<span class=cud-ok>✓ no alert</span><span class=cud-dim>(rules: {names})</span>"
    cleared = [e for e in recent if e.state == "cleared"][-3:]
    tail = "".join(
        f"<span class=cud-dim>{time.strftime('%H:%M:%S', time.localtime(e.timestamp))} GPU {e.gpu} "
        f"{html.escape(e.rule.name)} cleared</span>"
        for e in cleared
    )
    return f"<div class='cud cud-al'>{chips}{tail}</div>"


# -- header, banner --------------------------------------------------------------


def header_html(source: str, label: str, title: str = "GPU dashboard") -> str:
    if source == "simulated":
        badge = (
            "<span class=cud-badge style=background:#f08c00;color:#fff title='numbers come from the "
            "simulated backend, not a real GPU'>SIMULATED</span>"
        )
    elif source == "nvml":
        badge = "<span class='cud-badge cud-real'>LIVE · NVML</span>"
    else:
        badge = "<span class=cud-badge style=background:#868e96;color:#fff>NO GPU</span>"
    return (
        f"<div class='cud cud-hd'><h3>{html.escape(title)}</h3>{badge}"
        f"<span class=cud-dim>{html.escape(label)}</span></div>"
    )


def banner_html(reason) -> str:
    """The no-GPU banner: what is wrong and what to do, never a traceback."""
    message = html.escape(getattr(reason, "message", str(reason)))
    fix = html.escape(getattr(reason, "fix", ""))
    return (
        f"<div class='cud cud-banner'><p><b>No GPU to show.</b> {message}</p>"
        + (f"<p><b>Fix:</b> {fix}</p>" if fix else "")
        + "<p class=cud-dim>To explore the dashboard without a GPU, show simulated GPUs (clearly labelled): "
        "<code>Dashboard(simulate=4)</code>, or set <code>COURSE_GPU_MODE=simulated</code>.</p></div>"
    )


# -- compact status line ----------------------------------------------------------


def sparkline(values: Sequence[float | None], y_max: float = 100.0, color: str = "#2f9e44") -> str:
    n = max(len(values), 2)
    d = path_d(values, 0.0, y_max)
    return f"<svg viewBox='0 0 {n - 1} {Y_STEPS}' preserveAspectRatio=none><path stroke='{color}' d='{d}'/></svg>"


def status_line_html(rows: Sequence[GpuRow], recent: dict[int, list], source: str, width: int = 30) -> str:
    if not rows:
        return "<span class=cud-sl>waiting for the first sample…</span>"
    tag = "<span class=cud-badge style=background:#f08c00;color:#fff>SIM</span>" if source == "simulated" else ""
    parts = []
    for r in rows:
        if not r.healthy:
            parts.append(f"<span class=cud-sl><b>GPU{r.index}</b><span class=cud-bad>not responding</span></span>")
            continue
        util = [reading.utilization_pct for reading in recent.get(r.index, [])][-width:]
        warn = " class=cud-bad" if r.alerts else ""
        parts.append(
            f"<span class=cud-sl><b>GPU{r.index}</b>{sparkline(util)}"
            f"<span{warn}>{fmt(r.utilization_pct, '.0f', '%')} · mem {fmt(r.memory_used_pct, '.0f', '%')} · "
            f"{fmt(r.power_w, '.0f', ' W')} · {fmt(r.temperature_c, '.0f', ' °C')}</span></span>"
        )
    return tag + "".join(parts)


__all__ = [
    "CHARTS",
    "STYLE",
    "alerts_html",
    "banner_html",
    "chart_card",
    "charts_html",
    "decode_path",
    "header_html",
    "path_d",
    "processes_html",
    "sparkline",
    "status_line_html",
    "table_html",
]
