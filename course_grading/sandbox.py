"""The sandbox a submission's kernel runs in (bubblewrap; see docs/grading-security.md).

Only the kernel, and whatever it starts, runs inside. The trusted grading worker runs
nbgrader next to it and talks to it over unix sockets (jupyter's ``ipc`` transport) in
a private folder. Inside, the kernel has:

- its own unprivileged uid (one per worker slot; never root, no capabilities);
- its own PID, mount, IPC, UTS and network namespaces: no network, only loopback, and
  no view of any process outside (so it cannot signal the grader);
- a filesystem of read-only system folders, the interpreter, the virtualenv and the
  course package, plus one writable folder (the student's copy) in which the
  assignment's own files (course_checks.py, toy.py) are read-only too; no
  ``solutions/``, no gradebook, no other submission, no grader's home;
- an empty environment but for PATH, HOME, PYTHONPATH and a few harmless variables;
- limits: processes and memory (cgroup v1, when mounted), processes, file size, open
  files and CPU time (rlimits set by ``prlimit`` inside, after the uid change);
- only the GPU device nodes the job is granted.

Its whole process tree goes when the kernel is killed: the kernel's PID namespace dies
with bubblewrap's init (``--die-with-parent``), whatever the students' processes do.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner

from .processes import kill_uid as kill_uid  # the workers call sandbox.kill_uid

BASE_UID = 61000  # sandbox uids: BASE_UID + worker slot; nobody else uses them on a grading machine
SYSTEM_RO = ("/usr", "/etc", "/opt/conda")  # /lib, /bin... are symlinks into /usr on Debian (handled below)
PASSED_ENV = ("LANG", "LC_ALL", "TZ", "COURSE_GPU_MODE", "NCCL_NVLS_ENABLE", "NCCL_DEBUG", "OMP_NUM_THREADS")
MAX_KEPT_FILE = 16 << 20  # a bigger file the kernel wrote is not kept with the autograded copy
MAX_KEPT_TOTAL = 32 << 20
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAME = "course-grading"
CPU_SHARES = 1024  # the same weight for every worker slot (cgroup v1's default)
HOSTNAME = "sandbox"
SANDBOX_USER = "student"  # the name the sandbox's /etc/passwd gives the kernel's uid


class SandboxUnavailable(RuntimeError):
    """The machine cannot sandbox a kernel (no bwrap, no namespaces, not root)."""


UID_SLOTS = 64  # sandbox uids BASE_UID .. BASE_UID + UID_SLOTS - 1, shared by every grading run here
UID_LOCK_DIR: Path | str = "/run/course-grading"  # one lock file per uid, held while a run uses it


class UidLease:
    """Sandbox uids held by one grading run (a flock on each uid's lock file): no other run on
    the machine gets them until ``release()`` or until the process ends, however it ends."""

    def __init__(self, uids: list[int], fds: list[int]):
        self.uids, self._fds = uids, fds

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)  # closing drops the flock
        self._fds = []


def claim_uids(count: int) -> UidLease:
    """``count`` sandbox uids no other grading run on this machine holds. A worker kills every
    process of its uid after each submission, so two runs must never share one."""
    folder = Path(UID_LOCK_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    uids: list[int] = []
    fds: list[int] = []
    for uid in range(BASE_UID, BASE_UID + UID_SLOTS):
        fd = os.open(folder / f"uid-{uid}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        kill_uid(uid)  # whatever a run that died without cleaning up left under it
        uids.append(uid)
        fds.append(fd)
        if len(uids) == count:
            return UidLease(uids, fds)
    UidLease(uids, fds).release()
    raise SandboxUnavailable(
        f"only {len(uids)} of the {UID_SLOTS} sandbox uids are free: the others are in use "
        f"by other grading runs on this machine; wait for one to end, or use fewer --workers"
    )


def _within_hard_limit(value: int, which: int) -> int:
    """``value``, or the current hard limit of ``which`` when that is lower."""
    hard = resource.getrlimit(which)[1]
    return value if hard == resource.RLIM_INFINITY else min(value, hard)


@dataclass
class Limits:
    processes: int = 1024  # threads count too: torch starts one per core per process
    memory_bytes: int = 6 << 30
    file_bytes: int = 512 << 20
    open_files: int = 1024
    cpu_s: int = 1800


@dataclass
class Sandbox:
    uid: int
    gpus: list[int] | None = None  # indices granted; None: no GPU
    limits: Limits = field(default_factory=Limits)
    cgroups: dict[str, Path] = field(default_factory=dict)  # controller -> this slot's cgroup folder

    def command(self, cmd: list[str], workdir: Path, rundir: Path, env: dict[str, str]) -> list[str]:
        """``cmd`` wrapped in bwrap, running as ``uid`` in ``workdir`` (writable) with ``rundir``
        (writable: the connection file and sockets)."""
        binds = Binds()
        for path in SYSTEM_RO:
            binds.ro(path)
        for link in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            binds.same_link_or_ro(link)
        for path in readonly_python_paths():
            binds.ro(path)
        if self.gpus:
            binds.ro("/sys")
        # bwrap by its full path: the kernel is launched with the sandbox's cleared environment, whose
        # PATH need not hold the grader's bwrap (on the GPU machine it is unpacked under /tmp)
        args = [
            shutil.which("bwrap") or "bwrap",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
            "--hostname",
            HOSTNAME,
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",  # only to drop to uid, below
            # the empty /tmp first: binds below it (wheels unpacked in /tmp on the GPU machine,
            # the student's folder) must land on top of it, not under it
            "--perms",
            "1777",
            "--tmpfs",
            "/tmp",
            *binds.args,
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--perms",
            "1777",
            "--tmpfs",
            "/dev/shm",
        ]
        for node in gpu_device_nodes(self.gpus, _dev_entries()):
            args += ["--dev-bind", node, node]
        args += [*binds.dirs_for(workdir), "--bind", str(workdir), str(workdir)]
        for entry in sorted(workdir.iterdir()):  # the assignment's own files: read-only for the student
            if entry.is_file() and not entry.is_symlink() and entry.suffix != ".ipynb":
                args += ["--ro-bind", str(entry), str(entry)]
        args += [*binds.dirs_for(rundir), "--bind", str(rundir), str(rundir), "--chdir", str(workdir), "--clearenv"]
        hosts = rundir / "hosts"  # the sandbox's own name must resolve (torchrun's rendezvous uses it)
        hosts.write_text(f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        args += ["--ro-bind", str(hosts), "/etc/hosts"]
        # the uid must have a name: getpass.getuser() and pwd.getpwuid() raise KeyError for an
        # unknown uid (torch's compile cache on the GPU did, failing every DDP job); the host's own
        # user list stays hidden
        home = env.get("HOME", "/nonexistent")
        accounts = {
            "passwd": f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
            f"{SANDBOX_USER}:x:{self.uid}:{self.uid}:{SANDBOX_USER}:{home}:/usr/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
            "group": f"root:x:0:\n{SANDBOX_USER}:x:{self.uid}:\nnogroup:x:65534:\n",
        }
        for name, text in accounts.items():
            (rundir / name).write_text(text)
            args += ["--ro-bind", str(rundir / name), f"/etc/{name}"]
        for key, value in sorted(env.items()):
            args += ["--setenv", key, value]
        lim = self.limits
        # never above the hard limits the grader itself runs under (a container started with
        # --ulimit nproc=1000): prlimit runs without privileges there and may only lower them
        nproc = _within_hard_limit(lim.processes, resource.RLIMIT_NPROC)
        fsize = _within_hard_limit(lim.file_bytes, resource.RLIMIT_FSIZE)
        nofile = _within_hard_limit(lim.open_files, resource.RLIMIT_NOFILE)
        cpu = _within_hard_limit(lim.cpu_s, resource.RLIMIT_CPU)
        args += [
            "setpriv",
            f"--reuid={self.uid}",
            f"--regid={self.uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
            "prlimit",
            f"--nproc={nproc}",
            f"--fsize={fsize}",
            f"--nofile={nofile}",
            f"--cpu={cpu}",
            "--core=0",
            "--",
            *cmd,
        ]
        return args

    def environment(self, home: Path, pythonpath: list[str]) -> dict[str, str]:
        env = {key: os.environ[key] for key in PASSED_ENV if key in os.environ}
        env.update(
            PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            HOME=str(home),
            PYTHONPATH=os.pathsep.join(pythonpath),
            MPLCONFIGDIR=str(home / "mpl"),
            PYTHONDONTWRITEBYTECODE="1",
            MPLBACKEND="agg",
            USER=SANDBOX_USER,
            LOGNAME=SANDBOX_USER,
        )
        if not self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ""
        return env

    def enter_cgroups(self) -> None:
        """Runs in the child between fork and exec (as root): join this slot's cgroups."""
        for folder in self.cgroups.values():
            (folder / "cgroup.procs").write_text(str(os.getpid()))


class Binds:
    """bwrap arguments for read-only binds at the same path, with the folders above them
    created world-traversable (bwrap would make them 0700 root, which the uid cannot enter)."""

    def __init__(self):
        self.args: list[str] = []
        self.made: set[str] = {"/"}
        self.bound: list[str] = []

    def dirs_for(self, path: Path | str) -> list[str]:
        out = []
        for parent in reversed(Path(path).parents):
            p = str(parent)
            if p not in self.made and not any(p == b or p.startswith(b + "/") for b in self.bound):
                out += ["--perms", "0755", "--dir", p]
                self.made.add(p)
        return out

    def ro(self, path: str) -> None:
        if not os.path.exists(path) or any(path == b or path.startswith(b + "/") for b in self.bound):
            return
        self.args += [*self.dirs_for(path), "--ro-bind", path, path]
        self.bound.append(path)

    def same_link_or_ro(self, path: str) -> None:
        if os.path.islink(path):
            self.args += ["--symlink", os.readlink(path), path]
        else:
            self.ro(path)


def _course_root() -> Path:
    import course_utils

    return Path(course_utils.__file__).resolve().parent.parent


def _extra_package_dirs() -> list[str]:
    """Folders on the grader's PYTHONPATH that hold packages (e.g. wheels unpacked with
    ``pip --target`` on the GPU machine), never a course folder (one with solutions/)."""
    found = []
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        path = Path(entry).resolve() if entry else None
        if path is None or not path.is_dir() or path == _course_root() or path == Path("/"):
            continue
        if (path / "solutions").exists() or (path / "nbgrader_config.py").exists() or (path / "gradebook.db").exists():
            continue
        found.append(str(path))
    return found


def readonly_python_paths() -> list[str]:
    """The interpreter, its standard library, the virtualenv and the course package: what a
    kernel imports. Not the repository (it holds solutions/), only ``course_utils`` in it."""
    import site

    paths = {
        os.path.realpath(sys.base_prefix),
        os.path.realpath(sys.prefix),
        sys.prefix,
        str(Path(os.path.realpath(sys.executable)).parent.parent),
        *_extra_package_dirs(),
    }
    for folder in [*site.getsitepackages(), site.getusersitepackages()]:
        if os.path.isdir(folder):
            paths.add(os.path.realpath(folder))
    paths.add(str(_course_root() / "course_utils"))
    return sorted(p for p in paths if p != "/")


def kernel_pythonpath() -> list[str]:
    return [str(_course_root()), *_extra_package_dirs()]


def gpu_device_nodes(granted: list[int] | None, present: list[str]) -> list[str]:
    """The /dev entries to pass for GPUs ``granted`` (indices), from the names ``present`` in /dev:
    /dev/nvidiaN for each granted N and the shared control nodes; never another GPU's node."""
    if not granted:
        return []
    wanted = {f"nvidia{i}" for i in granted}
    shared = {"nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"}
    return [f"/dev/{name}" for name in sorted(present) if name in wanted or name in shared]


def _dev_entries() -> list[str]:
    try:
        return os.listdir("/dev")
    except OSError:
        return []


def parse_gpus(text: str | None) -> list[int] | None:
    """``--gpus`` / CUDA_VISIBLE_DEVICES as indices; None where no GPU device exists."""
    present = sorted(int(n[6:]) for n in _dev_entries() if n.startswith("nvidia") and n[6:].isdigit())
    if text is None:
        text = os.environ.get("CUDA_VISIBLE_DEVICES")
        if text is None:
            return present or None
    text = text.strip()
    if text in ("", "none", "-1"):
        return None
    try:
        wanted = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--gpus {text!r}: give GPU indices such as 0,1 (UUIDs are not supported), or none") from None
    missing = [i for i in wanted if i not in present]
    if missing:
        raise ValueError(f"--gpus {text}: no /dev/nvidia{missing[0]} on this machine (present: {present})")
    return wanted


@functools.cache
def check_available() -> None:
    """Raise SandboxUnavailable, saying why, unless a bwrap sandbox starts here."""
    missing = [tool for tool in ("bwrap", "setpriv", "prlimit") if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(
            f"{', '.join(missing)} not found: install bubblewrap (`apt-get install bubblewrap`, or "
            "`make sandbox-deps`; setpriv and prlimit are in util-linux) so that each submission runs in a sandbox"
        )
    if os.geteuid() != 0:
        raise SandboxUnavailable(
            "grading in a sandbox needs root (to give each kernel its own uid and cgroup); "
            "run the grader as root, e.g. in the grading container"
        )
    probe = Sandbox(uid=BASE_UID)
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    try:
        done = subprocess.run(
            probe.command(["true"], tmp, tmp, {"PATH": "/usr/bin:/bin"}), capture_output=True, text=True, timeout=30
        )
    except OSError as exc:
        done = subprocess.CompletedProcess([], 1, "", str(exc))
    if done.returncode != 0:
        raise SandboxUnavailable(
            "bubblewrap could not create a sandbox here (namespaces not allowed?): "
            + (done.stderr.strip()[-300:] or f"exit {done.returncode}")
        )


def make_cgroups(slot: str, limits: Limits) -> dict[str, Path]:
    """This slot's memory, pids and cpu cgroups (v1), where mounted and writable; {} otherwise.
    Each slot's cpu group has the same weight, so the slots share the cores evenly however many
    processes a submission starts: a classmate's CPU hog cannot push an honest submission past
    its time limits (the kernel's autogroup does this too, where it is on; this does not rely on it)."""
    made = {}
    for controller, settings in (
        ("memory", {"memory.limit_in_bytes": limits.memory_bytes, "memory.memsw.limit_in_bytes": limits.memory_bytes}),
        ("pids", {"pids.max": limits.processes}),
        ("cpu", {"cpu.shares": CPU_SHARES}),
    ):
        base = CGROUP_ROOT / controller
        if not (base / "cgroup.procs").exists():
            continue
        folder = base / CGROUP_NAME / slot
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for name, value in settings.items():
                if (folder / name).exists():
                    (folder / name).write_text(str(value))
        except OSError:
            continue
        made[controller] = folder
    return made


def remove_cgroups(cgroups: dict[str, Path]) -> None:
    for folder in cgroups.values():
        try:
            folder.rmdir()
        except OSError:
            pass


def sweep(folder: Path) -> list[str]:
    """After the kernel is gone: remove from ``folder`` what the trusted side must never follow
    (symlinks, fifos, sockets, devices) and files too big to keep (the largest first, down to
    MAX_KEPT_TOTAL), and give the rest back to root. Returns what was removed."""
    removed = []
    sizes = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                os.lchown(path, 0, 0)
                os.chmod(path, 0o755)
            elif stat.S_ISREG(mode) and path.lstat().st_size > MAX_KEPT_FILE:
                path.unlink()
                removed.append(str(path.relative_to(folder)))
            elif stat.S_ISREG(mode):
                os.lchown(path, 0, 0)
                os.chmod(path, stat.S_IMODE(mode) & 0o755)
                sizes.append((path.lstat().st_size, path))
            else:
                path.unlink()
                removed.append(str(path.relative_to(folder)))
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]
    os.lchown(folder, 0, 0)
    total = sum(size for size, _ in sizes)
    for size, path in sorted(sizes, reverse=True):
        if total <= MAX_KEPT_TOTAL:
            break
        path.unlink()
        total -= size
        removed.append(str(path.relative_to(folder)))
    return removed


def hand_over(folder: Path, uid: int) -> None:
    """Make the student's copy writable by the sandbox uid (the assignment's files stay root's)."""
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            os.lchown(Path(root) / name, uid, uid)
        for name in files:
            if name.endswith(".ipynb"):
                os.lchown(Path(root) / name, uid, uid)
    os.lchown(folder, uid, uid)


# -- jupyter_client: the kernel provisioner ----------------------------------------------

CURRENT: Sandbox | None = None  # set by a grading worker; None: kernels start unsandboxed (--unsafe-no-sandbox)


def run_folder(workdir: Path) -> Path:
    """The kernel's private run folder (connection file, sockets, HOME): short, because a unix
    socket's path may not exceed 107 bytes; beside the worker's folders (worker/run/HASH) when
    that is short enough, else in the system's temporary folder."""
    tag = hashlib.sha256(str(workdir).encode()).hexdigest()[:10]
    near = workdir.parents[2] / "run" / tag if len(workdir.parents) > 2 else None
    if near is not None and len(str(near)) <= 80:
        return near
    return Path(tempfile.gettempdir()) / f"course-grading-run-{tag}"


class SandboxProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, with the kernel command wrapped in the sandbox, the
    ipc transport, the connection file in a private folder and interrupts sent as messages
    (no signal crosses into the sandbox)."""

    sandbox: Sandbox | None = None
    rundir: Path | None = None
    guard_log: str = ""

    def _sandbox(self) -> Sandbox:
        if self.sandbox is None:  # set by SandboxKernelManager, which creates this provisioner
            raise RuntimeError("SandboxProvisioner used without a sandbox")
        return self.sandbox

    async def pre_launch(self, **kwargs):
        sandbox, km = self._sandbox(), self.parent
        if km is None:
            raise RuntimeError("SandboxProvisioner used without a kernel manager")
        workdir = Path(kwargs.get("cwd") or os.getcwd()).resolve()
        self.rundir = run_folder(workdir)
        shutil.rmtree(self.rundir, ignore_errors=True)
        (self.rundir / "home").mkdir(parents=True)
        for path in (self.rundir, self.rundir / "home"):
            os.chown(path, sandbox.uid, sandbox.uid)
        os.chmod(self.rundir, 0o700)
        km.transport = "ipc"
        km.ip = str(self.rundir / "k")
        km.connection_file = str(self.rundir / "kernel.json")
        km.kernel_spec.interrupt_mode = "message"
        hand_over(workdir, sandbox.uid)
        kwargs = await super().pre_launch(**kwargs)
        os.chown(km.connection_file, sandbox.uid, sandbox.uid)
        cmd = list(kwargs["cmd"])
        if cmd and Path(cmd[0]).name.startswith("python"):
            cmd[0] = sys.executable
        env = sandbox.environment(self.rundir / "home", kernel_pythonpath())
        kwargs["cmd"] = sandbox.command(cmd, workdir, self.rundir, env)
        kwargs["env"] = {"PATH": "/usr/bin:/bin"}
        return kwargs

    async def launch_kernel(self, cmd, **kwargs):
        kwargs["preexec_fn"] = self._sandbox().enter_cgroups
        kwargs["stdout"] = subprocess.DEVNULL  # ipykernel's banner; errors still go to stderr
        return await super().launch_kernel(cmd, **kwargs)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        if self.rundir is not None and not restart:
            log = self.rundir / "guard.log"
            if log.is_file() and not log.is_symlink():
                with open(log, "rb") as f:
                    self.guard_log = f.read(2000).decode("utf-8", "replace")
            shutil.rmtree(self.rundir, ignore_errors=True)


class SandboxKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in the worker's sandbox (``CURRENT``)."""

    async def _async_pre_start_kernel(self, **kw):
        if CURRENT is not None and self.provisioner is None:
            provisioner = SandboxProvisioner(
                kernel_id=self.kernel_id or kw.get("kernel_id") or "sandboxed",
                kernel_spec=self.kernel_spec,
                parent=self,
            )
            provisioner.sandbox = CURRENT
            self.provisioner = provisioner
        return await super()._async_pre_start_kernel(**kw)
