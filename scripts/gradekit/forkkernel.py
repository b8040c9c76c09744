"""Kernels forked from a warm process, to cut the cost of starting one per submission.

Starting an IPython kernel means a new Python importing ipykernel, IPython and zmq
(about 0.35 s of CPU and most of a second of wall time here), then the notebook's own
imports. A grading worker instead keeps one *zygote*: a small process that imported
all that once (plus the assignment's heavy modules, e.g. matplotlib) and forks a fresh
child for each kernel. Every submission still gets its own process, with nothing of any
other submission in it: the child starts from the zygote's state right after its imports,
which is the state a new kernel reaches after the same imports.

The zygote never starts threads, an event loop or a GPU context before forking.
``ForkingKernelManager`` is a jupyter_client kernel manager that asks the zygote for the
process instead of running ``python -m ipykernel_launcher``; everything else (ports,
connection file, interrupts, kill) is jupyter_client's own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import psutil
from jupyter_client.manager import AsyncKernelManager

LAUNCHER = "ipykernel_launcher"
ZYGOTE: Zygote | None = None  # set by a grading worker; None: kernels start the usual way


class Zygote:
    """The client side, in the grading worker."""

    def __init__(self, preload: list[str]):
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        # gradekit is importable for the zygote, and gone from sys.path before any kernel forks
        code = (f"import sys; sys.path.insert(0, {here!r}); from gradekit.forkkernel import serve; "
                "sys.path.pop(0); serve()")
        self.proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(preload)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        self.lock = threading.Lock()
        ready = json.loads(self.proc.stdout.readline() or "{}")
        if not ready.get("ready"):
            raise RuntimeError(f"the kernel zygote did not start: {ready}")
        self.preloaded = ready["preloaded"]

    def spawn(self, args: list[str], env: dict, cwd: str) -> int:
        with self.lock:
            self.proc.stdin.write(json.dumps({"args": args, "env": env, "cwd": cwd}) + "\n")
            self.proc.stdin.flush()
            reply = json.loads(self.proc.stdout.readline() or "{}")
        if "pid" not in reply:
            raise RuntimeError(f"the kernel zygote could not fork a kernel: {reply}")
        return reply["pid"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class ForkedProcess:
    """What jupyter_client's provisioner needs of a Popen, for a process that is not our child."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode = None

    def poll(self):
        if self.returncode is None:
            try:
                gone = psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                gone = True
            if gone:
                self.returncode = -1  # the zygote reaps it; the exit code is not ours to know
        return self.returncode

    def wait(self, timeout=None):
        try:
            psutil.Process(self.pid).wait(timeout)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            raise subprocess.TimeoutExpired(str(self.pid), timeout) from None
        return self.poll() if self.poll() is not None else -1

    def send_signal(self, signum: int) -> None:
        os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkingKernelManager(AsyncKernelManager):
    async def _async_launch_kernel(self, kernel_cmd, **kw):
        zygote = ZYGOTE
        if zygote is None or not zygote.alive() or not any(LAUNCHER in part for part in kernel_cmd):
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        args = kernel_cmd[next(i for i, part in enumerate(kernel_cmd) if LAUNCHER in part) + 1:]
        pid = zygote.spawn(args, dict(kw.get("env") or os.environ), str(kw.get("cwd") or os.getcwd()))
        provisioner = self.provisioner
        provisioner.process = ForkedProcess(pid)
        provisioner.pid = provisioner.pgid = pid  # the child made itself a session (and group) leader
        provisioner.cwd = kw.get("cwd")
        self._reconcile_connection_info(provisioner.connection_info)


# -- the zygote process -------------------------------------------------------------------


def serve() -> None:
    """Import, then fork one kernel per request line on stdin; answer with its pid."""
    import importlib

    preload = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    out = sys.stdout
    loaded = []
    for name in ["ipykernel.kernelapp", "ipykernel.ipkernel", *preload]:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # a kernel that needs it will import it (and fail) itself
            print(f"zygote: could not preload {name}: {exc}", file=sys.stderr)
    signal.signal(signal.SIGCHLD, _reap)
    out.write(json.dumps({"ready": True, "preloaded": loaded}) + "\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _become_kernel(request, write_end)  # never returns
        os.close(write_end)
        os.read(read_end, 1)  # the child is in its own session before anyone signals it
        os.close(read_end)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()


def _reap(*_):
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _become_kernel(request: dict, ready_fd: int) -> None:
    code = 1
    try:
        os.setsid()
        os.write(ready_fd, b"1")
        os.close(ready_fd)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)  # the zygote's pipes are not the kernel's business
        os.dup2(devnull, 1)
        os.close(devnull)
        sys.stdin = open(os.devnull)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = [LAUNCHER, *request["args"]]
        for name in [m for m in sys.modules if m == "gradekit" or m.startswith("gradekit.")]:
            del sys.modules[name]  # the grader's own code is none of the kernel's business
        if sys.path and sys.path[0] in ("", os.getcwd()):
            del sys.path[0]  # as ipykernel_launcher does; IPython puts '' back
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
