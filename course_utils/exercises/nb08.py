"""Notebook 08 (DDP): checks for the learner's own DDP script and for SyncBatchNorm. Never gives the answer.

The learner's script (run by ``torchrun --nproc-per-node 2 my_ddp.py RUN_DIR``) writes one
``rank<R>.json`` per rank (what that rank saw and computed) and, after its process group is torn
down, ``rank<R>.done``. :func:`check_ddp_run` reads those files and the script's source.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import torch

from course_utils.selfcheck import Feedback, first_failure

DATASET_SIZE = 64


def _read(run_dir: Path, rank: int) -> dict | None:
    try:
        return json.loads((run_dir / f"rank{rank}.json").read_text())
    except (OSError, ValueError):
        return None


def _imports_distributed_nn(tree: ast.Module) -> bool:
    """``import torch.distributed.nn`` (or ``from torch.distributed import nn``) at module level."""
    for node in tree.body:
        if isinstance(node, ast.Import) and any(a.name == "torch.distributed.nn" for a in node.names):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "torch.distributed"
            and any(a.name == "nn" for a in node.names)
        ):
            return True
    return False


def _called(node) -> list[str]:
    names = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            names.append(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
    return names


MODEL_BUILDERS = {"wrap", "DDP", "DistributedDataParallel"}


def teardown_problem(source: str) -> str | None:
    """Why the script's ending can crash at exit (None when it is the clean ending).

    The clean ending (docs/multi-gpu.md, "Ending a DDP job"): ``torch.distributed.nn`` imported
    before the group exists (imported later, as DDP does, it keeps the group alive); the DDP
    model built and dropped inside a function that has returned; then every rank calls
    ``dist.destroy_process_group()``, which frees the group and joins gloo's threads before
    Python shuts down. No ``dist.barrier()`` in a ``finally:``: after an error a peer may be gone,
    and the barrier would wait for it until the timeout.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"the script has a syntax error (line {exc.lineno})"
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    enders = [f for f in functions if "destroy_process_group" in _called(f)]
    if not enders:
        return "no function calls dist.destroy_process_group()"
    for handler in (n for n in ast.walk(tree) if isinstance(n, ast.Try)):
        if any("barrier" in _called(stmt) for stmt in handler.finalbody):
            return (
                "a `finally:` block calls dist.barrier(): after an error a peer may be gone, "
                "and the barrier waits for it until the timeout"
            )
    for f in enders:
        if MODEL_BUILDERS & set(_called(f)):
            return (
                f"`{f.name}()` builds the DDP model and also destroys the process group: the model "
                "still holds the group, so destroying it cannot free it"
            )
    if not _imports_distributed_nn(tree):
        return (
            "the script does not import torch.distributed.nn before init_process_group, so the group "
            "stays alive after destroy_process_group()"
        )
    return None


def check_ddp_run(
    run_dir, returncode: int | None, script, *, expected_backend: str = "gloo", nproc: int = 2
) -> Feedback:
    """Exercise 1: did the learner's DDP script run on every rank, split the data, agree on gradients,
    all-reduce correctly, and end cleanly?"""
    title = "Exercise 1: your DDP script"
    run_dir, script = Path(run_dir), Path(script)
    ranks = [_read(run_dir, r) for r in range(nproc)]
    ok_ranks = all(r is not None for r in ranks)
    source = script.read_text() if script.exists() else ""

    def field(name):
        return [r.get(name) for r in ranks if r is not None] if ok_ranks else []

    indices = field("indices")
    split_ok = (
        ok_ranks
        and all(isinstance(i, list) for i in indices)
        and not set(indices[0]) & set(indices[1])
        and sorted(indices[0] + indices[1]) == list(range(DATASET_SIZE))
    )
    grads = field("grads")
    grads_ok = (
        ok_ranks
        and all(isinstance(g, list) and g for g in grads)
        and all(torch.allclose(torch.tensor(grads[0]), torch.tensor(g), rtol=1e-5, atol=1e-7) for g in grads[1:])
    )
    expected_sum = float(sum(r + 1 for r in range(nproc)))
    steps = [
        (script.exists(), f"{script} does not exist.", "Run the cell that writes the script first."),
        (
            ok_ranks,
            f"Not every rank wrote its result (found {sum(r is not None for r in ranks)} of {nproc}); "
            f"torchrun exited with {returncode}.",
            "Read the last lines of torchrun's output above: the first error there is the one to fix.",
        ),
        (
            not ok_ranks or all(b == expected_backend for b in field("backend")),
            f"The process group's backend is {field('backend')[:1]}, not the one for this machine.",
            "TODO 1: which backend runs collectives on CPU tensors, and which one on CUDA tensors?",
        ),
        (
            not ok_ranks or field("world_size") == [nproc] * nproc,
            "The ranks do not agree on the world size.",
            "Read WORLD_SIZE from the environment that torchrun sets.",
        ),
        (
            not ok_ranks or split_ok,
            "The ranks did not split the data set: some samples were trained on by more than one rank, or none.",
            "TODO 2: a DistributedSampler with this rank and the world size, passed to the DataLoader.",
        ),
        (
            not ok_ranks or all(v == expected_sum for v in field("allreduce")),
            f"The all-reduce check gave {field('allreduce')}.",
            "TODO 4: dist.all_reduce works in place on the tensor; return the tensor's value after it.",
        ),
        (
            not ok_ranks or grads_ok,
            "The ranks ended their first step with different gradients.",
            "TODO 3: only a DDP-wrapped model averages gradients across ranks during backward().",
        ),
        (
            teardown_problem(source) is None,
            f"The ending: {teardown_problem(source)}.",
            "TODO 5: re-read 'Why the ending matters' in section 1: what still holds the group when you end it?",
        ),
        (
            returncode == 0,
            f"torchrun exited with {returncode}, although every rank wrote its result.",
            "A rank crashed at exit: check the ending (TODO 5) and torchrun's last lines.",
        ),
        (
            all((run_dir / f"rank{r}.done").exists() for r in range(nproc)),
            "Not every rank reached the end of main() after the teardown.",
            "Do not exit early from a rank.",
        ),
    ]
    return first_failure(
        title,
        steps,
        success=f"Right: {nproc} ranks on {expected_backend}, each trained on its "
        "own half of the data, all-reduce summed across ranks, the gradients agreed to float "
        "precision, and every rank ended its process group after training, so its threads were "
        "joined.",
    )


def _bn_count(model, kind) -> int:
    return sum(type(m) is kind for m in model.modules())


def check_sync_batchnorm(prepare) -> Feedback:
    """Exercise 2: the learner's ``prepare_for_ddp(model)`` swaps every BatchNorm for SyncBatchNorm."""
    title = "Exercise 2: SyncBatchNorm"
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 8, 3),
        torch.nn.BatchNorm2d(8),
    )
    with torch.no_grad():
        model[1].running_mean.fill_(0.5)  # type: ignore[operator]  # torch types Module attributes as Tensor | Module
    before = {k: v.clone() for k, v in model.state_dict().items()}
    if not callable(prepare):
        return Feedback(False, title, "`prepare_for_ddp` is not a function.", "Keep the `def` line.")
    try:
        out = prepare(model)
    except Exception as exc:
        return Feedback(
            False,
            title,
            f"Your function raised {type(exc).__name__}: {exc}.",
            "It receives a model and returns the model to wrap in DDP.",
        )
    if not isinstance(out, torch.nn.Module):
        return Feedback(False, title, "Your function does not return a model.", "Return the converted model.")
    after = out.state_dict()
    return first_failure(
        title,
        [
            (
                _bn_count(out, torch.nn.BatchNorm2d) == 0,
                f"{_bn_count(out, torch.nn.BatchNorm2d)} plain BatchNorm2d layer(s) are left.",
                "PyTorch has a class method on torch.nn.SyncBatchNorm that converts a whole model.",
            ),
            (
                _bn_count(out, torch.nn.SyncBatchNorm) == 2,
                "The model should have exactly 2 SyncBatchNorm layers.",
                "Convert the layers that were there, nothing more.",
            ),
            (
                set(after) == set(before) and all(torch.equal(before[k], after[k]) for k in before),
                "The converted model lost its weights or running statistics.",
                "Convert, do not re-create the model.",
            ),
        ],
        success="Right: with SyncBatchNorm every forward pass in training computes the batch statistics over "
        "all ranks' samples (one all-reduce per BN layer), so DDP matches one big batch again.",
    )


# ---- "How fast can one GPU go?": reading the recorded figures -------------------------------------------
def speed_run(path) -> tuple[list[dict], dict]:
    """The rows of the last ``bench speed`` run in ``path`` (docs/results/multi_gpu.json) and its
    summary; ``([], {})`` when nothing was recorded. Only rows of one run are compared: figures from
    different days or machines do not divide."""
    path = Path(path)
    if not path.exists():
        return [], {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict):  # an old file: a bare list of rows, no run summary
        return [], {}
    summary, rows = data.get("bench_speed") or {}, data.get("runs", [])
    if not summary.get("run"):
        return [], {}
    return [r for r in rows if r.get("run") == summary["run"]], summary


def _eager_and_best(rows: list[dict]) -> tuple[dict | None, dict | None]:
    single = [r for r in rows if r["model"] == "resnet50" and r["mode"] == "single"]
    eager = next((r for r in single if r["compile"] == "none"), None)
    best = max(single, key=lambda r: r["img_per_s"], default=None)
    return eager, best


def ddp_lost_ms(rows: list[dict]) -> tuple[dict, float] | None:
    """The profiled ResNet-50 DDP row (the first, if none has a profile) and the milliseconds per
    step it loses against one GPU of the same step."""
    ddp = [r for r in rows if r["model"] == "resnet50" and r["mode"] == "ddp" and r.get("baseline_img_per_s")]
    for r in sorted(ddp, key=lambda r: not r.get("profile")):
        per_gpu = r["img_per_s"] / r["gpus"]
        return r, 1e3 * r["batch"] / per_gpu - 1e3 * r["batch"] / r["baseline_img_per_s"]
    return None


def check_speed_reading(speedup, lost_ms, path) -> Feedback:
    """Exercise 3: the learner reads the recorded run: how much faster is the best single-GPU step
    than eager, and how many milliseconds per step does DDP lose against one GPU?"""
    title = "Exercise 3: reading the speed figures"
    rows, _ = speed_run(path)
    eager, best = _eager_and_best(rows)
    if not rows or eager is None or best is None:
        return Feedback(
            False,
            title,
            f"No recorded `bench speed` run with an eager and a best ResNet-50 row in {path}.",
            "Run `python -m course_utils bench speed` on a GPU machine first.",
        )
    want = best["img_per_s"] / eager["img_per_s"]
    ddp = ddp_lost_ms(rows)

    def close(value, target, tol):
        return isinstance(value, int | float) and not isinstance(value, bool) and abs(value - target) <= tol

    return first_failure(
        title,
        [
            (
                speedup is not None and lost_ms is not None,
                "`speedup` or `lost_ms` is still None.",
                "Replace each None by an expression computed from `rows` (not a number typed in).",
            ),
            (
                close(speedup, want, 0.01 * want),
                f"speedup = {speedup!r} is not the ratio of the fastest single-GPU ResNet-50 row to the eager one.",
                "img/s of the fastest `single` resnet50 row divided by img/s of the row whose compile is 'none'.",
            ),
            (
                ddp is None or close(lost_ms, ddp[1], max(0.05, 0.02 * abs(ddp[1]))),
                f"lost_ms = {lost_ms!r} is not what DDP loses per step.",
                "Take the ResNet-50 DDP row that has a 'profile'. One GPU's step lasts 1000 * batch / img_per_s "
                "ms; for the DDP row use img/s per GPU (img_per_s / gpus), for one GPU its baseline_img_per_s; "
                "subtract.",
            ),
        ],
        success=f"Right: {want:.2f}x from eager to the best step, and DDP pays "
        + (f"{ddp[1]:.2f} ms per step for its communication and bookkeeping" if ddp else "nothing measured")
        + ": the profile (ddp['profile']) shows how much of it is NCCL time that compute did not hide.",
    )
