"""The given parts of the multi-GPU exercise (do not edit: the autograder uses its own copy).

* a tiny, learnable classification problem and a tiny model, both fixed by a seed;
* ``launch``: run a script under torchrun from the notebook, with a time limit (``also_run``:
  more runs with other settings in the same job);
* ``save_outputs``: what a DDP run leaves behind for the checks;
* ``reference_state``: what DDP on N ranks must end with, computed in one process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist

# Imported before the training script creates its process group: torch.distributed.nn binds the
# default group into default arguments when first imported (DDP imports it), and would keep the
# group alive after destroy_process_group(). See the notebook's "Ending the job".
import torch.distributed.nn
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler, TensorDataset

N_FEATURES, HIDDEN, N_CLASSES = 16, 32, 4
HERE = Path(__file__).resolve().parent


def make_dataset(n_samples: int = 512, seed: int = 0) -> TensorDataset:
    """``n_samples`` items ``(features, label, index)``: labels come from a hidden linear
    teacher, so the problem is learnable; the index lets a run record what it saw."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, N_FEATURES, generator=g)
    teacher = torch.randn(N_FEATURES, N_CLASSES, generator=g)
    y = (x @ teacher).argmax(dim=1)
    return TensorDataset(x, y, torch.arange(n_samples))


def make_model(seed: int = 0) -> nn.Module:
    """A two-layer MLP whose initial weights depend only on ``seed`` (not on global RNG state)."""
    model = nn.Sequential(nn.Linear(N_FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, N_CLASSES))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (model[0], model[2]):
            bound = layer.in_features ** -0.5
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=g) * 2 * bound - bound)
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=g) * 2 * bound - bound)
    return model


@dataclass
class RunResult:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    also: list[RunResult] = field(default_factory=list)  # the runs queued by also_run(), in order

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def summary(self, tail: int = 15) -> str:
        head = f"exit code {self.returncode} after {self.seconds:.1f} s: {' '.join(self.command[2:])}"
        if self.ok:
            return head
        lines = (self.stdout + "\n" + self.stderr).strip().splitlines()
        # the lines that name the cause come first; torchrun's own report is the tail
        cause = [ln for ln in lines[:-tail] if re.search(r"Error|terminate called|what\(\)|Traceback", ln)]
        return head + "\n" + "\n".join([*cause[-10:], *lines[-tail:]])

    @property
    def killed_by_signal(self) -> bool:
        """A rank died from a signal (torchrun reports a negative exit code for it)."""
        return not self.ok and re.search(r"exitcode\s*:\s*-(6|7|11)\b", self.stderr) is not None


# Runs queued by also_run() for the next launch(): the autograder runs the script with other
# settings in the same job, so the ranks start (and import torch) once, not once per setting.
_QUEUED: list[list[str]] = []
_DONE = "[toy] finished run "  # a rank's line after each run of a several-run job


def also_run(args=()) -> None:
    """Queue one more run of the script, with ``args``, into the next ``launch()``: same
    processes and job, one process group after another. Its result is in the launch's ``.also``."""
    _QUEUED.append([str(a) for a in args])


def launch(script, nproc: int = 2, args=(), timeout: float = 120.0) -> RunResult:
    """``torchrun --standalone --nproc_per_node=NPROC SCRIPT ARGS`` from this Python
    (``python -m torch.distributed.run`` is torchrun, with the same interpreter as the
    notebook). A run still going after ``timeout`` seconds (a rank waiting forever for the
    other, say) is killed with all its processes. 120 s: the solution's run takes about 5 s on
    2 idle cores and 43 s at a load of 16 (docs/results/solution_times.json). An interrupt (the
    Stop button, or the grader's cell limit) kills the job too, so no rank outlives the cell.
    A run is never repeated: a script that crashes, even only sometimes, fails, and the summary
    shows why. Runs queued by ``also_run`` go in the same job, after this one (see ``_run_all``)."""
    from course_utils.distributed.launch import torchrun_command

    runs = [[str(a) for a in args], *_QUEUED]
    _QUEUED.clear()
    program = [script, *runs[0]] if len(runs) == 1 else ["-m", "toy", script, json.dumps(runs)]
    command = torchrun_command(None, nproc, program=program)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("NCCL_NVLS_ENABLE", "0")  # keep NVLink SHARP off, as on the course's GPU machines
    start = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, so all ranks can be killed
    try:
        out, err = proc.communicate(timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[launch] killed after {timeout:.0f} s: a rank never finished (waiting for another?)"
        code = -signal.SIGKILL
    except BaseException:  # an interrupt (Stop, a time limit): the job goes with the cell
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    seconds = time.perf_counter() - start
    if len(runs) == 1:
        return RunResult(command, code, out, err, seconds)
    return _split(command, runs, nproc, code, out, err, seconds)


def _split(command, runs, nproc, code, out, err, seconds) -> RunResult:
    """One result per run of a several-run job. A run every rank finished is ok; the first
    one not finished gets the job's exit code and the rest of the output; later ones never ran."""
    results, out_lines, err_lines = [], out.splitlines(keepends=True), err.splitlines(keepends=True)
    as_if_alone = [[*command[:-4], command[-2], *argv] for argv in runs]  # torchrun SCRIPT ARGS
    for i, argv in enumerate(as_if_alone):
        marker = f"{_DONE}{i}\n"
        finished = out_lines.count(marker) == nproc
        cut = len(out_lines) - out_lines[::-1].index(marker) if finished else len(out_lines)
        err_cut = len(err_lines) - err_lines[::-1].index(marker) if finished and marker in err_lines else len(err_lines)
        text = "".join(line for line in out_lines[:cut] if not line.startswith(_DONE))
        text_err = "".join(line for line in err_lines[:err_cut] if not line.startswith(_DONE))
        out_lines, err_lines = out_lines[cut:], err_lines[err_cut:]
        if finished:
            results.append(RunResult(argv, 0, text, text_err, seconds))
        else:
            results.append(RunResult(argv, code or 1, text, text_err, seconds))
            results += [RunResult(a, code or 1, "", "[launch] not run: an earlier run in "
                                  "this job failed", 0.0) for a in as_if_alone[i + 1:]]
            break
    first = results[0]
    first.also = results[1:]
    return first


def _run_all(script: str, runs: list[list[str]]) -> None:
    """In each rank of a several-run job: run ``script`` as ``__main__`` once per argument list,
    as torchrun would have, each from the same fresh random state; after each, say so on
    stdout and stderr. An error ends the job, as it would end a one-run job."""
    import runpy

    sys.path[0] = str(Path(script).resolve().parent)  # where a script run by torchrun imports from
    rng = torch.get_rng_state()
    agent = _agent_store()
    for i, argv in enumerate(runs):
        if dist.is_initialized():  # as a fresh job would, this run would find the group taken
            raise RuntimeError("the process group was still initialized after the run before: call "
                               "dist.destroy_process_group() at the end (the given main() does)")
        if i:
            _fresh_store(i, agent)
        torch.set_rng_state(rng)
        sys.argv = [script, *argv]
        try:
            runpy.run_path(script, run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise

        for stream in (sys.stdout, sys.stderr):  # one write each: the ranks share the pipes
            stream.flush()
            os.write(stream.fileno(), f"{_DONE}{i}\n".encode())
    _wait_for_all(agent)


_STORES: list = []  # rank 0's stores for the runs after the first: they live as long as the rank


def _agent_store():
    """torchrun's own store (served by the launcher, which outlives every rank)."""
    return dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False)


def _fresh_store(run: int, agent) -> None:
    """Point this run's rendezvous (``env://``) at a new store: a destroyed group's keys stay in
    torchrun's store, and a new group under the same name would read the old addresses. Rank 0
    serves it, for as long as it lives, and tells the others its port through torchrun's store."""
    key = f"toy/run{run}/port"
    if int(os.environ["RANK"]) == 0:
        _STORES.append(dist.TCPStore(os.environ["MASTER_ADDR"], 0, is_master=True, wait_for_workers=False))
        agent.set(key, str(_STORES[-1].port))
    os.environ["MASTER_PORT"] = agent.get(key).decode()  # a client of it, like of torchrun's


def _wait_for_all(agent, timeout: float = 60.0) -> None:
    """Rank 0 serves the later runs' stores: it leaves only once every rank is done with them."""
    agent.add("toy/done", 1)
    if int(os.environ["RANK"]) != 0:
        return
    deadline = time.monotonic() + timeout
    while agent.add("toy/done", 0) < int(os.environ["WORLD_SIZE"]) and time.monotonic() < deadline:
        time.sleep(0.02)


def save_outputs(out, rank: int, world_size: int, device, model, seen: list[list[int]], seconds: float) -> None:
    """Every rank writes the sample indices it trained on, per epoch; rank 0 also writes the
    final parameters and what the run used."""
    out = Path(out)
    record = {"rank": rank, "world_size": world_size, "device": str(device), "epochs": seen}
    (out / f"seen_rank{rank}.json").write_text(json.dumps(record))
    if rank == 0:
        module = model.module if hasattr(model, "module") else model
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, out / "model.pt")
        run = {"backend": dist.get_backend(), "world_size": world_size, "device": str(device),
               "wrapped_in": type(model).__name__, "train_seconds": seconds, "torch": torch.__version__,
               "cuda_devices": torch.cuda.device_count()}
        (out / "run.json").write_text(json.dumps(run, indent=1))


def rank_order(n_samples: int, world_size: int, rank: int, seed: int, epoch: int) -> list[int]:
    """The indices DistributedSampler(shuffle=True, seed=seed) gives ``rank`` in ``epoch``."""
    sampler = DistributedSampler(range(n_samples), num_replicas=world_size, rank=rank, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def reference_state(n_samples: int, seed: int, world_size: int, batch_size: int, epochs: int,
                    lr: float) -> dict[str, torch.Tensor]:
    """What DDP on ``world_size`` ranks must end with: one process, one model, and at each step
    the concatenation of every rank's local batch with the mean loss over it (DDP averages the
    ranks' gradients, which for equal local batches is exactly that mean)."""
    data = make_dataset(n_samples, seed)
    x, y = data.tensors[0], data.tensors[1]
    model = make_model(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for epoch in range(epochs):
        orders = [rank_order(n_samples, world_size, r, seed, epoch) for r in range(world_size)]
        for start in range(0, len(orders[0]), batch_size):
            idx = torch.tensor([i for order in orders for i in order[start:start + batch_size]])
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


if __name__ == "__main__":  # a rank of a several-run job: python -m toy SCRIPT '[[ARGS], ...]'
    _run_all(sys.argv[1], json.loads(sys.argv[2]))
