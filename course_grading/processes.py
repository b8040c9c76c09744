"""Killing processes for good: a worker's process tree, or whatever a sandbox uid left behind."""

from __future__ import annotations

import psutil


def kill_and_wait(procs: list[psutil.Process], timeout: float) -> None:
    """SIGKILL each of ``procs`` (one already gone is fine) and reap them, waiting at most ``timeout`` s."""
    for proc in procs:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(procs, timeout=timeout)


def kill_tree(pid: int) -> None:
    """Kill ``pid`` and all its descendants (children first)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    kill_and_wait(procs, timeout=10)


def kill_uid(uid: int) -> int:
    """Kill every process of the sandbox ``uid`` (one worker slot's): what a PID namespace
    left behind, if anything. Returns how many were found."""
    found = []
    for proc in psutil.process_iter(["uids"]):
        uids = proc.info.get("uids")
        if uids is not None and uid in (uids.real, uids.effective):
            found.append(proc)
    kill_and_wait(found, timeout=5)
    return len(found)
