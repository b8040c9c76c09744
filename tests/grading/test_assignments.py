"""The exercise package as files: configuration, source notebooks and submission checks.
Fast: no kernel is started here."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from grading_support import ASSIGNMENTS, REPO

pytestmark = pytest.mark.grading


def source(assignment: str):
    return nbformat.read(REPO / "solutions" / assignment / f"{ASSIGNMENTS[assignment]}.ipynb", as_version=4)


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def test_config_points_nbgrader_at_the_course_layout():
    from course_grading.course import load_config

    config = load_config(REPO)
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "exercises"
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.timeout >= 120, "training cells launch torchrun: nbgrader's default 30 s is too short"
    assert "work" in config.CourseDirectory.ignore


def test_autograde_steps_are_nbgraders_with_the_robust_execute():
    # if an nbgrader upgrade changes its default steps, this fails rather than silently dropping one
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    from course_grading.course import load_config
    from course_grading.execute import RobustExecute

    ours = load_config(REPO).Autograde.autograde_preprocessors
    default = Autograde.class_traits()["autograde_preprocessors"].default()
    assert [RobustExecute if step is Execute else step for step in default] == ours


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_graded_part_has_visible_and_hidden_tests_with_points(assignment):
    nb = source(assignment)
    tests = [c for c in nb.cells if meta(c).get("grade") and not meta(c).get("solution")]
    answers = [c for c in nb.cells if meta(c).get("solution") and c.cell_type == "code"]
    assert len(tests) >= 6
    for cell in tests:
        name = meta(cell)["grade_id"]
        assert meta(cell)["locked"] and meta(cell)["points"] > 0, name
        first, _, rest = cell.source.partition("### BEGIN HIDDEN TESTS")
        assert "### END HIDDEN TESTS" in rest and rest.split("### END HIDDEN TESTS")[0].strip(), f"{name}: hidden tests"
        # what the learner sees: the cell without its hidden regions (there may be several)
        visible = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", cell.source, flags=re.S)
        assert "assert" in visible or "C.assert" in visible, f"{name}: visible checks"
        # each test cell reloads its helpers and refuses shadowed builtins before checking anything
        assert "C = importlib.reload(C)" in first and "C.no_shadowed_builtins(globals())" in first, name
    for cell in answers:
        assert "### BEGIN SOLUTION" in cell.source and "### END SOLUTION" in cell.source, meta(cell)["grade_id"]


def test_the_written_comparison_is_graded_by_a_person_with_a_rubric():
    nb = source("multi_gpu_training")
    manual = [c for c in nb.cells if meta(c).get("grade") and meta(c).get("solution")]
    assert [meta(c)["grade_id"] for c in manual] == ["comparison"]
    assert manual[0].cell_type == "markdown" and meta(manual[0])["points"] == 3
    assert "Rubric" in manual[0].source


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_notebooks_are_stored_without_outputs(folder):
    for path in (REPO / folder).glob("*/*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: {cell.get('id')}"


def test_release_hides_solutions_and_hidden_tests():
    for assignment, name in ASSIGNMENTS.items():
        text = (REPO / "exercises" / assignment / f"{name}.ipynb").read_text()
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Rubric", "HIDDEN_ARGS", "def hysteresis"):
            assert marker not in text, f"{assignment}: {marker!r} leaked into the release"
        assert "raise NotImplementedError()" in text


# --- checking submissions before nbgrader sees them -------------------------------------


def test_discover_reads_nbgrader_and_flat_layouts(tmp_path: Path):
    from course_grading.layout import discover

    (tmp_path / "ana" / "hw").mkdir(parents=True)
    (tmp_path / "ben").mkdir()
    (tmp_path / "notes.txt").write_text("not a student")
    (tmp_path / ".hidden").mkdir()
    found = {s.student: s.folder for s in discover(tmp_path, "hw")}
    assert found == {"ana": tmp_path / "ana" / "hw", "ben": tmp_path / "ben"}
    only = discover(tmp_path, "hw", students=["ben", "zoe"])
    assert [(s.student, s.folder is None) for s in only] == [("ben", False), ("zoe", True)]
    assert "no folder for 'zoe'" in only[1].problems[0]
    with pytest.raises(FileNotFoundError):
        discover(tmp_path / "nowhere", "hw")


@pytest.mark.parametrize(
    "content, says",
    [
        ('{"cells": [', "not valid notebook JSON"),
        ('{"hello": 1}', "not a valid notebook"),
        ("\udcff", None),  # written as bytes below
    ],
)
def test_a_broken_notebook_is_named_and_explained(tmp_path: Path, content, says):
    from course_grading.layout import notebook_problem

    path = tmp_path / "hw.ipynb"
    if says is None:
        path.write_bytes(b"\xff\xfe\x00broken")
        says = "not text"
    else:
        path.write_text(content)
    assert says in notebook_problem(path)
    good = nbformat.v4.new_notebook()
    path.write_text(json.dumps(good))
    assert notebook_problem(path) is None


def test_stage_skips_unknown_and_broken_notebooks_and_says_what_to_do(tmp_path: Path):
    from course_grading.layout import Submission, stage

    sub_dir = tmp_path / "sub"
    sub_dir.mkdir()
    nbformat.write(nbformat.v4.new_notebook(), sub_dir / "hw (1).ipynb")
    (sub_dir / "extra.ipynb").write_text("{")
    (sub_dir / "data.csv").write_text("a,b\n")
    sub = Submission("ana", sub_dir)
    staged = stage(sub, ["hw", "extra"], tmp_path / "dest")
    assert staged == []
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["data.csv"]
    text = " ".join(sub.problems)
    assert "extra.ipynb is not valid notebook JSON" in text and "graded as missing" in text
    assert "hw.ipynb was not submitted" in text and "found hw (1).ipynb instead" in text and "rename it" in text


@pytest.mark.parametrize(
    "student, ok",
    [("ana", True), ("a.b-c_d@x", True), ("two words", False), ("x+y", False), ("../up", False), ("", False)],
)
def test_student_ids_nbgrader_can_store(student, ok):
    from course_grading.layout import bad_student_id

    assert (bad_student_id(student) is None) == ok
