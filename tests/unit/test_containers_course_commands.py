"""Every docker command the course shows parses with the real docker client (or fails where it says so)."""

from pathlib import Path

import pytest

from course_utils.containers.course_check import check_course
from course_utils.containers.extract import course_sources, from_file

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def verdicts():
    return check_course(ROOT)


def test_every_course_docker_command_is_right(verdicts):
    bad = [v.line() for v in verdicts if not v.ok]
    assert not bad, "\n".join(bad)


def test_sources_include_readme_docs_docker_and_notebooks():
    sources = {p.relative_to(ROOT).as_posix() for p in course_sources(ROOT)}
    for must in [
        "docs/docker.md",
        "docker/Dockerfile",
        "docker/compose.yaml",
        "docker/entrypoint.sh",
        "notebooks/02_gpus_in_docker.ipynb",
    ]:
        assert must in sources
    if (ROOT / "README.md").exists():
        assert "README.md" in sources


@pytest.mark.parametrize(
    ("path", "at_least"),
    [
        ("docs/docker.md", 8),
        ("notebooks/01_container_toolkit.ipynb", 2),
        ("notebooks/02_gpus_in_docker.ipynb", 8),
        ("docker/Dockerfile", 2),
        ("docker/compose.yaml", 2),
    ],
)
def test_the_commands_we_show_are_found(path, at_least):
    # Guards the extractor: a silent zero here would make the check above pass vacuously.
    assert len(from_file(ROOT / path, path)) >= at_least


def test_the_tutorials_wrong_gpus_form_is_shown_failing(verdicts):
    shown = [v for v in verdicts if "all,capabilities=compute,utility" in " ".join(v.command.argv)]
    assert shown and all(v.command.expect == "parse error" and v.ok for v in shown)
