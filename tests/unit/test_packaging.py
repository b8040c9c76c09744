"""The two ways to build the environment must not drift apart."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req, maxsplit=1)[0].lower().replace("_", "-")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    extras = project["optional-dependencies"]
    reqs += extras["dev"] + extras["tf-cpu"]
    return {_name(r): r.replace(" ", "") for r in reqs}


def conda_pip_requirements() -> tuple[str, dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    reqs = {_name(r): r.replace(" ", "") for r in pip if not r.startswith("-")}
    flags = [r for r in pip if r.startswith("-")]
    return python, reqs, flags


def test_environment_yml_pins_exactly_what_pyproject_pins():
    ours = pyproject_requirements()
    _, conda, flags = conda_pip_requirements()
    assert conda == ours, (
        f"only in pyproject: {sorted(set(ours) - set(conda))}; only in environment.yml: "
        f"{sorted(set(conda) - set(ours))}; differing: "
        f"{sorted(k for k in ours.keys() & conda.keys() if ours[k] != conda[k])}"
    )
    assert "--editable ." in flags  # the environment installs the course itself


def test_python_version_agrees():
    python, _, _ = conda_pip_requirements()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    version = python.split("=")[-1]
    assert f">={version}" in requires


def test_every_pin_is_in_the_lock_with_the_same_version():
    lock = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            lock[_name(name)] = version.strip()
    for name, req in pyproject_requirements().items():
        pinned = req.split("==")[-1]
        assert lock.get(name) == pinned, f"{name}: pyproject {pinned}, lock {lock.get(name)}"


def test_deprecated_pynvml_package_is_not_a_dependency():
    assert "pynvml" not in pyproject_requirements()
    assert "nvidia-ml-py" in pyproject_requirements()


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"^\s*(make test)\s*$", readme, re.M)
    assert match, "the README gives no `make test` line"
    ci = (ROOT / ".ci/run").read_text()
    commands = [
        ln.strip()
        for ln in ci.splitlines()
        if ln.strip() and not ln.strip().startswith("#") and not ln.startswith(("set ", "cd "))
    ]
    assert commands == ["make test"], commands
