"""The persistent-thread parallel_apply keeps threads, results, errors and autocast."""

import threading

import pytest
import torch
from torch import nn

from course_utils.distributed.dp_threads import persistent_parallel_apply


class WhoRuns(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 3)
        self.threads = []

    def forward(self, x):
        self.threads.append(threading.get_ident())
        return self.lin(x)


def test_results_match_and_each_replica_keeps_its_thread():
    torch.manual_seed(0)
    replicas = [WhoRuns(), WhoRuns()]
    inputs = [(torch.randn(5, 4),), (torch.randn(2, 4),)]
    for _ in range(3):
        outs = persistent_parallel_apply(replicas, inputs)
    for rep, inp, out in zip(replicas, inputs, outs, strict=True):
        assert torch.equal(out, rep(*inp))
    first, second = replicas[0].threads[:3], replicas[1].threads[:3]
    assert len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0]
    assert threading.get_ident() not in first + second


def test_torchs_own_worker_pattern_makes_a_new_thread_per_call():
    """What nn.DataParallel does (a fresh threading.Thread per replica per call): thread-local
    state set in one call is gone in the next. This is the mechanism the probe measures on GPUs."""
    local = threading.local()
    misses = []

    def forward_like():
        if not hasattr(local, "cache"):
            misses.append(1)
            local.cache = "autotuned plans"

    for _ in range(4):
        t = threading.Thread(target=forward_like)
        t.start()
        t.join()
    assert len(misses) == 4
    misses.clear()
    replica = nn.Module()
    replica.forward = lambda x: forward_like() or x
    for _ in range(4):
        persistent_parallel_apply([replica], [(torch.zeros(1),)])
    assert len(misses) == 1


def test_grad_mode_and_autocast_dtype_are_carried_into_the_threads():
    lin = nn.Linear(4, 4)
    x = torch.randn(2, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        (out,) = persistent_parallel_apply([lin], [(x,)])
    assert out.dtype == torch.bfloat16
    with torch.no_grad():
        (out,) = persistent_parallel_apply([lin], [(x,)])
    assert not out.requires_grad and out.dtype == torch.float32


def test_a_failing_replica_is_reported_with_its_index():
    class Boom(nn.Module):
        def forward(self, x):
            raise ValueError("bad shape")

    with pytest.raises(RuntimeError, match=r"in replica 1 on device None: ValueError: bad shape"):
        persistent_parallel_apply([nn.Identity(), Boom()], [(torch.zeros(1),), (torch.zeros(1),)])
    with pytest.raises(ValueError, match="2 modules but 1 inputs"):
        persistent_parallel_apply([nn.Identity(), nn.Identity()], [(torch.zeros(1),)])
