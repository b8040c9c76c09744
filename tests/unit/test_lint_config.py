"""The static checks stay one set: the pre-commit hooks run the tools that `make lint` (and so CI)
runs, offline, and mypy skips only third-party packages that really ship no types."""

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def hooks():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return [(repo["repo"], hook) for repo in config["repos"] for hook in repo["hooks"]]


def lint_recipe():
    makefile = (ROOT / "Makefile").read_text()
    match = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, "Makefile has no lint target"
    return match.group(1)


def test_every_hook_is_local_and_runs_an_installed_tool():
    # remote hook repositories would be cloned from the network, which CI and laptops may lack
    for repo, hook in hooks():
        assert repo == "local" and hook["language"] == "system", hook["id"]


@pytest.mark.parametrize("hook", [h for _, h in hooks()], ids=lambda h: h["id"])
def test_make_lint_runs_the_same_check_as_each_hook(hook):
    words = hook["entry"].split()
    tool = words[1] if words[0] == "python" else " ".join(w for w in words[:2] if not w.startswith("-"))
    assert tool in lint_recipe(), f"hook {hook['id']} runs `{tool}`, which `make lint` does not"


def test_make_test_runs_lint():
    makefile = (ROOT / "Makefile").read_text()
    prerequisites = re.search(r"^test:(.*)$", makefile, re.MULTILINE).group(1).split()
    assert "lint" in prerequisites


def test_the_pre_commit_config_is_valid():
    exe = shutil.which("pre-commit") or str(Path(sys.executable).parent / "pre-commit")
    if not Path(exe).exists():
        pytest.skip("pre-commit not installed (make install puts it in .venv)")
    proc = subprocess.run(
        [exe, "validate-config", str(ROOT / ".pre-commit-config.yaml")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def untyped_modules():
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    return sorted(
        {m.split(".")[0] for o in mypy.get("overrides", []) if o.get("ignore_missing_imports") for m in o["module"]}
    )


@pytest.mark.parametrize("name", untyped_modules())
def test_mypy_skips_only_packages_that_ship_no_types(name):
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        pytest.skip(f"{name} is not installed here")
    if not spec.submodule_search_locations:  # a single-file module (pynvml): types would be a .pyi beside it
        assert not Path(spec.origin).with_suffix(".pyi").exists(), f"{name} now ships a .pyi: drop the override"
    for folder in spec.submodule_search_locations or []:
        assert not (Path(folder) / "py.typed").exists(), (
            f"{name} now ships types (py.typed): drop it from ignore_missing_imports in pyproject.toml"
        )
    stubs = [d for d in (Path(p) for p in sys.path) if (d / f"{name}-stubs").is_dir()]
    assert not stubs, f"stubs for {name} are installed: drop it from ignore_missing_imports"
