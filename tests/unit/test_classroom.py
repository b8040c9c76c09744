"""The workshop hub's class file: accounts, roles and the GPU each learner gets."""

from __future__ import annotations

import pytest

from course_grading import classroom
from course_grading.classroom import ClassFileError, Classroom

MIG = "MIG-4f6e1a2b-0c3d-5e7f-8a9b-0c1d2e3f4a5b"


def _class(**kw):
    base = {"course_id": "c", "instructors": ("teach",), "learners": ("ana", "ben", "cy"), "gpus": ("0", "1")}
    return Classroom(**{**base, **kw})


def test_learners_take_the_gpus_in_turn_and_instructors_see_all():
    room = _class()
    assert [room.gpu_for(u) for u in ("ana", "ben", "cy")] == ["0", "1", "0"]
    assert room.gpu_for("teach") is None and room.environment("teach") == {}
    assert room.environment("ben") == {"CUDA_VISIBLE_DEVICES": "1", "NVIDIA_VISIBLE_DEVICES": "1"}
    assert room.learners_per_gpu() == {"0": ["ana", "cy"], "1": ["ben"]}


def test_a_mig_slice_for_one_learner_overrides_the_rotation():
    room = _class(assign={"cy": MIG})
    assert room.gpu_for("cy") == MIG and room.environment("cy")["CUDA_VISIBLE_DEVICES"] == MIG
    assert room.gpu_for("ana") == "0"


def test_no_gpus_means_no_restriction():
    room = _class(gpus=())
    assert room.gpu_for("ana") is None and room.environment("ana") == {}


def test_strangers_are_refused():
    with pytest.raises(KeyError, match="not in the class"):
        _class().gpu_for("mallory")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learners": ("ana", "teach")}, "instructor and learner"),
        ({"learners": ("ana", "ana")}, "listed twice"),
        ({"learners": ("Ana B",)}, "not a valid account name"),
        ({"gpus": ("gpu0",)}, "not a GPU"),
        ({"assign": {"zed": "0"}}, "not in `learners`"),
    ],
)
def test_mistakes_in_the_class_are_named(change, message):
    with pytest.raises(ClassFileError, match=message):
        _class(**change)


def test_load_reads_the_example_and_names_bad_files(tmp_path):
    from pathlib import Path

    example = classroom.load(Path(__file__).resolve().parents[2] / "hub" / "class.example.yaml")
    assert example.instructors == ("instructor",) and example.gpu_for("carol") == "0"
    with pytest.raises(ClassFileError, match=r"copy hub/class\.example\.yaml"):
        classroom.load(tmp_path / "missing.yaml")
    bad = tmp_path / "class.yaml"
    bad.write_text("instructors: [t]\nlearner: [a]\n")
    with pytest.raises(ClassFileError, match="unknown keys"):
        classroom.load(bad)
    bad.write_text("learners: [a]\n")
    with pytest.raises(ClassFileError, match="at least one instructor"):
        classroom.load(bad)
