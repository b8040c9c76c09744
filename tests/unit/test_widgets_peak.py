"""show_peak_memory: shows 'running', then the result, also when the block raises."""

from __future__ import annotations

import pytest

from course_utils.memory import PeakResult
from course_utils.units import GIB
from course_utils.widgets import peak_html, show_peak_memory


def test_cpu_block_shows_running_then_the_time_and_why_memory_is_absent():
    shown = []
    with show_peak_memory("matmul", display=shown.append) as result:
        assert len(shown) == 1 and "running" in shown[0]
        sum(range(1000))
    assert len(shown) == 2
    assert result.finished and not result.on_gpu
    assert "matmul" in shown[1] and "not measured" in shown[1]
    assert f"{result.seconds:.3f} s" in shown[1]


def test_a_block_that_raises_is_still_shown_and_the_error_propagates():
    shown = []
    with pytest.raises(ValueError, match="boom"), show_peak_memory("bad", display=shown.append):
        raise ValueError("boom")
    assert len(shown) == 2 and "raised ValueError" in shown[1]


def test_gpu_result_shows_peak_bar_and_start_end():
    r = PeakResult(
        label="<fwd>",
        device="cuda:0",
        peak_bytes=30 * GIB,
        start_bytes=10 * GIB,
        end_bytes=12 * GIB,
        seconds=0.5,
        on_gpu=True,
        finished=True,
    )
    out = peak_html(r, total_bytes=140 * GIB)
    assert "30.00 GiB" in out and "+20.00 GiB" in out and "21.4%" in out
    assert "&lt;fwd&gt;" in out and "<fwd>" not in out
    assert "<div class=cud-bar>" in out
    assert "<div class=cud-bar>" not in peak_html(r)  # without the GPU's total there is no bar, the numbers remain


def test_bad_device_is_refused_before_anything_is_shown():
    shown = []
    with pytest.raises(ValueError, match="device"), show_peak_memory(device="tpu", display=shown.append):
        pass
    assert shown == []
