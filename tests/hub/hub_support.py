"""A real workshop hub on localhost for the end-to-end test: Unix accounts, a class file, the
exchange, JupyterHub from hub/jupyterhub_config.py, and commands run as each account.

Everything lives in one temporary folder (mode 755 so that every account can reach its part);
the accounts are created with ``useradd`` and removed with ``userdel -r`` afterwards.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CHP = REPO / ".hub-deps" / "node_modules" / ".bin" / "configurable-http-proxy"
COURSE_ID = "gpu-containers-course"
ASSIGNMENTS = {"gpu_monitoring_dashboard": "gpu_dashboard", "multi_gpu_training": "multi_gpu_training"}
MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost: never through a proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Account:
    name: str
    password: str
    role: str  # "instructor" or "learner"

    @property
    def home(self) -> Path:
        return Path("/home") / self.name


def create_account(name: str, role: str) -> Account:
    if subprocess.run(["id", name], capture_output=True).returncode == 0:
        subprocess.run(["userdel", "-r", name], capture_output=True)  # a leftover of a killed run
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True, capture_output=True)
    account = Account(name, secrets.token_urlsafe(12), role)
    subprocess.run(["chpasswd"], input=f"{name}:{account.password}\n", text=True, check=True, capture_output=True)
    return account


def remove_account(account: Account) -> None:
    subprocess.run(["pkill", "-KILL", "-u", account.name], capture_output=True)  # its servers and kernels
    subprocess.run(["userdel", "-r", account.name], capture_output=True)


def shareable_python(base: Path, account: Account) -> tuple[Path, dict]:
    """A Python with the course environment that every account can run, and the variables it needs.

    The test's own when the account can run it. Otherwise (pyenv's interpreter under /root, mode
    700) a copy of that interpreter and its standard library (about 60 MB, no site-packages) in
    the test folder, and a venv of it that reads this environment's packages; its library path
    goes in LD_LIBRARY_PATH (the binary's RUNPATH points under /root)."""
    probe = subprocess.run(
        ["runuser", "-u", account.name, "--", sys.executable, "-c", "import nbgrader"], capture_output=True
    )
    if probe.returncode == 0:
        return Path(sys.executable), {}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    real, interp = Path(sys.base_prefix), base / "interpreter"
    (interp / "bin").mkdir(parents=True)
    shutil.copy2(Path(sys._base_executable).resolve(), interp / "bin" / version)
    shutil.copytree(
        real / "lib",
        interp / "lib",
        symlinks=True,
        ignore=shutil.ignore_patterns(
            "site-packages", "test", "config-*", "__pycache__", "pkgconfig", "*.a", "tkinter", "idlelib"
        ),
    )
    env = {"LD_LIBRARY_PATH": str(interp / "lib")}
    shim = base / "python"
    subprocess.run(
        [interp / "bin" / version, "-m", "venv", "--without-pip", shim],
        check=True,
        capture_output=True,
        env={**os.environ, **env},
    )
    site_packages = Path(sys.prefix) / "lib" / version / "site-packages"
    (shim / "lib" / version / "site-packages" / "course-env.pth").write_text(
        f"import site; site.addsitedir({str(site_packages)!r})\n"
    )
    alembic = shim / "bin" / "alembic"  # nbgrader runs `alembic` from PATH
    alembic.write_text(f"#!{shim / 'bin' / 'python'}\nimport sys\nfrom alembic.config import main\nsys.exit(main())\n")
    alembic.chmod(0o755)
    share, etc = Path(sys.prefix) / "share" / "jupyter", Path(sys.prefix) / "etc" / "jupyter"
    return shim / "bin" / "python", {**env, "JUPYTER_PATH": str(share), "JUPYTER_CONFIG_PATH": str(etc)}


@dataclass
class Workshop:
    base: Path
    course: Path
    exchange: Path
    instructor: Account
    learners: dict[str, Account]  # kind (honest, partial, blank) -> account
    python: Path  # the course environment's Python, runnable by every account
    jupyter_paths: dict  # JUPYTER_PATH and JUPYTER_CONFIG_PATH where python is not the environment's own
    url: str = ""
    service_token: str = ""
    proc: subprocess.Popen | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def env(self, account: Account) -> dict:
        """What the hub gives that account's server (hub/jupyterhub_config.py), for CLI use."""
        role = "instructor" if account.role == "instructor" else "learner"
        env = {
            "HOME": str(account.home),
            "USER": account.name,
            "LOGNAME": account.name,
            "PATH": os.pathsep.join([str(self.python.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
            "PYTHONPATH": str(REPO),
            **self.jupyter_paths,
            "JUPYTER_CONFIG_PATH": os.pathsep.join(
                p for p in (str(REPO / "hub" / role), self.jupyter_paths.get("JUPYTER_CONFIG_PATH")) if p
            ),
            "COURSE_EXCHANGE": str(self.exchange),
            "COURSE_ID": COURSE_ID,
            "LANG": "C.UTF-8",
        }
        if account.role == "instructor":
            env["COURSE_DIR"] = str(self.course)
        return env

    def run_as(
        self, account: Account, args: list, cwd: Path | None = None, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess:
        """A command as that Unix account, with only the environment its hub server would have."""
        env_args = [f"{k}={v}" for k, v in self.env(account).items()]
        cmd = ["runuser", "-u", account.name, "--", "env", "-i", *env_args, *[str(a) for a in args]]
        done = subprocess.run(cmd, cwd=cwd or account.home, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(
                f"{account.name}: {' '.join(map(str, args))} failed ({done.returncode}):\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def nbgrader_as(self, account: Account, *args, **kwargs) -> subprocess.CompletedProcess:
        cwd = self.course if account.role == "instructor" else account.home
        return self.run_as(account, [self.python, "-m", "nbgrader", *args], cwd=cwd, **kwargs)

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> tuple[int, object]:
        """The hub's REST API (or a user's server through the proxy) with the test service's token."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method, headers={"Authorization": f"token {self.service_token}"}
        )
        try:
            with DIRECT.open(request, timeout=60) as response:
                text = response.read().decode("utf-8", "replace")
                status = response.status
        except urllib.error.HTTPError as exc:
            text, status = exc.read().decode("utf-8", "replace"), exc.code
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def start_server(self, account: Account, timeout: float = 120) -> None:
        status, _ = self.api(f"/hub/api/users/{account.name}/server", method="POST")
        assert status in (201, 202, 400), f"could not start {account.name}'s server: {status}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, user = self.api(f"/hub/api/users/{account.name}")
            if isinstance(user, dict) and user.get("servers", {}).get("", {}).get("ready"):
                return
            time.sleep(0.5)
        raise AssertionError(f"{account.name}'s server did not start:\n{self.log()[-4000:]}")

    def log(self) -> str:
        path = self.base / "hub.log"
        return path.read_text(errors="replace") if path.exists() else ""


def make_workshop(base: Path) -> Workshop:
    """Accounts, the instructor's course directory (a copy of the course), the exchange."""
    base.chmod(0o755)
    suffix = secrets.token_hex(2)
    instructor = create_account(f"cgi{suffix}teach", "instructor")
    learners = {kind: create_account(f"cgl{suffix}{kind}", "learner") for kind in ("honest", "partial", "blank")}
    exchange = base / "exchange"
    exchange.mkdir()
    exchange.chmod(0o1777)  # root-owned, everyone may write, nobody may touch others' files
    course = base / "course"
    course.mkdir()
    shutil.copy2(REPO / "nbgrader_config.py", course)
    ignore = shutil.ignore_patterns("work", "__pycache__", ".ipynb_checkpoints")
    for folder in ("solutions", "exercises", "scripts"):
        shutil.copytree(REPO / folder, course / folder, ignore=ignore)
    subprocess.run(["chown", "-R", f"{instructor.name}:{instructor.name}", str(course)], check=True)
    python, jupyter_paths = shareable_python(base, instructor)
    return Workshop(
        base=base,
        course=course,
        exchange=exchange,
        instructor=instructor,
        learners=learners,
        python=python,
        jupyter_paths=jupyter_paths,
    )


def start_hub(workshop: Workshop, gpus: list[str], assign: dict[str, str]) -> None:
    """JupyterHub from the repo's configuration, plus a test service whose token drives the REST API."""
    base = workshop.base
    (base / "class.yaml").write_text(
        json.dumps(
            {  # JSON is YAML
                "course_id": COURSE_ID,
                "instructors": [workshop.instructor.name],
                "learners": [a.name for a in workshop.learners.values()],
                "gpus": gpus,
                "assign": assign,
            }
        )
    )
    workshop.service_token = secrets.token_hex(24)
    (base / "test_config.py").write_text(
        f"load_subconfig({str(REPO / 'hub' / 'jupyterhub_config.py')!r})\n"
        f"c.JupyterHub.services = [{{'name': 'workshop-test', 'api_token': {workshop.service_token!r}}}]\n"
        "c.Spawner.env_keep.append('LD_LIBRARY_PATH')\n"
        "c.JupyterHub.load_roles = c.JupyterHub.load_roles + [{'name': 'workshop-test', 'services': "
        "['workshop-test'], 'scopes': ['admin:users', 'admin:servers', 'access:servers', 'list:users']}]\n"
    )
    port = free_port()
    workshop.url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COURSE_"))}
    env.update(
        {
            "COURSE_HUB_CLASS": str(base / "class.yaml"),
            "COURSE_HUB_STATE": str(base / "state"),
            "COURSE_EXCHANGE": str(workshop.exchange),
            "COURSE_DIR": str(workshop.course),
            "COURSE_HUB_URL": workshop.url,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "COURSE_HUB_PYTHON": str(workshop.python),
            **workshop.jupyter_paths,
        }
    )
    log = open(base / "hub.log", "w")  # the hub writes to it until it stops
    workshop.proc = subprocess.Popen(
        [
            BIN / "jupyterhub",
            "-f",
            base / "test_config.py",
            f"--JupyterHub.hub_bind_url=http://127.0.0.1:{free_port()}",
            f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{free_port()}",
        ],
        cwd=base,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with DIRECT.open(f"{workshop.url}/hub/api/", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if workshop.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"JupyterHub did not start:\n{workshop.log()[-4000:]}")
        time.sleep(0.3)


def stop_hub(workshop: Workshop) -> None:
    if workshop.proc and workshop.proc.poll() is None:
        workshop.proc.terminate()  # the hub stops the servers it started
        try:
            workshop.proc.wait(30)
        except subprocess.TimeoutExpired:
            workshop.proc.kill()
            workshop.proc.wait(5)


def answer(release_path: Path, solution_path: Path, kind: str) -> None:
    """Write a learner's answers into a fetched notebook: every solution cell as the source's
    solution (honest), the first half of them (partial) or none (blank)."""
    if kind == "blank":
        return
    nb = nbformat.read(release_path, as_version=4)
    source = nbformat.read(solution_path, as_version=4)
    answers = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in source.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    chosen = cells if kind == "honest" else cells[: max(1, len(cells) // 2)]
    for cell in chosen:
        text = answers[cell.metadata["nbgrader"]["grade_id"]]
        cell.source = "\n".join(line for line in text.splitlines() if not MARKERS.match(line))
    stat = release_path.stat()
    nbformat.write(copy.deepcopy(nb), release_path)
    os.chown(release_path, stat.st_uid, stat.st_gid)
