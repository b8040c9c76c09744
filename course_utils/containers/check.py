"""Run the real docker client on a command, with no daemon, to see whether it parses.

The docker client validates its flags (``--gpus``, ``--shm-size``, ports, the
image reference...) before it contacts a daemon. Pointing ``DOCKER_HOST`` at a
socket that does not exist makes every command stop at the first daemon
contact, in milliseconds and without side effects, so the outcome tells:

* ``accepted``: the client parsed everything and then could not reach the daemon;
* ``parse_error``: the client rejected the command itself (the message says why);
* ``needs_daemon``: the client wanted to ask the daemon something to finish
  checking (for ``--device``: a value that is not a CDI name is checked as a
  host path against the daemon's OS);
* ``ok``: the command finished without a daemon (``docker --version``);
* ``unavailable``: a plugin it needs (``compose``, ``buildx``) is not installed;
* ``crash``: the client itself crashed (a Go panic);
* ``not_run``: no docker client here, or a subcommand this checker does not run.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ACCEPTED, PARSE_ERROR, NEEDS_DAEMON, OK, UNAVAILABLE, CRASH, NOT_RUN = (
    "accepted",
    "parse_error",
    "needs_daemon",
    "ok",
    "unavailable",
    "crash",
    "not_run",
)

# Subcommands that only read or that stop at the daemon; anything else (login, push,
# context, plugin install...) is not run even against a missing daemon.
SAFE_SUBCOMMANDS = frozenset(
    {
        "run",
        "create",
        "build",
        "exec",
        "info",
        "stats",
        "ps",
        "images",
        "inspect",
        "logs",
        "stop",
        "rm",
        "pull",
        "version",
        "compose",
        "container",
        "image",
        "top",
        "port",
        "events",
        "system",
        "volume",
        "network",
        "start",
        "restart",
        "kill",
        "attach",
        "tag",
        "history",
        "buildx",
    }
)
# Global options that would send the command to some other daemon than our missing one.
_DAEMON_OPTIONS = ("-H", "--host", "-c", "--context", "--tls", "--tlsverify", "--tlscacert", "--tlscert", "--tlskey")
PLUGINS = ("compose", "buildx")
_DAEMON_UNREACHABLE = ("Cannot connect to the Docker daemon", "error during connect", "dial unix")


@dataclass(frozen=True)
class CommandCheck:
    argv: tuple[str, ...]
    status: str
    message: str
    output: str = ""

    @property
    def parses(self) -> bool:
        """True when the client accepted the command's syntax."""
        return self.status in (ACCEPTED, OK)


def find_docker() -> str | None:
    return shutil.which("docker")


@functools.cache
def _has_plugin(exe: str, name: str) -> bool:
    """Without the plugin, docker reads the plugin's own flags (``compose -f``) as unknown."""
    try:
        proc = subprocess.run(
            [exe, name, "version"], capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_") and k not in ("BUILDKIT_PROGRESS",)}
    # A socket path that cannot exist: a fresh temporary folder has nothing in it.
    env["DOCKER_HOST"] = f"unix://{tmp}/no-daemon.sock"
    # An empty config: no credential helpers, aliases or contexts of the user's are used.
    env["DOCKER_CONFIG"] = str(tmp / "config")
    plugins = Path.home() / ".docker" / "cli-plugins"
    if plugins.is_dir():  # keep per-user plugins (compose, buildx) visible
        (tmp / "config").mkdir(exist_ok=True)
        (tmp / "config" / "cli-plugins").symlink_to(plugins)
    return env


def classify(returncode: int, output: str) -> tuple[str, str]:
    """Turn the client's exit code and output into (status, message)."""
    lines = [ln.strip() for ln in output.strip().splitlines() if ln.strip()]
    first_error = next(
        (
            ln
            for ln in lines
            if not ln.startswith(("DEPRECATED", "Install the buildx", "https://docs.docker.com/go/buildx"))
        ),
        "",
    )
    if "panic:" in output:
        return CRASH, next(ln for ln in lines if "panic:" in ln)
    if any(marker in output for marker in _DAEMON_UNREACHABLE):
        return ACCEPTED, "parsed; stopped at the daemon connection (none here, on purpose)"
    if "unknown server OS" in output:
        return NEEDS_DAEMON, (
            "the client needs the daemon to finish checking: a --device value that is not a "
            "CDI name (vendor/class=name) is checked as a host path against the daemon's OS"
        )
    if "unknown command: docker " in output or "buildx component is missing" in output:
        return UNAVAILABLE, first_error or "a docker plugin this command needs is not installed"
    if returncode == 0:
        return OK, "finished without a daemon"
    return PARSE_ERROR, first_error or f"docker exited with {returncode} and printed nothing"


def check_command(
    command: str | Sequence[str], *, docker: str | None = None, cwd: str | Path | None = None, timeout: float = 30.0
) -> CommandCheck:
    """Run ``command`` (a string as a shell would split it, or an argv) with the real client, no daemon."""
    argv = tuple(shlex.split(command) if isinstance(command, str) else command)
    if not argv or Path(argv[0]).name != "docker":
        raise ValueError(f"not a docker command: {command!r} (it must start with `docker`)")
    sub = next((a for a in argv[1:] if not a.startswith("-")), None)
    chooses_daemon = [a for a in argv[1 : argv.index(sub) if sub else None] if a.split("=", 1)[0] in _DAEMON_OPTIONS]
    if chooses_daemon:
        return CommandCheck(argv, NOT_RUN, f"not run: {chooses_daemon[0]} would pick a daemon to contact")
    if sub is not None and sub not in SAFE_SUBCOMMANDS:
        return CommandCheck(argv, NOT_RUN, f"`docker {sub}` is not run by this checker (not on its safe list)")
    exe = docker or find_docker()
    if exe is not None and sub in PLUGINS and not _has_plugin(exe, sub):
        return CommandCheck(argv, UNAVAILABLE, f"the docker {sub} plugin is not installed here: not checked")
    if exe is None:
        return CommandCheck(
            argv,
            NOT_RUN,
            "no docker client installed here: install the docker CLI to check commands with the real parser",
        )
    with tempfile.TemporaryDirectory(prefix="docker-check-") as tmp:
        try:
            proc = subprocess.run(
                [exe, *argv[1:]],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=_env(Path(tmp)),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return CommandCheck(argv, NOT_RUN, f"the docker client did not finish within {timeout:.0f} s")
    output = (proc.stderr + proc.stdout).strip()
    status, message = classify(proc.returncode, output)
    return CommandCheck(argv, status, message, output)
