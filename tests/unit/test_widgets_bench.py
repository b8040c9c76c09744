"""The dashboard benchmark's instruments: the IOPub byte counter, the table, one short real run."""

from __future__ import annotations

import json

import pytest

from course_utils.bench import dashboard as bench


class FakeIopubThread:
    def __init__(self):
        self.sent = []

    def _really_send(self, parts, *args, **kwargs):
        self.sent.append(parts)


def frames(msg_type: str, content: bytes, buffers=()):
    header = json.dumps({"msg_type": msg_type, "msg_id": "x"}).encode()
    return [b"comm-topic", b"<IDS|MSG>", b"0" * 64, header, b"{}", b"{}", content, *buffers]


def test_counter_counts_every_frame_by_message_type_and_passes_messages_on():
    thread = FakeIopubThread()
    counter = bench._IopubCounter(thread)
    first = frames("comm_msg", b'{"data": 1}')
    second = frames("comm_msg", b"{}", [memoryview(b"\0" * 800)])
    third = frames("status", b'{"execution_state": "idle"}')
    for parts in (first, second, third):
        thread._really_send(parts)
    size = lambda parts: sum(memoryview(p).nbytes for p in parts)  # noqa: E731
    bytes_, msgs = counter.totals()
    assert bytes_ == {"comm_msg": size(first) + size(second), "status": size(third)}
    assert msgs == {"comm_msg": 2, "status": 1}
    assert thread.sent == [first, second, third]  # nothing lost or changed on the way
    counter.remove()
    thread._really_send(first)
    assert counter.totals()[1]["comm_msg"] == 2  # no longer counting


def test_table_flags_targets():
    row = {
        "candidate": "dashboard",
        "gpus": 8,
        "refresh_hz": 4.0,
        "sampler_interval_s": 0.25,
        "cpu_pct_of_one_core": {"sampler": 0.3, "refresh": 1.0, "iopub": 0.2},
        "dashboard_cpu_pct": 1.3,
        "bytes_per_s": 60_000.0,
        "messages_per_s": {"comm_msg": 6.0},
        "meets_cpu_target": True,
        "meets_bytes_target": False,
    }
    result = {
        "date": "2026-11-28",
        "cpu_count": 2,
        "ipykernel": "6.31.0",
        "ipywidgets": "8.1.9",
        "dashboard": [row],
        "candidates": [{"candidate": "charts: bqplot", "not_measured": "bqplot missing"}],
    }
    text = bench.format_result(result)
    assert "BYTES OVER" in text and "60.0" in text and "not measured: bqplot missing" in text


@pytest.mark.slow
def test_a_short_run_in_a_real_kernel():
    r = bench.measure("dashboard", gpus=2, refresh_hz=4.0, interval=0.25, seconds=1.5, warmup=1.0)
    assert r["messages_per_s"]["comm_msg"] > 1  # the refresh thread's updates reach IOPub
    assert r["comm_bytes_per_s"] > 1000
    assert set(r["cpu_pct_of_one_core"]) == {"sampler", "refresh", "iopub"}
    assert r["cpu_pct_of_one_core"]["refresh"] > 0
