"""HTML/SVG rendering of the dashboard: compact paths that decode to the data, escaped text."""

from __future__ import annotations

import itertools
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.telemetry import NoGpuReason, SimulatedBackend
from course_utils.widgets import render
from course_utils.widgets.model import DashboardModel, GpuRow, ProcessRow

values_strategy = st.lists(st.one_of(st.none(), st.floats(-50, 250, allow_nan=False)), min_size=0, max_size=150)


def expected_points(values, y_min, y_max):
    runs, run = [], []
    for i, v in enumerate(values):
        if v is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append((float(i), float(render.quantise(v, y_min, y_max))))
    if run:
        runs.append(run)
    return runs


def y_at(points, x):
    """The y of a decoded polyline at ``x`` (a flat run merged into one ``h`` step has no vertex
    at each slot; the line still passes through it)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= x <= x1 and x1 > x0:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    assert len(points) == 1 or points[-1][0] == x or points[0][0] == x, (points, x)
    return next(y for px, y in points if px == x)


@settings(max_examples=300, deadline=None)
@given(values_strategy, st.floats(0, 50), st.floats(60, 200))
def test_line_path_decodes_to_the_quantised_values(values, y_min, y_max):
    d = render.path_d(values, y_min, y_max)
    decoded = render.decode_path(d) if d else []
    expected = expected_points(values, y_min, y_max)
    assert len(decoded) == len(expected)
    for got, want in zip(decoded, expected, strict=True):
        for x, y in want:
            assert y_at(got, x) == y
        assert got[0] == want[0] and got[-1][0] == want[-1][0]


@settings(max_examples=200, deadline=None)
@given(values_strategy)
def test_area_path_closes_each_run_on_the_baseline(values):
    d = render.path_d(values, 0, 100, area=True)
    expected = expected_points(values, 0, 100)
    decoded = render.decode_path(d) if d else []
    assert len(decoded) == len(expected)
    for got, want in zip(decoded, expected, strict=True):
        assert got[0] == (want[0][0], 100.0)  # starts on the baseline
        assert got[-1] == (want[0][0], 100.0)  # and closes back to it
        line = got[1:-2]  # without the baseline corners
        for x, y in want:
            assert y_at(line, x) == y


def test_path_is_compact_for_flat_and_noisy_lines():
    assert render.path_d([50.0] * 120, 0, 100) == "M0,50h119"
    noisy = [50 + (7 if i % 2 else -7) for i in range(120)]
    assert len(render.path_d(noisy, 0, 100)) < 120 * 6


def test_values_outside_the_axis_are_clamped():
    assert render.path_d([-10.0, 500.0], 0, 100) == "M0,100l1-100"


def test_process_and_gpu_names_are_escaped():
    rows = [ProcessRow(gpu=0, pid=1, name="<img src=x onerror=alert(1)>", used_memory_mib=10.0, visible=True)]
    out = render.processes_html(rows)
    assert "<img" not in out and "&lt;img" in out
    gpu = GpuRow(
        index=0,
        name="<b>evil</b>",
        healthy=True,
        error=None,
        memory_used_gib=1.0,
        memory_total_gib=2.0,
        memory_used_pct=50.0,
        memory_busy_pct=None,
        utilization_pct=None,
        temperature_c=None,
        power_w=None,
        power_limit_w=None,
        power_pct=None,
        sm_clock_mhz=None,
        alerts=("<script>",),
        simulated=False,
    )
    table = render.table_html([gpu])
    assert "<b>evil" not in table and "<script>" not in table
    assert table.count("n/a") >= 4  # unsupported metrics say so; they are not drawn as 0


def test_banner_shows_message_and_fix_never_a_traceback():
    reason = NoGpuReason(
        code="library_not_found", message="libnvidia-ml.so.1 was not found.", fix="Start the container with --gpus all."
    )
    out = render.banner_html(reason)
    assert "No GPU to show" in out and "libnvidia-ml.so.1 was not found." in out
    assert "Start the container with --gpus all." in out and "Traceback" not in out


def test_simulated_badge_only_for_the_simulated_source():
    assert "SIMULATED" in render.header_html("simulated", "x")
    assert "SIMULATED" not in render.header_html("nvml", "x")
    assert "NO GPU" in render.header_html("none", "x")


def test_charts_of_8_gpus_stay_small():
    """What is sent at each chart update: 8 GPUs, a minute of 0.25 s samples."""
    backend = SimulatedBackend(8, seed=0, step_s=0.25)
    m = DashboardModel(interval=0.25)
    for _ in range(4 * 90):
        m(backend.snapshot())
    html = render.charts_html(m.charts())
    assert html.count("cud-card") == 8
    assert len(html) < 16_000, len(html)  # ~4 chars per point per line
    paths = re.findall(r"d='([^']+)'", html)
    assert len(paths) == 8 * 3
    assert '"' not in html  # double quotes would be escaped (doubled) in the JSON message


def test_status_line_has_a_sparkline_per_gpu():
    backend = SimulatedBackend(3, seed=0, step_s=0.5)
    m = DashboardModel(interval=0.5)
    for _ in range(20):
        m(backend.snapshot())
    rows = m.rows()
    out = render.status_line_html(rows, {r.index: m.recent(r.index) for r in rows}, "simulated")
    assert out.count("<svg") == 3 and "SIM" in out and "GPU2" in out


def test_alert_chips_give_the_value_with_its_unit():
    from course_utils.telemetry import AlertEvent, AlertRule

    hot, full = AlertRule("temperature_c", 85, 80), AlertRule("memory_used_pct", 90, 85, label="memory > 90%")
    out = render.alerts_html(
        [AlertEvent(0.0, 1, hot, 86.2, "raised"), AlertEvent(0.0, 2, full, 93.4, "raised")], [], [hot, full]
    )
    assert "GPU 1: temperature_c &gt; 85 (86 °C)" in out and "GPU 2: memory &gt; 90% (93%)" in out
    quiet = render.alerts_html([], [], [full])
    assert "no alert" in quiet and "memory &gt; 90%" in quiet
