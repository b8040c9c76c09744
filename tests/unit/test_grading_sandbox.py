"""The grading sandbox's pieces that need no kernel: GPU device binds, the bwrap command,
the static scan, the CLI's checks, atomic and merged reports, refused submissions."""

from __future__ import annotations

import csv
import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from course_grading import cli, layout, report, sandbox, scan
from course_grading.course import AssignmentInfo, GradeCell

REPO = Path(__file__).resolve().parents[2]
DEV = [
    "null",
    "zero",
    "nvidia0",
    "nvidia1",
    "nvidia2",
    "nvidia3",
    "nvidiactl",
    "nvidia-uvm",
    "nvidia-uvm-tools",
    "nvidia-modeset",
    "nvidia-caps",
    "nvme0n1",
    "nvidia10",
]


@pytest.mark.parametrize(
    "granted, expected",
    [
        (None, []),
        ([], []),
        ([1], ["nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", "nvidia1", "nvidiactl"]),
        ([0, 2], ["nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", "nvidia0", "nvidia2", "nvidiactl"]),
        ([1, 10], ["nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools", "nvidia1", "nvidia10", "nvidiactl"]),
    ],
)
def test_only_the_granted_gpus_device_nodes_are_passed(granted, expected):
    assert sandbox.gpu_device_nodes(granted, DEV) == [f"/dev/{n}" for n in expected]


def test_no_gpu_nodes_on_a_machine_without_them():
    assert sandbox.gpu_device_nodes([0], ["null", "zero"]) == []


def test_gpus_are_parsed_against_the_devices_present(monkeypatch):
    monkeypatch.setattr(sandbox, "_dev_entries", lambda: DEV)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert sandbox.parse_gpus(None) == [0, 1, 2, 3, 10]
    assert sandbox.parse_gpus("1,2") == [1, 2]
    assert sandbox.parse_gpus("none") is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert sandbox.parse_gpus(None) == [3]
    with pytest.raises(ValueError, match="no /dev/nvidia7"):
        sandbox.parse_gpus("7")
    with pytest.raises(ValueError, match="indices"):
        sandbox.parse_gpus("GPU-1234")


def test_the_sandbox_command_hides_the_course_and_drops_to_the_uid(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "_dev_entries", lambda: DEV)
    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    run.mkdir()
    (work / "course_checks.py").write_text("")
    (work / "answer.ipynb").write_text("{}")
    box = sandbox.Sandbox(uid=61003, gpus=[1])
    cmd = box.command(["python", "-m", "ipykernel_launcher"], work, run, {"PATH": "/usr/bin", "HOME": str(run)})
    text = " ".join(cmd)
    # bwrap by its full path: the kernel's cleared environment need not have it on PATH
    assert cmd[0] == shutil.which("bwrap") and cmd[-3:] == ["python", "-m", "ipykernel_launcher"]
    for flag in ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--clearenv", "--new-session"):
        assert flag in cmd
    assert f"--bind {work} {work}" in text and f"--ro-bind {work}/course_checks.py" in text
    assert "answer.ipynb" not in text  # the student's notebook stays theirs
    assert "--dev-bind /dev/nvidia1 /dev/nvidia1" in text and "/dev/nvidia0" not in text
    assert str(REPO / "solutions") not in text and f"--ro-bind {REPO} " not in text
    assert "--reuid=61003" in text and "--bounding-set=-all" in text and "--nproc=" in text
    assert (run / "hosts").read_text().startswith("127.0.0.1")
    tmpfs = cmd.index("--tmpfs")
    assert cmd[tmpfs + 1] == "/tmp" and all(i > tmpfs for i, a in enumerate(cmd) if a in ("--bind", "--ro-bind"))


def test_the_kernel_environment_carries_no_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = sandbox.Sandbox(uid=61000).environment(tmp_path, ["/opt/course"])
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["LANG"] == "C.UTF-8"
    assert env["HOME"] == str(tmp_path) and env["PYTHONPATH"] == "/opt/course" and env["CUDA_VISIBLE_DEVICES"] == ""


def test_the_static_scan_flags_tampering_but_not_honest_code():
    assert scan.scan_source("def track(b, n):\n    return {}\n") == set()
    assert "changes IPython's input transformers" in scan.scan_source(
        "get_ipython().input_transformers_cleanup.append(f)"
    )
    assert "imports ctypes" in scan.scan_source("import ctypes")
    assert "reads /proc (other processes)" in scan.scan_source("open('/proc/1/environ')")
    assert "rewrites a function's code" in scan.scan_source("f.__code__ = g.__code__")
    assert scan.scan_source("%%writefile x.py\nimport gc\n") == {"imports gc"}


@pytest.mark.parametrize("value", ["0.5", "0", "-1", "nan", "soon"])
def test_a_cell_timeout_under_one_second_is_refused(value, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.parser().parse_args(["a", "b", "--cell-timeout", value])
    assert exc.value.code == 2 and "--cell-timeout" in capsys.readouterr().err


def _info():
    return AssignmentInfo("hw", ["nb"], [GradeCell("nb", "t1", 2.0, False)])


def test_the_csv_keeps_students_a_run_did_not_grade(tmp_path):
    path = tmp_path / "grades.csv"
    report.write_csv(
        path,
        _info(),
        [
            {"student": "ann", "status": "graded", "score": 2.0, "cells": {"nb:t1": 2.0}},
            {"student": "bob", "status": "graded", "score": 0.0, "cells": {"nb:t1": 0.0}},
        ],
    )
    report.write_csv(path, _info(), [])  # an empty run
    report.write_csv(
        path,
        _info(),
        [
            {
                "student": "bob",
                "status": "graded",
                "score": 1.0,
                "cells": {"nb:t1": 1.0},
                "review": ["x.ipynb: imports gc"],
            }
        ],
    )
    rows = {r["student_id"]: r for r in csv.DictReader(io.StringIO(path.read_text()))}
    assert rows["ann"]["score"] == "2" and rows["bob"]["score"] == "1" and rows["bob"]["review"]
    assert [p.name for p in tmp_path.iterdir()] == ["grades.csv"]  # no temporary file left


def test_links_devices_and_big_files_are_refused(tmp_path):
    folder = tmp_path / "ann"
    folder.mkdir()
    other = tmp_path / "other.ipynb"
    other.write_text("{}")
    (folder / "hw.ipynb").symlink_to(other)
    os.mkfifo(folder / "pipe")
    (folder / "big.bin").write_bytes(b"\0" * (layout.MAX_FILE_BYTES + 1))
    sub = layout.Submission("ann", folder)
    assert layout.stage(sub, ["hw"], tmp_path / "staged") == []
    text = " | ".join(sub.problems)
    assert "hw.ipynb is a symbolic link" in text and "graded as missing" in text
    assert "pipe is not a regular file" in text and "big.bin is 50 MiB" in text
    assert sorted(p.name for p in (tmp_path / "staged").iterdir()) == []


def test_a_zip_that_unpacks_to_too_much_is_refused(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    with zipfile.ZipFile(subs / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("hw.ipynb", b"\0" * (layout.MAX_TOTAL_BYTES + 1))
    with zipfile.ZipFile(subs / "escape.zip", "w") as zf:
        zf.writestr("../../evil.ipynb", "{}")
    with zipfile.ZipFile(subs / "fine.zip", "w") as zf:
        zf.writestr("hw/hw.ipynb", "{}")
    found = {s.student: s for s in layout.discover(subs, "hw", unpack_to=tmp_path / "unpacked")}
    assert found["bomb"].folder is None and "unpacks to" in found["bomb"].problems[0]
    assert found["escape"].folder is None and "outside the archive" in found["escape"].problems[0]
    assert found["fine"].folder == tmp_path / "unpacked" / "fine" / "hw"
    assert not (tmp_path / "evil.ipynb").exists()


def test_the_sandbox_never_asks_for_more_than_the_hard_limits(tmp_path, monkeypatch):
    """In a container started with --ulimit nproc=1000, prlimit (unprivileged by then) may only lower."""
    import resource

    real = resource.getrlimit
    monkeypatch.setattr(
        sandbox.resource, "getrlimit", lambda which: (1000, 1000) if which == resource.RLIMIT_NPROC else real(which)
    )
    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    run.mkdir()
    cmd = sandbox.Sandbox(uid=61003).command(["python"], work, run, {"PATH": "/usr/bin"})
    assert "--nproc=1000" in cmd and f"--nproc={sandbox.Limits().processes}" not in cmd


def test_the_sandbox_uid_has_a_name(tmp_path, monkeypatch):
    """getpass.getuser() and pwd.getpwuid() raise KeyError for a uid without a passwd entry:
    torch's compile cache called them and failed every DDP job in the sandbox on the GPU machine."""
    monkeypatch.setattr(sandbox, "_dev_entries", lambda: DEV)
    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    run.mkdir()
    box = sandbox.Sandbox(uid=61004)
    env = box.environment(run, [])
    assert env["USER"] == env["LOGNAME"] == "student"
    cmd = " ".join(box.command(["true"], work, run, env))
    assert f"--ro-bind {run}/passwd /etc/passwd" in cmd and f"--ro-bind {run}/group /etc/group" in cmd
    assert f"student:x:61004:61004:student:{run}:" in (run / "passwd").read_text()


def test_inside_the_sandbox_the_uid_resolves_to_a_name(tmp_path):
    try:
        sandbox.check_available()
    except sandbox.SandboxUnavailable as exc:
        pytest.skip(f"no sandbox here: {exc}")
    import subprocess
    import sys

    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    (run / "home").mkdir(parents=True)
    for path in (tmp_path, work, run, run / "home"):
        os.chmod(path, 0o755)
    box = sandbox.Sandbox(uid=61005)
    env = box.environment(run / "home", sandbox.kernel_pythonpath())
    env.pop("USER")  # pwd itself must answer, not just the environment
    env.pop("LOGNAME")
    probe = "import getpass, os, pwd; print(os.getuid(), pwd.getpwuid(os.getuid()).pw_name, getpass.getuser())"
    done = subprocess.run(
        box.command([sys.executable, "-c", probe], work, run, env), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["61005", "student", "student"]


def test_two_grading_runs_never_share_a_sandbox_uid(tmp_path, monkeypatch):
    """Each run's worker kills everything of its uid after a submission: two runs on one machine
    that shared uids killed each other's kernels (an honest student lost points)."""
    monkeypatch.setattr(sandbox, "UID_LOCK_DIR", tmp_path / "locks")
    monkeypatch.setattr(sandbox, "UID_SLOTS", 4)
    killed = []
    monkeypatch.setattr(sandbox, "kill_uid", lambda uid: killed.append(uid) or 0)
    first = sandbox.claim_uids(3)
    second = sandbox.claim_uids(1)
    assert len(set(first.uids) | set(second.uids)) == 4
    assert sorted(killed) == sorted(first.uids + second.uids)  # a dead run's leftovers go first
    with pytest.raises(sandbox.SandboxUnavailable, match="in use by other grading runs"):
        sandbox.claim_uids(1)
    first.release()
    third = sandbox.claim_uids(2)
    assert set(third.uids) == set(first.uids[:2])
    second.release()
    third.release()
    third.release()  # twice is harmless


def test_a_killed_run_frees_its_uids(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "UID_LOCK_DIR", tmp_path / "locks")
    monkeypatch.setattr(sandbox, "UID_SLOTS", 2)
    monkeypatch.setattr(sandbox, "kill_uid", lambda uid: 0)
    import subprocess
    import sys

    code = (
        "import os, sys; from course_grading import sandbox; sandbox.UID_LOCK_DIR = sys.argv[1]; "
        "sandbox.kill_uid = lambda uid: 0; sandbox.claim_uids(2); print('held', flush=True); "
        "os.kill(os.getpid(), 9)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "locks")], capture_output=True, text=True, timeout=60
    )
    assert "held" in done.stdout and done.returncode == -9
    assert len(sandbox.claim_uids(2).uids) == 2  # the kernel dropped the dead run's locks


@pytest.mark.skipif(
    os.geteuid() != 0 or not (sandbox.CGROUP_ROOT / "cpu" / "cgroup.procs").exists(),
    reason="needs root and the cgroup v1 cpu controller",
)
def test_each_worker_slot_gets_its_own_equal_cpu_group_and_limits():
    """Equal cpu weights per slot: a submission's many processes share its slot's part of the
    cores, not the machine (the CPU-hog attack in test_attacks.py grades beside it)."""
    limits = sandbox.Limits(memory_bytes=1 << 30, processes=77)
    made = sandbox.make_cgroups(f"test-slot-{os.getpid()}", limits)
    try:
        assert (made["cpu"] / "cpu.shares").read_text().strip() == str(sandbox.CPU_SHARES)
        assert (made["pids"] / "pids.max").read_text().strip() == "77"
        assert int((made["memory"] / "memory.limit_in_bytes").read_text()) == 1 << 30
    finally:
        sandbox.remove_cgroups(made)
    assert not any(folder.exists() for folder in made.values())
