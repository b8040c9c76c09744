"""JupyterHub for the workshop: one machine, one class, nbgrader's exchange, a GPU per learner.

    sudo COURSE_HUB_CLASS=/srv/jupyterhub/class.yaml .venv/bin/jupyterhub -f hub/jupyterhub_config.py

Runs as root (it starts each user's server as that Unix user). Settings come from the
environment, with the defaults in brackets:

  COURSE_HUB_CLASS     the class file [hub/class.yaml]: accounts, instructors, GPUs (hub/class.example.yaml)
  COURSE_HUB_URL       where the hub listens [http://127.0.0.1:8000]; put TLS in front for a class
  COURSE_HUB_STATE     the hub's database, cookie secret and proxy token [/srv/jupyterhub]
  COURSE_EXCHANGE      nbgrader's exchange, root-owned, mode 1777 [/srv/nbgrader/exchange]
  COURSE_DIR           the instructor's course directory (a checkout of this repo) [this repo]
  COURSE_HUB_SPAWNER   `local` (processes as each user) or `docker` (the workshop image) [local]
  COURSE_HUB_IMAGE     the image for `docker` [gpu-course/workshop:2026.11]
  COURSE_HUB_PYTHON    the Python of the course environment that runs each user's server and
                       kernels; every account must be able to run it (not under /root) [the hub's]
  JUPYTER_PATH, JUPYTER_CONFIG_PATH  passed on to every server (after the role's own folder)

Learners get JupyterLab with the Assignment List and Validate; instructors also get formgrader,
Create Assignment and the Course List (hub/learner/ and hub/instructor/ hold their Jupyter
configuration). See docs/instructor.md, "Before the day".
"""

import os
import shutil
import sys
from pathlib import Path

HUB_DIR = Path(__file__).resolve().parent
REPO = HUB_DIR.parent
if str(REPO) not in sys.path:  # course_grading from this checkout when the package is not installed
    sys.path.insert(0, str(REPO))

from course_grading import classroom  # noqa: E402

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

CLASS = classroom.load(os.environ.get("COURSE_HUB_CLASS", HUB_DIR / "class.yaml"))
STATE = Path(os.environ.get("COURSE_HUB_STATE", "/srv/jupyterhub"))
EXCHANGE = os.environ.get("COURSE_EXCHANGE", "/srv/nbgrader/exchange")
COURSE_DIR = os.environ.get("COURSE_DIR", str(REPO))
PYTHON = Path(os.environ.get("COURSE_HUB_PYTHON", sys.executable))
BIN = PYTHON.parent


def _prepare_folders() -> None:
    """The hub's private state, and nbgrader's exchange: root-owned, writable by all, sticky
    (mode 1777, as nbgrader documents), so a learner can hand in but not touch others' files."""
    STATE.mkdir(mode=0o700, parents=True, exist_ok=True)
    exchange = Path(EXCHANGE)
    if not exchange.exists() and os.geteuid() == 0:
        exchange.mkdir(parents=True)
        exchange.chmod(0o1777)


_prepare_folders()

# ---- the hub itself ----
c.JupyterHub.bind_url = os.environ.get("COURSE_HUB_URL", "http://127.0.0.1:8000")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")
# the proxy from npm, installed next to the repo by `make hub-deps` (hub/package-lock.json)
_chp = REPO / ".hub-deps" / "node_modules" / ".bin" / "configurable-http-proxy"
c.ConfigurableHTTPProxy.command = [
    str(_chp) if _chp.exists() else (shutil.which("configurable-http-proxy") or "configurable-http-proxy")
]
# One class, one day: stop servers idle for an hour? No: kernels may be training. The
# instructor stops them from the admin page (Hub Control Panel > Admin) after the class.

# ---- who may log in: the class's Unix accounts, with their own passwords (PAM) ----
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = CLASS.users
c.Authenticator.admin_users = set()  # no all-powerful accounts: instructors get the role below
c.PAMAuthenticator.open_sessions = False  # no systemd-logind session per server (containers have none)

# Groups in nbgrader's naming (its JupyterHubAuthPlugin reads them if you enable it).
c.JupyterHub.load_groups = {
    f"formgrade-{CLASS.course_id}": {"users": sorted(CLASS.instructors)},
    f"nbgrader-{CLASS.course_id}": {"users": sorted(CLASS.learners)},
}
# Instructors: the admin page to see, start and stop everyone's server and open it to help.
c.JupyterHub.load_roles = [
    {
        "name": "instructor",
        "description": "Teaches the class: sees every learner's server and can open it to help",
        "scopes": ["admin-ui", "list:users", "read:users", "admin:servers", "access:servers", "read:groups"],
        "users": sorted(CLASS.instructors),
    }
]

# ---- each user's server ----
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.http_timeout = 120  # the first JupyterLab start on a busy machine
c.Spawner.start_timeout = 120


def _common_environment(user: str) -> dict:
    instructor = CLASS.is_instructor(user)
    config_path = [str(HUB_DIR / ("instructor" if instructor else "learner")), os.environ.get("JUPYTER_CONFIG_PATH")]
    env = {
        # learner and instructor Jupyter configuration (extensions, nbgrader's exchange)
        "JUPYTER_CONFIG_PATH": os.pathsep.join(p for p in config_path if p),
        "COURSE_ID": CLASS.course_id,
        "COURSE_EXCHANGE": EXCHANGE,
        **CLASS.environment(user),
    }
    if instructor:
        env["COURSE_DIR"] = COURSE_DIR
    if os.environ.get("JUPYTER_PATH"):
        env["JUPYTER_PATH"] = os.environ["JUPYTER_PATH"]
    return env


def _configure_spawner(spawner) -> None:
    user = spawner.user.name
    spawner.environment.update(_common_environment(user))
    if SPAWNER == "docker":
        # paths inside the workshop image (docs/instructor.md, "Learner tools only")
        spawner.environment.update(
            COURSE_EXCHANGE="/srv/nbgrader/exchange", JUPYTER_CONFIG_PATH="/etc/jupyter/course-learner"
        )
        spawner.environment.pop("COURSE_DIR", None)  # instructors grade on the host, in COURSE_DIR
        _docker_devices(spawner, CLASS.gpu_for(user), all_gpus=CLASS.is_instructor(user))


SPAWNER = os.environ.get("COURSE_HUB_SPAWNER", "local")
if SPAWNER == "local":
    # Each server is a process of its user's own Unix account, from the course's environment:
    # the learner's code runs with that account's rights, files and GPU choice.
    c.JupyterHub.spawner_class = "localprocess"
    c.Spawner.cmd = [str(PYTHON), "-m", "jupyterhub.singleuser"]
    c.Spawner.environment = {
        "PATH": os.pathsep.join([str(BIN), "/usr/local/bin", "/usr/bin", "/bin"]),
        "PYTHONPATH": str(REPO),  # course_utils for the kernels, even where it is not installed
    }
elif SPAWNER == "docker":
    # The workshop image, one container per user (pip install dockerspawner; see docs/instructor.md).
    c.JupyterHub.spawner_class = "docker"
    c.JupyterHub.hub_ip = "0.0.0.0"  # containers reach the hub over the docker network
    c.DockerSpawner.image = os.environ.get("COURSE_HUB_IMAGE", "gpu-course/workshop:2026.11")
    c.DockerSpawner.notebook_dir = "/home/learner/course"
    c.DockerSpawner.volumes = {
        "course-hub-{username}": "/home/learner/course",  # each learner's work survives restarts
        EXCHANGE: "/srv/nbgrader/exchange",  # the shared exchange (mode 1777 on the host)
    }
    c.DockerSpawner.extra_host_config = {"shm_size": "8g"}  # NCCL and DataLoader workers use /dev/shm
    c.DockerSpawner.remove = True
else:
    raise ValueError(f"COURSE_HUB_SPAWNER={SPAWNER!r}: use `local` or `docker`")


def _docker_devices(spawner, device, all_gpus: bool) -> None:
    """One GPU (or MIG slice) per learner container, every GPU for instructors."""
    from docker.types import DeviceRequest

    if device is None and not all_gpus and not CLASS.gpus:
        return  # no GPUs on this machine
    request = (
        DeviceRequest(count=-1, capabilities=[["gpu"]])
        if device is None
        else DeviceRequest(device_ids=[device], capabilities=[["gpu"]])
    )
    spawner.extra_host_config = {**spawner.extra_host_config, "device_requests": [request]}
    # inside the container the one device is index 0: the runtime sets what CUDA sees
    spawner.environment.pop("CUDA_VISIBLE_DEVICES", None)


c.Spawner.pre_spawn_hook = _configure_spawner
