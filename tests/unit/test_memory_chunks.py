"""forward_in_chunks with OOM injected on the CPU: nothing dropped, nothing repeated, order kept."""

from __future__ import annotations

import sys
import weakref

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils.memory import ChunkOOMError, forward_in_chunks

FAST = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def oom(limit: int):
    """A wrapper around fn that raises like CUDA would when a chunk has more than ``limit`` samples."""

    def wrap(fn):
        calls: list[int] = []

        def run(chunk):
            size = chunk.shape[0] if isinstance(chunk, torch.Tensor) else len(next(iter(_leaves(chunk))))
            calls.append(size)
            if size > limit:
                raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {size} samples")
            return fn(chunk)

        run.calls = calls
        return run

    return wrap


def _leaves(node):
    if isinstance(node, torch.Tensor):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _leaves(v)
    else:
        for v in node:
            yield from _leaves(v)


@FAST
@given(n=st.integers(1, 70), limit=st.integers(1, 80), max_chunk=st.none() | st.integers(1, 90))
def test_every_sample_once_in_order(n, limit, max_chunk):
    ids = torch.arange(n)
    seen: list[int] = []

    def fn(chunk):
        seen.extend(chunk.tolist())
        return chunk * 10

    wrapped = oom(limit)(fn)
    out, used = forward_in_chunks(wrapped, ids, max_chunk=max_chunk)
    assert torch.equal(out, ids * 10)
    # fn ran only for chunks that fit: together, in call order, they are each sample exactly once
    assert seen == list(range(n))
    expected = n if max_chunk is None else min(n, max_chunk)
    while expected > limit:
        expected //= 2
    assert used == expected
    assert sum(size <= limit for size in wrapped.calls) == -(-n // used)


@FAST
@given(n=st.integers(1, 48), limit=st.integers(1, 48), seed=st.integers(0, 2**16))
def test_model_output_matches_the_full_batch(n, limit, seed):
    gen = torch.Generator().manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    x = torch.randn(n, 6, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        reference = model(x)
        out, used = forward_in_chunks(oom(limit)(model), x)
    assert out.shape == reference.shape
    torch.testing.assert_close(out, reference, rtol=1e-12, atol=1e-12)
    assert used <= max(limit, 1) or used == n


@FAST
@given(n=st.integers(1, 40), limits=st.lists(st.integers(1, 40), min_size=1, max_size=12))
def test_memory_pressure_that_changes_between_chunks(n, limits):
    # the limit moves from call to call (another process allocating and freeing)
    calls = iter(limits + [10**9] * 200)

    def fn(chunk):
        if chunk.shape[0] > next(calls):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return chunk.clone()

    ids = torch.arange(n)
    out, used = forward_in_chunks(fn, ids)
    assert torch.equal(out, ids)
    assert 1 <= used <= n


def test_tuple_and_dict_batches_and_outputs():
    x = torch.arange(10.0).reshape(10, 1)
    y = torch.arange(10) * 2
    fn = oom(3)(lambda b: {"a": b[0] + 1, "b": (b[1], b[1] * 3)})
    out, used = forward_in_chunks(fn, (x, y))
    assert used == 2  # 10 -> 5 -> 2
    assert torch.equal(out["a"], x + 1) and torch.equal(out["b"][0], y) and torch.equal(out["b"][1], y * 3)

    batch = {"img": torch.randn(7, 2, 2), "ids": torch.arange(7)}
    out, used = forward_in_chunks(oom(4)(lambda b: b["ids"] + b["img"].sum((1, 2)) * 0), batch)
    assert used == 3 and torch.equal(out, torch.arange(7).double().to(out.dtype))


def test_max_chunk_is_the_first_try_and_no_oom_means_no_halving():
    fn = oom(100)(lambda c: c)
    out, used = forward_in_chunks(fn, torch.arange(20), max_chunk=6)
    assert used == 6 and fn.calls == [6, 6, 6, 2]
    assert torch.equal(out, torch.arange(20))


def test_the_halving_sequence():
    fn = oom(5)(lambda c: c)
    _, used = forward_in_chunks(fn, torch.arange(23))
    assert used == 5 and fn.calls[:3] == [23, 11, 5]


def test_single_sample_that_does_not_fit_says_so():
    fn = oom(0)(lambda c: c)
    with pytest.raises(ChunkOOMError, match=r"single sample \(index 0 of 9\)") as info:
        forward_in_chunks(fn, torch.arange(9))
    assert isinstance(info.value, torch.cuda.OutOfMemoryError)  # callers catching OOM still catch it
    assert fn.calls == [9, 4, 2, 1]


def test_only_one_large_sample_fails_after_progress():
    # sample 5 is huge: chunks before it succeed, then it alone fails
    def fn(chunk):
        if (chunk == 5).any():
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return chunk

    with pytest.raises(ChunkOOMError, match=r"index 5 of 8"):
        forward_in_chunks(fn, torch.arange(8), max_chunk=2)


def test_retry_runs_outside_the_except_block_with_the_failed_tensors_freed():
    refs: list[weakref.ref] = []
    checks: list[tuple] = []

    def fn(chunk):
        checks.append((sys.exc_info()[0], [r() is None for r in refs]))
        activations = torch.empty(chunk.shape[0], 1000)  # what a failed forward pass leaves behind
        refs.append(weakref.ref(activations))
        if chunk.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return chunk

    forward_in_chunks(fn, torch.arange(8))
    assert len(checks) == 2 + 4  # 8 and 4 fail, then four chunks of 2
    # at every call after the first: no exception is being handled, and every earlier try's tensors are gone
    for handling, freed in checks[1:]:
        assert handling is None
        assert all(freed)


def test_other_errors_are_not_swallowed():
    def fn(chunk):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        forward_in_chunks(fn, torch.arange(4))


@pytest.mark.parametrize(
    "batch, match",
    [
        (torch.tensor(3.0), "0-d"),
        ((torch.zeros(3), torch.zeros(4)), "disagree"),
        ([1, 2, 3], "int"),
        ({}, "empty"),
    ],
)
def test_bad_batches_are_explained(batch, match):
    with pytest.raises((TypeError, ValueError), match=match):
        forward_in_chunks(lambda c: c, batch)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_max_chunk(bad):
    with pytest.raises((TypeError, ValueError), match="max_chunk"):
        forward_in_chunks(lambda c: c, torch.arange(3), max_chunk=bad)


def test_a_reduced_output_cannot_be_chunked():
    with pytest.raises((TypeError, ValueError), match="reduction"):
        forward_in_chunks(oom(2)(lambda c: c.float().mean()), torch.arange(6))
    with pytest.raises(ValueError, match="one output row per input sample"):
        forward_in_chunks(lambda c: c[:1], torch.arange(6))


@pytest.mark.parametrize("max_chunk", [None, 4])
def test_an_empty_batch_gives_the_empty_result_of_fn(max_chunk):
    model = torch.nn.Linear(3, 5)
    with torch.no_grad():
        out, used = forward_in_chunks(model, torch.zeros(0, 3), max_chunk=max_chunk)
    assert out.shape == (0, 5) and used == max_chunk
    pair, _ = forward_in_chunks(lambda c: (c[0] * 2, c[1]), (torch.zeros(0, 2), torch.zeros(0)))
    assert [t.shape for t in pair] == [(0, 2), (0,)]
    with pytest.raises(ValueError, match="one output row per input sample"):
        forward_in_chunks(lambda c: torch.zeros(1, 5), torch.zeros(0, 3))  # fn must keep it empty
