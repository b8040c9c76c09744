"""hub/z2jh-values.yaml is valid for the Zero to JupyterHub chart it names (its values schema,
hub/z2jh/values.schema.json) and asks for what the course needs: the workshop image, a GPU per
learner, nbgrader's exchange and the instructor role."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

HUB = Path(__file__).resolve().parents[2] / "hub"


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load((HUB / "z2jh-values.yaml").read_text())


@pytest.fixture(scope="module")
def schema():
    return json.loads((HUB / "z2jh" / "values.schema.json").read_text())


def _merged(values: dict) -> dict:
    """The chart's defaults with these values over them, as helm merges them before validating."""

    def merge(base, over):
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
        return over

    return merge(yaml.safe_load((HUB / "z2jh" / "values.default.yaml").read_text()), values)


def test_values_match_the_chart_schema(values, schema):
    jsonschema.validate(_merged(values), schema)


def test_the_schema_catches_mistakes(values, schema):
    wrong = json.loads(json.dumps(values))
    wrong["singleuser"]["extraResource"]["limitz"] = {"nvidia.com/gpu": "1"}  # a typo
    with pytest.raises(jsonschema.ValidationError, match="limitz"):
        jsonschema.validate(_merged(wrong), schema)


def test_the_course_needs_are_there(values):
    user = values["singleuser"]
    assert user["extraResource"]["limits"]["nvidia.com/gpu"] == "1"
    assert user["image"]["name"].endswith("gpu-course/workshop")
    mounts = {m["mountPath"] for m in user["storage"]["extraVolumeMounts"]}
    assert {"/srv/nbgrader/exchange", "/dev/shm"} <= mounts
    assert user["extraEnv"]["COURSE_EXCHANGE"] == "/srv/nbgrader/exchange"
    assert "instructor" in values["hub"]["loadRoles"]
    assert values["hub"]["config"]["Authenticator"]["admin_users"] == []
