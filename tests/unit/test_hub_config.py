"""hub/jupyterhub_config.py, loaded as JupyterHub loads it: the class's accounts, the instructor
role, and what each user's server starts with (GPU, learner or instructor Jupyter settings)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("jupyterhub")
from traitlets.config.loader import PyFileConfigLoader

HUB = Path(__file__).resolve().parents[2] / "hub"


@pytest.fixture
def config(tmp_path, monkeypatch):
    (tmp_path / "class.yaml").write_text(
        "instructors: [teach]\nlearners: [ana, ben, cy]\ngpus: ['0', '1']\n"
        "assign: {cy: MIG-4f6e1a2b-0c3d-5e7f-8a9b-0c1d2e3f4a5b}\n"
    )
    monkeypatch.setenv("COURSE_HUB_CLASS", str(tmp_path / "class.yaml"))
    monkeypatch.setenv("COURSE_HUB_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("COURSE_EXCHANGE", str(tmp_path / "exchange"))
    monkeypatch.setenv("COURSE_DIR", str(tmp_path / "course"))
    for name in ("JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "COURSE_HUB_SPAWNER", "COURSE_HUB_PYTHON"):
        monkeypatch.delenv(name, raising=False)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(HUB)).load_config(), tmp_path


def _spawn_env(c, user: str) -> dict:
    spawner = SimpleNamespace(user=SimpleNamespace(name=user), environment={})
    c.Spawner.pre_spawn_hook(spawner)
    return spawner.environment


def test_accounts_roles_and_folders(config):
    c, tmp = config
    assert c.Authenticator.allowed_users == {"teach", "ana", "ben", "cy"}
    assert c.Authenticator.admin_users == set()
    (role,) = c.JupyterHub.load_roles
    assert role["users"] == ["teach"] and "access:servers" in role["scopes"]
    assert c.JupyterHub.load_groups["nbgrader-gpu-containers-course"]["users"] == ["ana", "ben", "cy"]
    assert (tmp / "state").stat().st_mode & 0o777 == 0o700
    if os.geteuid() == 0:  # the hub creates the exchange as nbgrader documents it
        assert (tmp / "exchange").stat().st_mode & 0o7777 == 0o1777
    assert c.Spawner.cmd[1:] == ["-m", "jupyterhub.singleuser"]


def test_each_server_gets_its_gpu_and_its_role_settings(config):
    c, tmp = config
    ana, ben, cy, teach = (_spawn_env(c, u) for u in ("ana", "ben", "cy", "teach"))
    assert (ana["CUDA_VISIBLE_DEVICES"], ben["CUDA_VISIBLE_DEVICES"]) == ("0", "1")
    assert cy["CUDA_VISIBLE_DEVICES"].startswith("MIG-")
    assert "CUDA_VISIBLE_DEVICES" not in teach
    assert ana["JUPYTER_CONFIG_PATH"] == str(HUB / "learner") and "COURSE_DIR" not in ana
    assert teach["JUPYTER_CONFIG_PATH"] == str(HUB / "instructor") and teach["COURSE_DIR"] == str(tmp / "course")
    assert ana["COURSE_EXCHANGE"] == str(tmp / "exchange")


def test_learner_settings_hide_instructor_tools():
    import json

    page = json.loads((HUB / "learner" / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list"} == {
        k for k, v in page.items() if v
    }
    server = json.loads((HUB / "learner" / "jupyter_server_config.d" / "nbgrader-learner.json").read_text())
    ext = server["ServerApp"]["jpserver_extensions"]
    assert ext["nbgrader.server_extensions.formgrader"] is False and ext["nbgrader.server_extensions.assignment_list"]
