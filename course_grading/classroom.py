"""The class on the workshop hub: who learns, who teaches, and which GPU each learner gets.

A class file (YAML, see ``hub/class.example.yaml``) lists the accounts and the devices to share:

    course_id: gpu-containers-course
    instructors: [instructor]
    learners: [alice, bob, carol]
    gpus: ["0", "1"]              # GPU indices, GPU-... or MIG-... UUIDs; [] on a machine without GPUs
    assign: {carol: "MIG-4f6e..."}  # optional: a learner's device, overriding the rotation

Learners get the devices in turn, in the order they are listed (alice 0, bob 1, carol 0 again),
so a learner keeps the same GPU across restarts as long as the list does not change. The hub
puts the choice in ``CUDA_VISIBLE_DEVICES`` (local processes) or in a device request (containers).
Instructors see every device.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_DEVICE = re.compile(r"^(\d+|GPU-[0-9a-fA-F-]{8,}|MIG-[0-9a-fA-F-]{8,}|MIG-GPU-[0-9a-fA-F-]+/\d+/\d+)$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")  # a portable Unix account name (useradd's default rule)


class ClassFileError(ValueError):
    """The class file is wrong; the message says where and what to write instead."""


@dataclass(frozen=True)
class Classroom:
    course_id: str
    instructors: tuple[str, ...]
    learners: tuple[str, ...]
    gpus: tuple[str, ...] = ()
    assign: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        for name in (*self.instructors, *self.learners):
            if not _USER.match(name):
                raise ClassFileError(
                    f"{name!r} is not a valid account name: use lower-case letters, digits, "
                    "'-' and '_', starting with a letter (at most 32 characters)"
                )
        both = set(self.instructors) & set(self.learners)
        if both:
            raise ClassFileError(f"{sorted(both)} listed as instructor and learner: list each account once")
        dupes = sorted({n for n in self.learners if self.learners.count(n) > 1})
        if dupes:
            raise ClassFileError(f"learners listed twice: {dupes}")
        for device in (*self.gpus, *self.assign.values()):
            if not _DEVICE.match(str(device)):
                raise ClassFileError(
                    f'{device!r} is not a GPU: write an index ("0"), a GPU-... UUID or a MIG-... '
                    "UUID as `nvidia-smi -L` prints it"
                )
        unknown = sorted(set(self.assign) - set(self.learners))
        if unknown:
            raise ClassFileError(f"`assign` names {unknown}, who are not in `learners`")

    @property
    def users(self) -> set[str]:
        return {*self.instructors, *self.learners}

    def is_instructor(self, user: str) -> bool:
        return user in self.instructors

    def gpu_for(self, user: str) -> str | None:
        """The device a learner may use (a CUDA_VISIBLE_DEVICES value), or None: no restriction
        (instructors) or no GPUs to share (CPU-only machine)."""
        if user in self.instructors:
            return None
        if user not in self.learners:
            raise KeyError(f"{user!r} is not in the class")
        if user in self.assign:
            return str(self.assign[user])
        if not self.gpus:
            return None
        return str(self.gpus[self.learners.index(user) % len(self.gpus)])

    def learners_per_gpu(self) -> dict[str, list[str]]:
        shares: dict[str, list[str]] = {}
        for learner in self.learners:
            device = self.gpu_for(learner)
            if device is not None:
                shares.setdefault(device, []).append(learner)
        return shares

    def environment(self, user: str) -> dict[str, str]:
        """The variables a user's server starts with for the GPU choice."""
        device = self.gpu_for(user)
        if device is None:
            return {}
        # NVIDIA_VISIBLE_DEVICES: what the NVIDIA container runtime reads; CUDA_VISIBLE_DEVICES: CUDA itself
        return {"CUDA_VISIBLE_DEVICES": device, "NVIDIA_VISIBLE_DEVICES": device}


def load(path: str | Path) -> Classroom:
    import yaml

    path = Path(path)
    if not path.exists():
        raise ClassFileError(f"no class file at {path}: copy hub/class.example.yaml there and list your accounts")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ClassFileError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ClassFileError(f"{path}: expected keys course_id, instructors, learners, gpus, assign")
    extra = sorted(set(data) - {"course_id", "instructors", "learners", "gpus", "assign"})
    if extra:
        raise ClassFileError(f"{path}: unknown keys {extra} (known: course_id, instructors, learners, gpus, assign)")

    def names(key):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ClassFileError(f"{path}: `{key}` must be a list of account names")
        return tuple(value)

    if not data.get("instructors"):
        raise ClassFileError(f"{path}: name at least one instructor (the account that runs formgrader)")
    gpus = data.get("gpus") or []
    assign = data.get("assign") or {}
    if not isinstance(gpus, list) or not isinstance(assign, dict):
        raise ClassFileError(f"{path}: `gpus` is a list of devices, `assign` a mapping learner: device")
    return Classroom(
        course_id=str(data.get("course_id") or "gpu-containers-course"),
        instructors=names("instructors"),
        learners=names("learners"),
        gpus=tuple(str(g) for g in gpus),
        assign={str(k): str(v) for k, v in assign.items()},
    )
