"""A pool of grading workers with a hard time limit per submission.

Workers are forked from this process, which has nbgrader imported already (about 2 s
saved per worker), or from a forkserver that imported it when this process has threads.
A worker that dies, or takes longer than the limit on one submission, is killed together
with every process it started (kernels, torchrun ranks); that submission is reported as
an error and a fresh worker takes over.
"""

from __future__ import annotations

import multiprocessing as mp
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from multiprocessing.connection import wait
from multiprocessing.context import ForkContext, ForkServerContext
from pathlib import Path
from typing import Any

from .processes import kill_tree, kill_uid

_CTX: ForkContext | ForkServerContext | None = None


def _context() -> ForkContext | ForkServerContext:
    global _CTX
    if _CTX is None:
        if threading.active_count() == 1:  # forking a process with threads is unsafe
            _CTX = mp.get_context("fork")
        else:
            server = mp.get_context("forkserver")
            server.set_forkserver_preload(["nbgrader.apps", "nbgrader.api", "course_grading.worker"])
            _CTX = server
    return _CTX


def mount_private_tmpfs(folder: Path, size: int) -> bool:
    """A worker's folder (the kernels' private folders are in it) on its own tmpfs: a submission
    that fills its disk fills only that, and what it writes counts against its memory cgroup."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755,nosuid,nodev", "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


class _Slot:
    def __init__(self, index: int, setup: dict, uid: int | None):
        from .worker import serve

        self.index, self.uid = index, uid
        self.setup = setup = dict(setup, index=index, uid=uid, workdir=str(Path(setup["workdir"]) / f"worker-{index}"))
        self.mounted = not setup.get("unsafe") and mount_private_tmpfs(Path(setup["workdir"]), setup["tmpfs_bytes"])
        self.conn, child = _context().Pipe()
        self.process = _context().Process(target=serve, args=(child, setup), name=f"grader-{index}", daemon=True)
        self.process.start()
        child.close()
        self.task: dict | None = None
        self.started = 0.0
        self.ready = False

    def stop(self, kill: bool = False) -> None:
        if not kill and self.process.is_alive():
            try:
                self.conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self.process.join(10)
        if self.process.is_alive() and self.process.pid is not None:
            kill_tree(self.process.pid)
        self.process.join(1)
        self.conn.close()
        if self.uid is not None:
            kill_uid(self.uid)  # anything of a killed worker's sandbox
        if self.mounted:
            subprocess.run(["umount", "-l", self.setup["workdir"]], capture_output=True)


def run(tasks: list[dict], setup: dict, workers: int, submission_timeout: float) -> Iterator[dict]:
    """Grade ``tasks`` on ``workers`` processes; yields each result as it arrives."""
    pending = deque(tasks)
    count = max(1, min(workers, len(tasks)))
    lease = None
    if not setup.get("unsafe"):  # uids of this run only: a worker kills all of its uid's processes
        from .sandbox import claim_uids

        lease = claim_uids(count)
    uids: list[int | None] = list(lease.uids) if lease else [None] * count
    slots: list[_Slot] = []
    try:
        slots += [_Slot(i, setup, uids[i]) for i in range(count)]
        while pending or any(s.task for s in slots):
            for slot in slots:
                if slot.ready and slot.task is None and pending:
                    slot.task, slot.started = pending.popleft(), time.monotonic()
                    slot.conn.send(slot.task)
            for conn in wait([s.conn for s in slots], timeout=1.0):
                slot = next(s for s in slots if s.conn is conn)
                try:
                    message: dict[str, Any] = slot.conn.recv()
                except (EOFError, OSError):
                    message = {"died": True}
                if message.get("ready"):
                    slot.ready = True
                elif message.get("fatal"):
                    raise RuntimeError(f"a grading worker could not start:\n{message['fatal']}")
                elif message.get("died"):
                    yield from _replace(
                        slots,
                        slot,
                        setup,
                        "the grading worker process died while grading this "
                        "submission (it was restarted; the others are unaffected)",
                    )
                else:
                    slot.task = None
                    yield {**message, "sandbox_uid": slot.uid}
            now = time.monotonic()
            for slot in slots:
                if slot.task and now - slot.started > submission_timeout:
                    yield from _replace(
                        slots,
                        slot,
                        setup,
                        f"grading took longer than {submission_timeout:.0f} s "
                        "and was stopped (a loop that ignores interrupts?)",
                    )
    finally:
        for slot in slots:
            slot.stop()
        if lease is not None:
            lease.release()


def _replace(slots: list[_Slot], slot: _Slot, setup: dict, why: str) -> Iterator[dict]:
    task = slot.task
    slot.stop(kill=True)
    slots[slots.index(slot)] = _Slot(slot.index, setup, slot.uid)
    if task is not None:
        yield {
            "student": task["student"],
            "status": "error",
            "timing": {"worker_s": time.monotonic() - slot.started},
            "notes": [*task["problems"], why],
            "sandbox_uid": slot.uid,
        }
