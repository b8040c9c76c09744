"""freeze(): the last cell of a notebook stops the widgets' threads but leaves them on the page,
showing their last state (after "Run All" a learner must still see the dashboard)."""

from __future__ import annotations

import threading
import time

import comm
import pytest
from support.waiting import wait_for

from course_utils.telemetry import SimulatedBackend, open_backend, running_samplers
from course_utils.widgets import Dashboard, StatusLine, close_all, freeze_all


class QuietComm(comm.base_comm.BaseComm):
    closed_ids: list = []  # noqa: RUF012 (a test-only record)

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
        if msg_type == "comm_close":
            QuietComm.closed_ids.append(self.comm_id)


@pytest.fixture(autouse=True)
def quiet_comm(monkeypatch):
    QuietComm.closed_ids = []
    monkeypatch.setattr(comm, "create_comm", lambda *a, **k: QuietComm(*a, **k))
    yield
    close_all()


def widget_threads():
    return [
        t
        for t in threading.enumerate()
        if t.name.startswith(("gpu-dashboard", "gpu-sampler-dashboard", "gpu-status", "gpu-sampler-status"))
    ]


def test_freeze_stops_threads_keeps_the_last_view_and_releases_the_backend():
    backend = SimulatedBackend(2, seed=0, step_s=0.5)
    released = []
    backend.close = lambda: released.append(True)
    d = Dashboard(backend, interval=0.05, refresh_hz=10, name="freeze-me")
    line = StatusLine(d, refresh_hz=10, name="freeze-me-status")
    wait_for(lambda: d.model.samples > 5 and "GPU 1" in d.charts.value and "GPU1" in line.line.value)
    samples = d.model.samples
    assert freeze_all() == 2
    assert d.state == "frozen" and "frozen" in d.status.value
    assert released == [True]
    assert not d.source.sampler.running and not d.refresher.running and not line.refresher.running
    # still on the page: the widgets are open, and show the last readings
    assert d.comm is not None and line.comm is not None and not QuietComm.closed_ids
    assert d.table.value.count("<tr>") == 3 and "GPU 1" in d.charts.value
    assert "GPU1" in line.line.value and "frozen" in line.line.value
    assert all(b.disabled for b in (d.start_button, d.pause_button, d.stop_button))
    time.sleep(0.2)
    assert d.model.samples == samples or d.model.samples == samples + 1  # a tick in flight at most
    frozen_table = d.table.value
    d.start()  # a frozen dashboard does not come back to life
    time.sleep(0.2)
    assert d.table.value == frozen_table and d.state == "frozen"
    assert not [s for s in running_samplers() if s.name == "dashboard:freeze-me"]


def test_freeze_twice_then_close_and_rerun_are_fine():
    d = Dashboard(SimulatedBackend(1, step_s=0.5), interval=0.05, refresh_hz=10, name="twice")
    wait_for(lambda: d.model.samples > 2)
    d.freeze()
    d.freeze()
    assert freeze_all() == 0  # nothing live left to freeze
    again = Dashboard(SimulatedBackend(1, step_s=0.5), interval=0.05, refresh_hz=10, name="twice")
    assert d.state == "frozen"  # re-running the cell does not remove the frozen one's output
    again.close()
    d.close()
    assert d.state == "closed"
    wait_for(lambda: not widget_threads())


def test_a_status_line_with_its_own_sampler_freezes_alone():
    s = StatusLine(SimulatedBackend(2, step_s=0.5), interval=0.05, refresh_hz=10, name="own-line")
    wait_for(lambda: "GPU1" in s.line.value)
    s.freeze()
    assert not s.source.sampler.running and s.comm is not None and "frozen" in s.line.value


def test_no_gpu_widgets_freeze_without_error():
    d = Dashboard(open_backend(mode="cpu"), name="nogpu-freeze")
    s = StatusLine(open_backend(mode="cpu"), name="nogpu-line")
    assert freeze_all() == 2
    assert "No GPU to show" in d.banner.value and "no GPU" in s.line.value
