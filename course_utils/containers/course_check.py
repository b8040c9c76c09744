"""Check every docker command the course shows, with the real client where it is installed.

``python -m course_utils.containers check [ROOT]`` prints one line per command
and exits 1 when a command the course presents as correct does not parse (or a
command shown as wrong, marked ``expect: parse error``, parses after all).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .check import ACCEPTED, NOT_RUN, OK, PARSE_ERROR, UNAVAILABLE, CommandCheck, check_command, find_docker
from .extract import DockerCommand, course_commands
from .lint import lint_gpu_flags


@dataclass(frozen=True)
class Verdict:
    command: DockerCommand
    client: CommandCheck
    lint: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        status, expect = self.client.status, self.command.expect
        if expect == "parse error":  # shown as wrong: the client must reject it
            if status == NOT_RUN:  # no client here: our mirror of its parser must
                return any("the docker client rejects it" in p for p in self.lint)
            return status == PARSE_ERROR
        if expect == "daemon error":  # the client accepts it; the daemon would refuse it
            return status in (ACCEPTED, NOT_RUN) and bool(self.lint)
        return status in (ACCEPTED, OK, UNAVAILABLE, NOT_RUN) and not self.lint

    def line(self) -> str:
        mark = "ok " if self.ok else "BAD"
        expect = f" (shown as wrong: {self.command.expect})" if self.command.expect else ""
        detail = "; ".join([self.client.message, *self.lint])
        return f"[{mark}] {self.command.where}: {self.command.text}{expect}\n      {self.client.status}: {detail}"


def check_commands(commands: list[DockerCommand], root: Path | None = None) -> list[Verdict]:
    docker = find_docker()
    verdicts = []
    for cmd in commands:
        client = (
            check_command(cmd.argv, docker=docker, cwd=root)
            if docker
            else CommandCheck(cmd.argv, NOT_RUN, "no docker client here: checked by the built-in GPU flag lint only")
        )
        if cmd.fragment and client.status == PARSE_ERROR and "requires at least 1 argument" in client.message:
            # Prose such as `docker run --gpus all` leaves the image out: check it with a stand-in.
            client = check_command((*cmd.argv, "placeholder"), docker=docker, cwd=root)
            client = CommandCheck(
                client.argv, client.status, client.message + " (fragment: image added)", client.output
            )
        verdicts.append(Verdict(cmd, client, lint_gpu_flags(cmd.argv)))
    return verdicts


def check_course(root: Path) -> list[Verdict]:
    return check_commands(course_commands(Path(root)), Path(root))


def main(root: str = ".") -> int:
    verdicts = check_course(Path(root))
    for v in verdicts:
        print(v.line())
    bad = [v for v in verdicts if not v.ok]
    unchecked = sum(v.client.status in (NOT_RUN, UNAVAILABLE) for v in verdicts)
    print(f"{len(verdicts)} docker command(s): {len(bad)} bad, {unchecked} not checked by a docker client.")
    return 1 if bad else 0
