"""accumulating_train_step: same gradients and update as the full batch, OOM injected on the CPU."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from course_utils.memory import ChunkOOMError, accumulating_train_step

FAST = settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


class OomInBackward(torch.autograd.Function):
    """Identity whose backward raises OOM for chunks larger than ``limit``: a failure after a partial step."""

    @staticmethod
    def forward(ctx, x, limit):
        ctx.fail = x.shape[0] > limit
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        if ctx.fail:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (in backward).")
        return grad, None


def make(seed: int):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3)).double()


def full_batch_grads(model, x, y, reduction):
    model.zero_grad(set_to_none=True)
    loss = F.cross_entropy(model(x), y, reduction=reduction)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in model.parameters()]


@FAST
@given(
    n=st.integers(1, 40),
    limit=st.integers(1, 48),
    where=st.sampled_from(["forward", "backward"]),
    reduction=st.sampled_from(["mean", "sum"]),
    micro=st.none() | st.integers(1, 50),
    seed=st.integers(0, 999),
)
def test_gradients_equal_the_full_batch(n, limit, where, reduction, micro, seed):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=gen)
    model = make(seed)
    ref_loss, ref_grads = full_batch_grads(model, x, y, reduction)

    def loss_fn(batch):
        xb, yb = batch
        if where == "forward" and xb.shape[0] > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        h = model[0](xb)
        if where == "backward":
            h = OomInBackward.apply(h, limit)
        return F.cross_entropy(model[2](model[1](h)), yb, reduction=reduction)

    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the step leaves the weights, we read .grad
    result = accumulating_train_step(loss_fn, (x, y), opt, micro_batch=micro, reduction=reduction)
    for got, want in zip((p.grad for p in model.parameters()), ref_grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    assert result.loss == pytest.approx(ref_loss, rel=1e-9, abs=1e-12)
    first = n if micro is None else min(micro, n)
    expected, halvings = first, 0
    while expected > limit:
        expected, halvings = expected // 2, halvings + 1
    assert result.micro_batch == expected
    assert result.micro_steps == -(-n // expected)
    assert result.samples == n
    assert result.ooms == halvings


def test_the_update_equals_a_full_batch_update():
    x = torch.randn(24, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (24,))
    full, accumulated = make(1), make(1)
    opt_full = torch.optim.SGD(full.parameters(), lr=0.1, momentum=0.9)
    opt_acc = torch.optim.SGD(accumulated.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        opt_full.zero_grad()
        F.cross_entropy(full(x), y).backward()
        opt_full.step()

        def loss_fn(b, model=accumulated):
            if b[0].shape[0] > 5:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
            return F.cross_entropy(model(b[0]), b[1])

        result = accumulating_train_step(loss_fn, (x, y), opt_acc)
    assert result.micro_batch == 3 and result.micro_steps == 8
    for a, b in zip(full.parameters(), accumulated.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_halving_the_batch_like_the_tutorial_gives_a_different_update():
    # the counter-example the notebook shows: training on the first half is not the same step
    x = torch.randn(16, 5, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    model = make(2)
    _, full = full_batch_grads(model, x, y, "mean")
    _, half = full_batch_grads(model, x[:8], y[:8], "mean")
    assert not all(torch.allclose(a, b) for a, b in zip(full, half, strict=True))


def test_one_sample_that_does_not_fit_leaves_no_partial_gradients():
    model = make(3)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    before = [p.detach().clone() for p in model.parameters()]

    def loss_fn(b):
        loss = F.cross_entropy(model(b[0]), b[1])
        if (b[1] == 2).any():
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return loss

    y = torch.tensor([0, 1, 0, 2, 1])
    with pytest.raises(ChunkOOMError, match="one sample"):
        accumulating_train_step(loss_fn, (torch.randn(5, 5, dtype=torch.float64), y), opt)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"reduction": "none"}, "reduction"),
        ({"micro_batch": 0}, "micro_batch"),
        ({"micro_batch": 2.0}, "micro_batch"),
    ],
)
def test_bad_arguments(kwargs, match):
    model = make(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=match):
        accumulating_train_step(lambda b: model(b).sum(), torch.randn(4, 5, dtype=torch.float64), opt, **kwargs)


def test_loss_must_be_a_scalar_that_trains():
    model = make(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 5, dtype=torch.float64)
    with pytest.raises(TypeError, match="scalar loss"):
        accumulating_train_step(lambda b: model(b), x, opt)
    with pytest.raises(ValueError, match="does not require grad"), torch.no_grad():
        accumulating_train_step(lambda b: model(b).sum(), x, opt)
