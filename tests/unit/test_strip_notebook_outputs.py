"""scripts/strip_notebook_outputs.py: the pre-commit hook and `make lint` check that enforce the
notebook hygiene rule (tests/notebooks/test_notebook_hygiene.py) by stripping, not just refusing."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "strip_notebook_outputs.py"
sys.path.insert(0, str(SCRIPT.parent))

import strip_notebook_outputs as stripper  # noqa: E402

OUTPUT = [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}]


def notebook():
    def code(src, tags=(), outputs=OUTPUT, count=1):
        return {
            "cell_type": "code",
            "execution_count": count,
            "metadata": {"tags": list(tags)},
            "outputs": list(outputs),
            "source": [src],
        }

    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title"]},
            code("print(42)"),
            code("print(42)", tags=[stripper.CHECKED_TAG]),
            code("x = 1", outputs=[], count=None),
        ],
        "metadata": {"kernelspec": {"name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write(path, nb):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1) + "\n")
    return path


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=60)


def test_strips_untagged_cells_and_keeps_the_nbval_checked_ones(tmp_path):
    path = write(tmp_path / "notebooks" / "nb.ipynb", notebook())
    proc = run(path)
    assert proc.returncode == 0, proc.stderr
    cells = json.loads(path.read_text())["cells"]
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None
    assert cells[2]["outputs"] == OUTPUT and cells[2]["execution_count"] == 1
    assert cells[0] == notebook()["cells"][0] and cells[3] == notebook()["cells"][3]


def test_nbgrader_notebooks_keep_no_outputs_even_when_tagged(tmp_path):
    path = write(tmp_path / "solutions" / "a1" / "a1.ipynb", notebook())
    assert run(path).returncode == 0
    assert all(
        not c.get("outputs") and c.get("execution_count") is None
        for c in json.loads(path.read_text())["cells"]
        if c["cell_type"] == "code"
    )


def test_check_changes_nothing_and_fails_naming_the_notebook(tmp_path):
    path = write(tmp_path / "notebooks" / "nb.ipynb", notebook())
    before = path.read_bytes()
    proc = run("--check", path)
    assert proc.returncode == 1
    assert str(path) in proc.stdout and "strip" in proc.stdout
    assert path.read_bytes() == before


def test_a_clean_notebook_is_left_byte_for_byte_and_a_second_run_is_a_no_op(tmp_path):
    path = write(tmp_path / "notebooks" / "nb.ipynb", notebook())
    assert run(path).returncode == 0
    stripped = path.read_bytes()
    assert run("--check", path).returncode == 0
    assert run(path).returncode == 0 and run(path).stdout == ""
    assert path.read_bytes() == stripped


def test_an_unreadable_notebook_is_reported_and_left_alone(tmp_path):
    path = tmp_path / "notebooks" / "broken.ipynb"
    path.parent.mkdir()
    path.write_text("{ not json")
    proc = run(path)
    assert proc.returncode == 2 and "cannot read it as a notebook" in proc.stderr
    assert path.read_text() == "{ not json"


def test_the_stored_notebooks_pass_the_check():
    notebooks = sorted(
        p
        for folder in ("notebooks", "solutions", "exercises")
        for p in (ROOT / folder).rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )
    proc = run("--check", *notebooks)
    assert proc.returncode == 0, proc.stdout


def test_the_hook_and_the_hygiene_test_keep_the_same_cells():
    spec = importlib.util.spec_from_file_location("hygiene", ROOT / "tests" / "notebooks" / "test_notebook_hygiene.py")
    hygiene = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hygiene)
    assert hygiene.CHECKED_TAG == stripper.CHECKED_TAG
