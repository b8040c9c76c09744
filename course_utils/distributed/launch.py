"""Run a torchrun job from a notebook: live output, a progress bar, the result, the error.

``launch_torchrun(cfg)`` starts ``python -m torch.distributed.run ... -m
course_utils.distributed.worker`` as a child process and reads its output in
the calling (main) thread: ordinary lines are printed as they arrive, progress
events from rank 0 move a progress bar. No thread prints, so nothing lands in
the wrong notebook cell.

Clean failure: torchrun stops every rank once one fails; the error that rank
wrote (type, message, traceback) is raised here as :class:`DistributedJobError`.
A job that outlives ``timeout_s`` is stopped (torchrun first, then any process
it left) and raises :class:`JobTimeoutError`. No rank is left hanging.
"""

from __future__ import annotations

import collections
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import progress
from .config import TrainConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
# NVLink multicast (NVLS) stays off: on shared hosts a program using it can take the GPUs out of
# service. Set only when the environment has not set them already.
SAFE_GPU_ENV = {"NCCL_NVLS_ENABLE": "0", "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1", "NVSHMEM_DISABLE_NVLS": "1"}
LOG_TAIL = 400


@dataclass
class JobResult:
    returncode: int
    result: dict | None
    elapsed_s: float
    run_dir: Path
    commands: list[list[str]]
    log: list[str] = field(repr=False, default_factory=list)
    error: DistributedJobError | None = None


class DistributedJobError(RuntimeError):
    """A torchrun job failed. ``rank``, ``error_type``, ``error_message`` and ``remote_traceback``
    describe the first rank that failed, when it could tell us; ``log_tail`` holds the last lines."""

    def __init__(
        self,
        summary: str,
        *,
        returncode: int | None,
        elapsed_s: float,
        run_dir: Path,
        rank: int | None = None,
        error_type: str | None = None,
        error_message: str | None = None,
        remote_traceback: str | None = None,
        log_tail: list[str] | None = None,
    ):
        self.returncode, self.elapsed_s, self.run_dir = returncode, elapsed_s, run_dir
        self.rank, self.error_type, self.error_message = rank, error_type, error_message
        self.remote_traceback = remote_traceback
        self.log_tail = log_tail or []
        text = summary
        if remote_traceback:
            text += f"\n\n--- traceback from rank {rank} ---\n{remote_traceback.rstrip()}"
        elif self.log_tail:
            text += "\n\n--- last lines of the job's output ---\n" + "\n".join(self.log_tail[-25:])
        super().__init__(text)


class JobTimeoutError(DistributedJobError):
    """The job ran past its time limit and was stopped."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_nproc() -> int:
    """One process per GPU; 2 processes on a CPU-only machine (gloo)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 2


def torchrun_command(
    cfg: TrainConfig | None,
    nproc: int,
    *,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    rdzv_id: str | None = None,
    python: str = sys.executable,
    max_restarts: int = 0,
    program: Sequence[str | os.PathLike] | None = None,
) -> list[str]:
    """The command line of one torchrun launcher (one per node). Each rank runs the course's
    worker with ``cfg``, or ``program`` instead (``cfg`` None): a script and its arguments, or
    ``["-m", module, ...]``, as after ``torchrun``'s own options."""
    if (cfg is None) == (program is None):
        raise ValueError("give either cfg (the course's worker) or program (your own script), not both")
    cmd = [python, "-m", "torch.distributed.run"]
    if nnodes == 1 and rdzv_endpoint is None:
        cmd.append("--standalone")  # a private rendezvous on a free local port
    else:
        if not rdzv_endpoint or not rdzv_id:
            raise ValueError("several nodes need rdzv_endpoint='HOST:PORT' (reachable from every node) and an rdzv_id")
        cmd += [f"--nnodes={nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={rdzv_id}"]
    cmd += [f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}"]
    if cfg is None:
        assert program is not None  # checked above: exactly one of them
        return cmd + [str(part) for part in program]
    return [*cmd, "-m", "course_utils.distributed.worker", "--mode", "ddp", *cfg.to_argv()]


def job_env(nproc_on_this_host: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the notebook as they are printed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    for key, value in SAFE_GPU_ENV.items():
        env.setdefault(key, value)
    # share the cores between the processes (torchrun would pick 1 and print a warning)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, nproc_on_this_host))))
    env.update(extra or {})
    return env


def launch_torchrun(
    cfg: TrainConfig,
    nproc: int | None = None,
    *,
    nnodes: int = 1,
    timeout_s: float = 600.0,
    run_dir: str | os.PathLike | None = None,
    show_progress: bool | None = True,
    echo: bool = True,
    env: dict[str, str] | None = None,
    python: str = sys.executable,
    check: bool = True,
) -> JobResult:
    """Run ``cfg`` as a DDP job of ``nproc`` processes per node and wait for it.

    ``nnodes > 1`` starts that many torchrun launchers on this machine, joined by a
    c10d rendezvous on a local port: the same thing as one launcher per node on a
    cluster, where each node runs the command with the head node's address.
    ``show_progress``: True/None for a bar (a widget in a notebook), False for none.
    Returns a :class:`JobResult`; on failure raises :class:`DistributedJobError`
    (or returns it with ``check=False``).
    """
    nproc = nproc or default_nproc()
    if nproc < 1 or nnodes < 1:
        raise ValueError("nproc and nnodes must be at least 1")
    run_dir = Path(run_dir) if run_dir else Path(tempfile.mkdtemp(prefix="ddp-run-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (*run_dir.glob("error-rank*.json"), run_dir / "result.json"):
        stale.unlink(missing_ok=True)  # a re-run in the same folder must not report the last run's outcome
    cfg = cfg.replace(run_dir=str(run_dir))
    if nnodes == 1:
        commands = [torchrun_command(cfg, nproc, python=python)]
    else:
        endpoint, rdzv_id = f"127.0.0.1:{free_port()}", f"course-{uuid.uuid4().hex[:8]}"
        commands = [
            torchrun_command(cfg, nproc, nnodes=nnodes, rdzv_endpoint=endpoint, rdzv_id=rdzv_id, python=python)
            for _ in range(nnodes)
        ]
    view = progress.ProgressView(f"DDP x{nproc * nnodes}", widget=None) if show_progress is not False else None
    proc_env = job_env(nproc * nnodes, env)
    start = time.monotonic()
    procs = [
        subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=proc_env,
            cwd=str(REPO_ROOT),
            start_new_session=True,
        )
        for cmd in commands
    ]
    try:
        log, timed_out = _supervise(
            procs, view, echo, deadline=start + timeout_s, grace_s=cfg.timeout_s + 15, prefix=nnodes > 1
        )
    except BaseException:
        stop_processes(procs)  # Ctrl-C / interrupt in the notebook: leave nothing behind
        raise
    elapsed = time.monotonic() - start
    codes = [p.returncode for p in procs]
    rc = next((c for c in codes if c != 0), 0)
    result_file = run_dir / "result.json"
    result = json.loads(result_file.read_text()) if result_file.exists() and rc == 0 and not timed_out else None
    job = JobResult(rc, result, elapsed, run_dir, commands, log)
    if rc == 0 and not timed_out and result is not None:
        return job
    error = _job_error(job, timed_out, timeout_s)
    if view is not None:
        view.update({"event": "failed", "error": error.error_type or "see the output above"})
    if check:
        raise error
    job.error = error
    return job


def _supervise(
    procs: list[subprocess.Popen], view, echo: bool, deadline: float, grace_s: float, prefix: bool
) -> tuple[list[str], bool]:
    """Read every launcher's output until all have exited; stop them past the deadline, or
    ``grace_s`` after the first one failed (its peers on other nodes may wait on a dead rank)."""
    sel = selectors.DefaultSelector()
    pending = {}
    for i, p in enumerate(procs):
        if p.stdout is None:  # started with stdout=PIPE: never
            raise ValueError("each launcher must be started with stdout=subprocess.PIPE")
        os.set_blocking(p.stdout.fileno(), False)
        sel.register(p.stdout, selectors.EVENT_READ, i)
        pending[i] = ""
    log: collections.deque[str] = collections.deque(maxlen=LOG_TAIL)
    first_failure = None
    timed_out = stopped = False

    def handle(i: int, line: str) -> None:
        event = progress.parse_event(line)
        if event is not None:
            if view is not None:
                view.update(event)
            return
        text = f"[node {i}] {line}" if prefix else line
        log.append(text)
        if echo:
            print(text, flush=True)

    while sel.get_map():
        now = time.monotonic()
        if first_failure is None and any(p.poll() not in (None, 0) for p in procs):
            first_failure = now
        if not stopped and (now > deadline or (first_failure is not None and now - first_failure > grace_s)):
            timed_out = now > deadline
            stopped = True
            stop_processes(procs)
        for key, _ in sel.select(timeout=0.2):
            i = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(key.fileobj)
                if pending[i]:
                    handle(i, pending[i])
                continue
            pending[i] += chunk.decode(errors="replace")
            *lines, pending[i] = pending[i].split("\n")
            for line in lines:
                handle(i, line.rstrip("\r"))
    for p in procs:
        try:
            p.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_processes(procs)
            p.wait()
    return list(log), timed_out


def stop_processes(procs: list[subprocess.Popen], grace_s: float = 10.0) -> None:
    """SIGTERM each launcher (torchrun then stops its workers), then SIGKILL whatever of ours is left.
    Only processes we started, found by id (their workers run in sessions of their own)."""
    import psutil

    family = []
    for p in procs:
        if p.poll() is None:
            try:
                family += psutil.Process(p.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
            p.send_signal(signal.SIGTERM)
    end = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
    _, alive = psutil.wait_procs(family, timeout=max(0.1, end - time.monotonic()))
    for child in alive:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass


def _job_error(job: JobResult, timed_out: bool, timeout_s: float) -> DistributedJobError:
    """The first failure: torchrun's root cause when that rank died without a Python error
    (killed, crashed, ``os._exit``), else the earliest error file a rank wrote."""
    errors = []
    for path in job.run_dir.glob("error-rank*.json"):
        try:
            errors.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    errors.sort(key=lambda e: e.get("time", 0))
    first = errors[0] if errors else {}
    common: dict[str, Any] = dict(
        returncode=job.returncode, elapsed_s=job.elapsed_s, run_dir=job.run_dir, log_tail=job.log
    )
    said = (
        (
            f"rank {first['rank']} on {first.get('host', '?')} raised {first['type']}: {first['message']}"
            + (_TIMEOUT_HINT if "timed out" in first["message"].lower() else "")
        )
        if first
        else ""
    )
    if timed_out:
        return JobTimeoutError(
            f"torchrun job stopped after {timeout_s:.0f} s (timeout_s) with no result; every process was ended"
            + (f". First error: {said}" if said else ""),
            rank=first.get("rank"),
            error_type=first.get("type"),
            error_message=first.get("message"),
            remote_traceback=first.get("traceback"),
            **common,
        )
    head = f"torchrun job failed (exit code {job.returncode}) after {job.elapsed_s:.1f} s: "
    # a rank that died without a Python error wrote no error file; its peers then fail with "connection
    # reset" and do write one, so the silent death is the cause even when it was noticed later
    wrote = {e["rank"] for e in errors}
    silent = [(rank, code) for rank, code in _silent_deaths(job.log) if rank not in wrote]
    if silent:
        rank, code = silent[0]
        summary = (
            head + f"rank {rank} exited with code {code} without a Python error "
            "(killed, crashed or os._exit)" + (f"; then {said}" if said else "")
        )
        return DistributedJobError(summary, rank=rank, **common)
    if first:
        others = sorted({e["rank"] for e in errors[1:]})
        summary = head + said + (f" (then rank(s) {others} failed too, as their peer was gone)" if others else "")
        return DistributedJobError(
            summary,
            rank=first["rank"],
            error_type=first["type"],
            error_message=first["message"],
            remote_traceback=first.get("traceback"),
            **common,
        )
    what = "the job ended without writing result.json" if job.returncode == 0 else "no rank reported an error"
    return DistributedJobError(head + what + "; see the output", **common)


_TIMEOUT_HINT = (
    " (a collective waited longer than timeout_s: a peer rank stopped responding; it is the rank "
    "that did not fail. Raise timeout_s only if steps are genuinely that slow)"
)


def _silent_deaths(lines: list[str]) -> list[tuple[int, int]]:
    """(rank, exit code) of every worker that torchrun's failure summary lists with no error file,
    other than those torchrun itself stopped with SIGTERM; the "Root Cause" entry first."""
    entries: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    root_at = next((i for i, line in enumerate(lines) if "Root Cause" in line), len(lines))
    for i, line in enumerate(lines):
        text = line.split("] ", 1)[-1] if line.startswith("[node") else line
        key, _, value = text.strip().partition(":")
        key = key.strip()
        if key == "rank":
            current = {"rank": _int_prefix(value), "exitcode": None, "error_file": None, "root": i > root_at}
            entries.append(current)
        elif current is not None and key == "exitcode":
            current["exitcode"] = _int_prefix(value)
        elif current is not None and key == "error_file":
            current["error_file"] = value.strip()
    found = [
        (e["rank"], e["exitcode"])
        for e in sorted(entries, key=lambda e: not e["root"])
        if e["rank"] is not None and e["exitcode"] not in (None, 0, -15) and e["error_file"] in (None, "<N/A>")
    ]
    return list(dict.fromkeys(found))


def _int_prefix(text: str) -> int | None:
    text = text.strip().split(" ")[0]
    try:
        return int(text)
    except ValueError:
        return None
