"""The same memory helpers on a real GPU: real OOMs against a per-process fraction (small: a few GiB)."""

from __future__ import annotations

import pytest
import torch

from course_utils.memory import (
    ChunkOOMError,
    accumulating_train_step,
    forward_in_chunks,
    memory_report,
    peak_memory,
    record_memory_history,
    set_memory_fraction,
)
from course_utils.units import GIB, MIB

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with CUDA"),
]


@pytest.fixture
def capped():
    """Cap this process at ~2 GiB of the GPU; undo afterwards so other tests get the whole GPU."""
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    result = set_memory_fraction(2 * GIB / total)
    yield result
    torch.cuda.set_per_process_memory_fraction(1.0, 0)
    torch.cuda.empty_cache()


def wide(x):
    # 64 MiB of float32 intermediate per sample: 32 samples need 2 GiB at once and do not fit under the cap
    h = x[:, :1].expand(-1, 16 * MIB).contiguous() * 2.0
    return h.sum(dim=1, keepdim=True) + x


def test_peak_memory_sees_a_known_allocation():
    torch.cuda.synchronize()
    with peak_memory(label="256 MiB") as r:
        t = torch.empty(256 * MIB, dtype=torch.uint8, device="cuda")
        del t
    assert r.on_gpu and r.added_peak_bytes >= 256 * MIB
    assert r.end_bytes == r.start_bytes


def test_fraction_is_enforced(capped):
    assert capped.applied and abs(capped.cap_bytes - 2 * GIB) < 2 * MIB
    # The fraction caps everything this process's allocator has reserved, including blocks still
    # held by tensors of earlier tests in this process (seen on an H200: 98 MiB live, 162 MiB cached).
    torch.cuda.empty_cache()
    room = capped.cap_bytes - torch.cuda.memory_reserved()
    ok = torch.empty(room - 64 * MIB, dtype=torch.uint8, device="cuda")
    del ok
    torch.cuda.empty_cache()
    with pytest.raises(torch.cuda.OutOfMemoryError):
        torch.empty(capped.cap_bytes + 128 * MIB, dtype=torch.uint8, device="cuda")


def test_forward_in_chunks_recovers_from_a_real_oom(capped):
    x = torch.randn(32, 4, device="cuda")
    with torch.no_grad():
        reference = torch.cat([wide(x[i : i + 1]) for i in range(32)])
        torch.cuda.reset_peak_memory_stats()
        with pytest.raises(torch.cuda.OutOfMemoryError):
            wide(x)
        out, used = forward_in_chunks(wide, x)
    assert used < 32
    # a row's sum may be reduced in a different order for a different batch shape: equal up to rounding
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    assert memory_report().num_ooms >= 2


def test_one_sample_too_big_raises_the_clear_error(capped):
    def huge(x):
        return x[:, :1].expand(-1, 3 * GIB // 4).contiguous()

    with pytest.raises(ChunkOOMError, match="single sample"):
        forward_in_chunks(huge, torch.randn(4, 1, device="cuda"))


def test_accumulation_recovers_and_matches_the_full_batch(capped):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1).cuda()
    x = torch.randn(32, 4, device="cuda")

    def loss_fn(b):
        return wide(model(b).expand(-1, 4).contiguous()).pow(2).mean()

    ref_model = torch.nn.Linear(4, 1).cuda()
    ref_model.load_state_dict(model.state_dict())
    grads = [torch.zeros_like(p) for p in ref_model.parameters()]
    for i in range(32):  # reference gradient, one sample at a time (fits), weighted as a mean
        ref_model.zero_grad()
        (wide(ref_model(x[i : i + 1]).expand(-1, 4).contiguous()).pow(2).mean() / 32).backward()
        for g, p in zip(grads, ref_model.parameters(), strict=True):
            g += p.grad
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    result = accumulating_train_step(loss_fn, x, opt)
    assert result.ooms >= 1 and result.micro_batch < 32
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-5)


def test_snapshot_records_allocations(tmp_path):
    path = tmp_path / "snap.pickle"
    with record_memory_history(path) as snap:
        t = torch.empty(32 * MIB, dtype=torch.uint8, device="cuda")
        del t
    assert snap.on_gpu and path.stat().st_size > 0
    assert snap.summary["events"].get("alloc", 0) >= 1
    assert snap.summary["largest_alloc_bytes"] >= 32 * MIB


def test_report_on_gpu_has_figures():
    keep = torch.empty(8 * MIB, dtype=torch.uint8, device="cuda")
    report = memory_report()
    assert report.on_gpu and report.allocated >= 8 * MIB and report.reserved >= report.allocated
    assert "Allocated memory" in report.summary or "allocated" in report.summary.lower()
    del keep


_FRESH = r"""
import json, sys
import torch
from course_utils.memory import AllocatorConfigTooLate, set_allocator_config
out = {"set": set_allocator_config(expandable_segments=True)}
t = torch.empty(64 * 1024**2, dtype=torch.uint8, device="cuda")
out["expandable"] = any(s.get("is_expandable") for s in torch.cuda.memory_snapshot())
try:
    set_allocator_config(expandable_segments=False)
    out["late"] = None
except AllocatorConfigTooLate as exc:
    out["late"] = str(exc)
print("JSON" + json.dumps(out))
"""


def test_allocator_options_apply_before_cuda_and_are_refused_after():
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("PYTORCH_ALLOC_CONF", "PYTORCH_CUDA_ALLOC_CONF")}
    proc = subprocess.run([sys.executable, "-c", _FRESH], capture_output=True, text=True, timeout=180, env=env)
    line = [x for x in proc.stdout.splitlines() if x.startswith("JSON")]
    assert line, proc.stderr[-3000:]
    out = json.loads(line[0][4:])
    assert out["set"] == "expandable_segments:True"
    assert out["expandable"] is True  # the segments really are expandable
    assert out["late"] and "CUDA is already initialised" in out["late"]
