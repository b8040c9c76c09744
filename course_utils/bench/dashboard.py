"""What does the live dashboard cost the kernel, and how much does it send to the browser?

The dashboard runs inside a real IPython kernel (started with jupyter_client,
as JupyterLab starts one), on simulated GPUs. Measured there, over a window
after a warm-up:

* CPU seconds of the sampler thread, the refresh thread and the kernel's
  IOPub thread (which puts the messages on the socket), each from its own
  per-thread CPU clock (``pthread_getcpuclockid``), as a share of one core;
* bytes per second the kernel puts on its IOPub socket (every frame of every
  message, header and signature included), split by message type, counted
  by wrapping the socket's ``send_multipart``. The server forwards these to
  the browser as they are.

The charts are pre-filled with a minute of simulated history, so the window
measures full charts (the steady state), not an empty chart filling up.

``--candidates`` measures the *charts alone* (8 GPUs x 3 lines x 120 points,
updated when a point is added) drawn four ways: our plain-ipywidgets HTML+SVG,
plotly ``FigureWidget``, bqplot, and an anywidget that receives only the new
points. Candidates whose package is not importable in the kernel are
reported as not measured (install them into the kernel's environment, or put
them on ``PYTHONPATH``, to include them).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import threading
import time
from datetime import date
from pathlib import Path

TARGET_CPU_PCT = 5.0  # of one core
TARGET_BYTES_PER_S = 50_000

# -- kernel side -------------------------------------------------------------------


class _IopubCounter:
    """Counts what the kernel puts on its IOPub socket, per message type.

    It wraps the IOPub thread's final send (``_really_send``), so every message
    from every thread is counted once, as the bytes that go on the socket.
    """

    def __init__(self, iopub_thread):
        self.bytes: dict[str, int] = {}
        self.msgs: dict[str, int] = {}
        self._lock = threading.Lock()
        self._thread = iopub_thread
        self._orig = iopub_thread._really_send
        iopub_thread._really_send = self._send

    def _send(self, parts, *args, **kwargs):
        try:
            frames = [f.encode() if isinstance(f, str) else f for f in parts]
            size = sum(memoryview(f).nbytes for f in frames)
            kind = "?"
            for i, f in enumerate(frames):
                if bytes(f) == b"<IDS|MSG>":
                    kind = json.loads(bytes(frames[i + 2])).get("msg_type", "?")
                    break
            with self._lock:
                self.bytes[kind] = self.bytes.get(kind, 0) + size
                self.msgs[kind] = self.msgs.get(kind, 0) + 1
        except Exception:  # counting must never break the kernel
            pass
        return self._orig(parts, *args, **kwargs)

    def totals(self) -> tuple[dict, dict]:
        with self._lock:
            return dict(self.bytes), dict(self.msgs)

    def remove(self) -> None:
        self._thread._really_send = self._orig


def _thread_cpu(thread) -> float:
    if thread is None or thread.ident is None or not thread.is_alive():
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, AttributeError):
        return 0.0


def _prefill(model, gpus: int, interval: float, seconds: float = 60.0) -> None:
    """A minute of history, ending now, so the charts are full from the start."""
    from ..telemetry import SimulatedBackend

    backend = SimulatedBackend(gpus, seed=1, step_s=interval, start_time=time.time() - seconds)
    for _ in range(int(seconds / interval)):
        model(backend.snapshot())


class KernelHarness:
    """Runs one configuration inside the kernel; ``mark()`` reads the counters."""

    def __init__(self, candidate: str, gpus: int = 8, refresh_hz: float = 4.0, interval: float = 0.25):
        from IPython import get_ipython
        from IPython.display import display

        kernel = get_ipython().kernel
        self.candidate = candidate
        self.counter = _IopubCounter(kernel.iopub_thread)
        self.iopub_thread = kernel.iopub_thread.thread
        self.threads: dict[str, threading.Thread | None] = {}  # None: not started (no CPU to count)
        self._closers = []
        if candidate == "dashboard":
            from ..telemetry import SimulatedBackend
            from ..widgets import Dashboard

            dash = Dashboard(
                SimulatedBackend(gpus, seed=0), interval=interval, refresh_hz=refresh_hz, name="bench", autostart=False
            )
            _prefill(dash.model, gpus, interval)
            display(dash)
            dash.start()
            self.threads = {"sampler": dash.source.sampler.thread, "refresh": dash.refresher.thread}
            self._closers.append(dash.close)
            return
        self._start_charts(candidate, gpus, refresh_hz, interval, display)

    def _start_charts(self, candidate, gpus, refresh_hz, interval, display) -> None:
        from ..telemetry import Sampler, SimulatedBackend
        from ..widgets.model import DashboardModel
        from ..widgets.refresh import Refresher

        model = DashboardModel(interval=interval)
        sampler = Sampler(SimulatedBackend(gpus, seed=0), interval=interval, name=None)
        model.attach(sampler)
        _prefill(model, gpus, interval)
        view, update = CHART_CANDIDATES[candidate](model)
        display(view)
        last: list[int | None] = [None]

        def refresh():
            key = model.chart_version
            if key != last[0]:  # draw only when a point was added, like the dashboard
                last[0] = key
                update()

        refresher = Refresher(refresh, hz=refresh_hz, name=f"bench-{candidate}")
        sampler.start()
        refresher.start()
        self.threads = {"sampler": sampler.thread, "refresh": refresher.thread}
        self._closers += [refresher.stop, sampler.close, getattr(view, "close", lambda: None)]

    def mark(self) -> dict:
        bytes_, msgs = self.counter.totals()
        cpu = {name: _thread_cpu(t) for name, t in self.threads.items()}
        cpu["iopub"] = _thread_cpu(self.iopub_thread)
        return {"t": time.monotonic(), "cpu": cpu, "process_cpu": time.process_time(), "bytes": bytes_, "msgs": msgs}

    def close(self) -> None:
        for close in self._closers:
            close()
        self.counter.remove()


def _ours(model):
    import ipywidgets as widgets

    from ..widgets.render import STYLE, charts_html

    box = widgets.VBox([widgets.HTML(STYLE), widgets.HTML()])

    def update():
        box.children[1].value = charts_html(model.charts())

    return box, update


def _plotly(model):
    import ipywidgets as widgets
    import plotly.graph_objects as go

    charts = model.charts()
    figs = []
    for c in charts:
        fig = go.FigureWidget(
            data=[
                go.Scatter(
                    y=list(v), mode="lines", name=s.label, line={"color": s.color}, fill="tozeroy" if s.fill else None
                )
                for s, v in zip(c.spec.series, c.values, strict=True)
            ],
            layout={
                "height": 150,
                "width": 320,
                "margin": {"l": 30, "r": 5, "t": 20, "b": 20},
                "title": {"text": f"GPU {c.gpu}"},
                "showlegend": False,
                "yaxis": {"range": [0, 100]},
            },
        )
        figs.append(fig)
    box = widgets.GridBox(figs, layout=widgets.Layout(grid_template_columns="repeat(4, 330px)"))

    def update():
        for fig, c in zip(figs, model.charts(), strict=True):
            with fig.batch_update():
                for trace, values in zip(fig.data, c.values, strict=True):
                    trace.y = values

    return box, update


def _bqplot(model):
    import bqplot as bq
    import ipywidgets as widgets
    import numpy as np

    def arr(c):
        return np.array([[np.nan if v is None else v for v in series] for series in c.values])

    charts = model.charts()
    lines, figs = [], []
    for c in charts:
        sx, sy = bq.LinearScale(), bq.LinearScale(min=0.0, max=100.0)
        mark = bq.Lines(
            x=np.arange(len(c.values[0])), y=arr(c), scales={"x": sx, "y": sy}, colors=[s.color for s in c.spec.series]
        )
        lines.append(mark)
        figs.append(
            bq.Figure(
                marks=[mark],
                axes=[bq.Axis(scale=sy, orientation="vertical")],
                title=f"GPU {c.gpu}",
                layout=widgets.Layout(width="320px", height="150px"),
                fig_margin={"top": 25, "bottom": 15, "left": 35, "right": 5},
            )
        )
    box = widgets.GridBox(figs, layout=widgets.Layout(grid_template_columns="repeat(4, 330px)"))

    def update():
        for mark, c in zip(lines, model.charts(), strict=True):
            mark.y = arr(c)

    return box, update


ANYWIDGET_ESM = """
export default { render({ model, el }) {
  const n = model.get("points"), data = new Map();
  const svgs = [];
  for (let g = 0; g < model.get("n_gpus"); g++) {
    const s = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    s.setAttribute("viewBox", `0 0 ${n - 1} 100`); s.setAttribute("preserveAspectRatio", "none");
    s.style.cssText = "width:300px;height:64px;margin:2px;background:#eee"; el.appendChild(s); svgs.push(s);
  }
  const draw = () => svgs.forEach((s, g) => {
    const rows = data.get(g) || [];
    s.innerHTML = [0, 1, 2].map(k => `<path fill="none" stroke="${["#8e5cd9","#2f9e44","#f08c00"][k]}" d="` +
      rows.map((r, i) => `${i ? "L" : "M"}${n - rows.length + i},${100 - (r[k] ?? 0)}`).join("") + `"/>`).join("");
  });
  model.on("msg:custom", (msg) => {
    msg.rows.forEach((vals, g) => { const r = data.get(g) || []; r.push(vals); if (r.length > n) r.shift();
      data.set(g, r); });
    draw();
  });
}};
"""


def _anywidget(model):
    import anywidget
    import traitlets

    class DeltaCharts(anywidget.AnyWidget):
        _esm = ANYWIDGET_ESM
        n_gpus = traitlets.Int(0).tag(sync=True)
        points = traitlets.Int(0).tag(sync=True)

    charts = model.charts()
    widget = DeltaCharts(n_gpus=len(charts), points=len(charts[0].values[0]))

    def update():
        # only the newest point of each line: the browser keeps the rest
        newest = [[None if v[-1] is None else round(v[-1], 1) for v in c.values] for c in model.charts()]
        widget.send({"rows": newest})

    return widget, update


CHART_CANDIDATES = {
    "charts: ipywidgets HTML+SVG (ours)": _ours,
    "charts: plotly FigureWidget": _plotly,
    "charts: bqplot": _bqplot,
    "charts: anywidget, new points only": _anywidget,
}
CANDIDATE_PACKAGES = {
    "charts: plotly FigureWidget": "plotly",
    "charts: bqplot": "bqplot",
    "charts: anywidget, new points only": "anywidget",
}


# -- driver side -------------------------------------------------------------------


def _execute(client, code: str, timeout: float = 120.0) -> str:
    """Run ``code`` in the kernel; return its stdout, raise on an error."""
    msg_id = client.execute(code)
    out, error = [], None
    deadline = time.monotonic() + timeout
    while True:
        msg = client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            out.append(content["text"])
        elif kind == "error":
            error = "\n".join(content["traceback"])
        elif kind == "status" and content["execution_state"] == "idle":
            break
    if error:
        raise RuntimeError(f"kernel code failed:\n{code}\n{error}")
    return "".join(out)


def _drain(client, seconds: float) -> None:
    """Read (and drop) IOPub messages for ``seconds``, as the server would."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            client.get_iopub_msg(timeout=min(left, 0.5))
        except Exception:  # queue.Empty: nothing sent in this slice
            pass


def measure(
    candidate: str,
    gpus: int = 8,
    refresh_hz: float = 4.0,
    interval: float = 0.25,
    seconds: float = 20.0,
    warmup: float = 3.0,
) -> dict:
    from jupyter_client.manager import start_new_kernel

    env = dict(os.environ)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    km, client = start_new_kernel(kernel_name="python3", env=env)
    try:
        args = json.dumps([candidate, gpus, refresh_hz, interval])
        _execute(
            client,
            "import json\nfrom course_utils.bench.dashboard import KernelHarness\n"
            f"_h = KernelHarness(*json.loads({args!r}))",
        )
        _drain(client, warmup)
        _execute(client, "_m0 = _h.mark()")
        _drain(client, seconds)
        report = _execute(client, "_m1 = _h.mark()\nprint(json.dumps([_m0, _m1]))")
        _execute(client, "_h.close()")
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)
    m0, m1 = json.loads(report)
    wall = m1["t"] - m0["t"]
    cpu = {k: 100.0 * (m1["cpu"][k] - m0["cpu"][k]) / wall for k in m1["cpu"]}
    kinds = set(m1["bytes"]) | set(m0["bytes"])
    by_type = {k: (m1["bytes"].get(k, 0) - m0["bytes"].get(k, 0)) / wall for k in kinds}
    msgs = {k: (m1["msgs"].get(k, 0) - m0["msgs"].get(k, 0)) / wall for k in kinds}
    comm_bps = by_type.get("comm_msg", 0.0)
    result = {
        "candidate": candidate,
        "gpus": gpus,
        "refresh_hz": refresh_hz,
        "sampler_interval_s": interval,
        "seconds": round(wall, 2),
        "cpu_pct_of_one_core": {k: round(v, 3) for k, v in cpu.items()},
        "dashboard_cpu_pct": round(cpu.get("sampler", 0.0) + cpu.get("refresh", 0.0), 3),
        "dashboard_plus_iopub_cpu_pct": round(sum(cpu.values()), 3),
        "kernel_process_cpu_pct": round(100.0 * (m1["process_cpu"] - m0["process_cpu"]) / wall, 3),
        "bytes_per_s": round(sum(by_type.values()), 1),
        "comm_bytes_per_s": round(comm_bps, 1),
        "bytes_per_s_by_type": {k: round(v, 1) for k, v in sorted(by_type.items())},
        "messages_per_s": {k: round(v, 2) for k, v in sorted(msgs.items())},
    }
    result["meets_cpu_target"] = result["dashboard_cpu_pct"] <= TARGET_CPU_PCT
    result["meets_bytes_target"] = result["bytes_per_s"] <= TARGET_BYTES_PER_S
    return result


def _importable_in_kernel(package: str) -> bool:
    import subprocess

    return subprocess.run([sys.executable, "-c", f"import {package}"], capture_output=True).returncode == 0


def run(gpus: int = 8, refresh_hz: float = 4.0, seconds: float = 20.0, candidates: bool = False) -> dict:
    import ipykernel
    import ipywidgets

    result: dict = {
        "date": date.today().isoformat(),
        "host": platform.node(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "ipykernel": ipykernel.__version__,
        "ipywidgets": ipywidgets.__version__,
        "targets": {"dashboard_cpu_pct": TARGET_CPU_PCT, "bytes_per_s": TARGET_BYTES_PER_S},
        "method": "real ipykernel via jupyter_client; per-thread CPU clocks; every IOPub frame counted; "
        "charts pre-filled with 60 s of simulated history (steady state)",
        "dashboard": [],
        "candidates": [],
    }
    for interval in (0.5, 0.25):  # default sampling, and a new sample at every 4 Hz refresh (worst case)
        result["dashboard"].append(measure("dashboard", gpus, refresh_hz, interval, seconds))
    if candidates:
        for name in CHART_CANDIDATES:
            package = CANDIDATE_PACKAGES.get(name)
            if package and not _importable_in_kernel(package):
                result["candidates"].append({"candidate": name, "not_measured": f"{package} is not installed"})
                continue
            entry = measure(name, gpus, refresh_hz, 0.25, seconds)
            if package:
                entry["package_version"] = _version(package)
            result["candidates"].append(entry)
    return result


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def format_result(r: dict) -> str:
    lines = [
        f"dashboard benchmark, {r['date']}, {r['cpu_count']} CPU cores, ipykernel {r['ipykernel']}, "
        f"ipywidgets {r['ipywidgets']}",
        f"{'configuration':<44}{'sampler':>9}{'refresh':>9}{'iopub':>8}{'dash CPU':>10}{'kB/s':>8}"
        f"{'msg/s':>7}  targets",
    ]
    for row in r["dashboard"] + r["candidates"]:
        name = row["candidate"]
        if "not_measured" in row:
            lines.append(f"{name:<44}not measured: {row['not_measured']}")
            continue
        if name == "dashboard":
            name = f"dashboard, {row['gpus']} GPUs, sample {row['sampler_interval_s']:g} s, {row['refresh_hz']:g} Hz"
        c = row["cpu_pct_of_one_core"]
        ok = (
            ("ok" if row["meets_cpu_target"] else "CPU OVER")
            + "/"
            + ("ok" if row["meets_bytes_target"] else "BYTES OVER")
        )
        lines.append(
            f"{name:<44}{c.get('sampler', 0):>8.2f}%{c.get('refresh', 0):>8.2f}%{c.get('iopub', 0):>7.2f}%"
            f"{row['dashboard_cpu_pct']:>9.2f}%{row['bytes_per_s'] / 1000:>8.1f}"
            f"{sum(row['messages_per_s'].values()):>7.1f}  {ok}"
        )
    lines.append(
        f"targets: dashboard CPU (sampler + refresh threads) <= {TARGET_CPU_PCT:g}% of one core, "
        f"<= {TARGET_BYTES_PER_S / 1000:g} kB/s to the browser"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="benchmarks/dashboard_bench.py", description=__doc__.split("\n")[0])
    parser.add_argument("--gpus", type=int, default=8, help="simulated GPUs (1-8, default 8)")
    parser.add_argument("--hz", type=float, default=4.0, help="refresh rate (default 4)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per run (default 20)")
    parser.add_argument(
        "--candidates", action="store_true", help="also measure the charts drawn with plotly, bqplot and anywidget"
    )
    parser.add_argument("--json-out", default="docs/results/dashboard.json", help="where to write the figures")
    args = parser.parse_args(argv)
    if not 1 <= args.gpus <= 8:
        parser.error("--gpus takes 1 to 8")
    result = run(gpus=args.gpus, refresh_hz=args.hz, seconds=args.seconds, candidates=args.candidates)
    print(format_result(result))
    if args.json_out:
        path = Path(args.json_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {path}")
    return 0
