"""The ipywidgets dashboard, without a browser: threads, lifecycle, messages."""

from __future__ import annotations

import threading
import time
import typing

import comm
import pytest
from support.waiting import wait_for

from course_utils.telemetry import Sampler, SimulatedBackend, open_backend, running_samplers
from course_utils.widgets import Dashboard, StatusLine, close_all
from course_utils.widgets import dashboard as dashboard_module


class RecordingComm(comm.base_comm.BaseComm):
    """Keeps every message a widget sends, with the thread that sent it."""

    log: typing.ClassVar[list] = []

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        RecordingComm.log.append((self.comm_id, msg_type, data or {}, threading.current_thread().name))


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch):
    RecordingComm.log = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: RecordingComm(*a, **k))
    yield RecordingComm.log
    close_all()


def fast_dashboard(n=4, **kw):
    # virtual 0.5 s per snapshot, taken every 0.05 s: a minute of history in 6 s of test
    kw.setdefault("interval", 0.05)
    kw.setdefault("refresh_hz", 10)
    return Dashboard(SimulatedBackend(n, seed=0, step_s=0.5), **kw)


def dashboard_threads():
    return [
        t for t in threading.enumerate() if t.name.startswith(("gpu-dashboard", "gpu-sampler-dashboard", "gpu-status"))
    ]


def test_draws_all_gpus_and_keeps_updating(recording_comm):
    d = fast_dashboard(4)
    wait_for(lambda: d.model.samples >= 20 and "GPU 3" in d.charts.value)
    first_charts, first_table = d.charts.value, d.table.value
    wait_for(lambda: d.charts.value != first_charts and d.table.value != first_table)
    assert d.table.value.count("<tr>") == 5  # header + 4 GPUs
    assert "SIMULATED" in d.header.value
    assert d.state == "running"
    # from the refresh thread: only 'update' messages, one trait each, batched per widget
    updates = [
        (cid, data)
        for cid, kind, data, thread in recording_comm
        if kind == "comm_msg" and thread.startswith("gpu-dashboard")
    ]
    assert updates
    assert all(data["method"] == "update" and set(data["state"]) == {"value"} for _, data in updates)
    per_widget = {}
    for cid, _ in updates:
        per_widget[cid] = per_widget.get(cid, 0) + 1
    assert max(per_widget.values()) <= d.refresher.ticks  # never more than one message per refresh
    assert not d.refresher.errors and not d.source.sampler.subscriber_errors


def test_rerunning_the_cell_closes_the_previous_dashboard_and_its_sampler():
    first = fast_dashboard(2, name="lesson")
    wait_for(lambda: first.model.samples > 2)
    old_sampler = first.source.sampler
    second = fast_dashboard(2, name="lesson")
    assert first.state == "closed" and not old_sampler.running
    assert first.comm is None  # the old widget is gone from the page too
    assert [s for s in running_samplers() if s.name == "dashboard:lesson"] == [second.source.sampler]
    second.close()
    wait_for(lambda: not dashboard_threads())


def test_closing_stops_the_threads_and_releases_the_backend():
    backend = SimulatedBackend(2, seed=0, step_s=0.5)
    closed = []
    backend.close = lambda: closed.append(True)
    d = Dashboard(backend, interval=0.05, refresh_hz=10, name="closing")
    wait_for(lambda: d.model.samples > 2)
    threads = d.threads()
    assert len(threads) == 2
    d.close()
    assert not any(t.is_alive() for t in threads)
    assert closed == [True]
    assert not d.source.sampler.running
    d.close()  # twice is fine


def test_frontend_closing_the_widget_stops_its_sampler():
    d = fast_dashboard(2, name="frontend")
    wait_for(lambda: d.model.samples > 2)
    threads = d.threads()
    d.comm.handle_close({"content": {"comm_id": d.comm.comm_id, "data": {}}})
    assert d.state == "closed"
    assert not any(t.is_alive() for t in threads)


def test_a_sampler_passed_in_keeps_running_after_close():
    sampler = Sampler(SimulatedBackend(2, step_s=0.5), interval=0.05, name="mine")
    d = Dashboard(sampler, refresh_hz=10, name="borrowed")
    wait_for(lambda: d.model.samples > 2)
    d.close()
    assert sampler.running
    n = d.model.samples
    time.sleep(0.3)
    assert d.model.samples == n  # unsubscribed
    sampler.close()


def test_pause_freezes_the_view_while_sampling_continues_then_stop_and_start():
    d = fast_dashboard(2, name="controls")
    wait_for(lambda: d.model.samples > 5 and d.table.value.count("<tr>") == 3)
    d.pause_button.click()
    assert d.state == "paused" and "paused" in d.status.value
    time.sleep(0.15)  # let a refresh in flight finish
    frozen, samples = d.table.value, d.model.samples
    wait_for(lambda: d.model.samples > samples + 5)
    assert d.table.value == frozen
    d.start_button.click()
    wait_for(lambda: d.table.value != frozen)
    d.stop_button.click()
    assert d.state == "stopped" and not d.source.sampler.running and not d.refresher.running
    assert d.start_button.disabled is False and d.stop_button.disabled is True
    d.start_button.click()
    assert d.source.sampler.running and d.refresher.running


def test_window_and_chart_choices_redraw():
    d = fast_dashboard(2, name="choices")
    wait_for(lambda: "s per point" in d.charts.value)
    d.window_select.value = "5 min"
    wait_for(lambda: "2.5 s per point" in d.charts.value)
    d.chart_select.value = "temperature"
    wait_for(lambda: "temperature" in d.charts.value and "°C" in d.charts.value)


def test_no_gpu_shows_a_banner_and_starts_nothing():
    before = set(threading.enumerate())
    d = Dashboard(open_backend(mode="cpu"), name="nogpu")
    assert d.state == "no GPU"
    assert "No GPU to show" in d.banner.value and "Fix:" in d.banner.value
    assert "COURSE_GPU_MODE" in d.banner.value
    assert set(threading.enumerate()) <= before
    d.start()  # does nothing, raises nothing
    d.close()


def test_bad_input_raises_clearly_and_leaves_nothing_running():
    shown = fast_dashboard(2, name="bad")
    before = len(running_samplers())
    with pytest.raises(ValueError, match="1 min"):
        Dashboard(simulate=2, window="2 min", name="bad")
    with pytest.raises(ValueError, match="refresh rate"):
        Dashboard(simulate=2, refresh_hz=100, name="bad")
    with pytest.raises(TypeError, match="backend"):
        Dashboard("nvidia", name="bad")
    with pytest.raises(ValueError, match="not both"):
        Dashboard(SimulatedBackend(2), simulate=2, name="bad")
    assert len(running_samplers()) == before
    assert shown.state == "running"  # a failed re-run leaves the dashboard on screen alone
    shown.close()
    wait_for(lambda: not dashboard_threads())


def test_drawing_errors_are_shown_not_printed(monkeypatch, capfd):
    def broken(*a, **k):
        raise RuntimeError("renderer broke")

    d = fast_dashboard(2, name="broken", autostart=False)
    monkeypatch.setattr(dashboard_module, "table_html", broken)
    d.start()
    wait_for(lambda: d.refresher.errors and "renderer broke" in d.status.value)
    d.close()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_nothing_is_printed_from_the_threads(capfd):
    d = fast_dashboard(4, name="quiet")
    s = StatusLine(d, refresh_hz=10, name="quiet-status")
    wait_for(lambda: d.model.samples > 20 and "GPU3" in s.line.value)
    d.close()
    assert s._closed  # the status line reading this dashboard closes with it
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_status_line_with_its_own_sampler_and_rerun():
    s1 = StatusLine(SimulatedBackend(2, step_s=0.5), interval=0.05, refresh_hz=10, name="line")
    wait_for(lambda: "GPU1" in s1.line.value and "<svg" in s1.line.value)
    s2 = StatusLine(SimulatedBackend(2, step_s=0.5), interval=0.05, refresh_hz=10, name="line")
    assert s1._closed and not s1.source.sampler.running
    s2.close()
    assert not s2.source.sampler.running


def test_status_line_without_gpu_says_why():
    s = StatusLine(open_backend(mode="cpu"), name="line-nogpu")
    assert "no GPU" in s.line.value and "COURSE_GPU_MODE" in s.line.value
    s.close()
