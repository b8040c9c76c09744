"""The instructor's course directory: its configuration, its gradebook, one grader at a time."""

from __future__ import annotations

import contextlib
import copy
import fcntl
import os
import shutil
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]  # the checkout (the self-test copies its solutions/)


def put_python_bins_on_path() -> None:
    """nbgrader runs ``alembic`` and the kernelspec runs ``python`` from PATH: this interpreter's
    bin folder goes first, so both work without the environment activated. RuntimeError, with the
    fix, when there is still no ``alembic``."""
    bins = [str(Path(sys.executable).parent), sysconfig.get_path("scripts")]
    os.environ["PATH"] = os.pathsep.join([*dict.fromkeys(bins), os.environ.get("PATH", "")])
    if shutil.which("alembic") is None:
        raise RuntimeError(
            "nbgrader needs the `alembic` command (installed with nbgrader) and it is not on "
            f"PATH nor in {bins[0]}: install nbgrader into this Python or put its bin folder on PATH"
        )


def prepare_environment() -> None:
    """What nbgrader and the kernels it starts need from the environment: this Python's bin
    folder on PATH, and the repository on PYTHONPATH so that a kernel can import
    ``course_utils`` even where the package is not installed.
    """
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO), *paths])
    put_python_bins_on_path()


def load_config(course_dir: Path):
    """The course's nbgrader_config.py, with the course directory as nbgrader's root."""
    from traitlets.config.loader import PyFileConfigLoader

    course_dir = Path(course_dir).resolve()
    if not (course_dir / "nbgrader_config.py").exists():
        raise FileNotFoundError(
            f"no nbgrader_config.py in {course_dir}: run from the course directory "
            "(the repository root) or pass --course-dir"
        )
    config = PyFileConfigLoader("nbgrader_config.py", path=str(course_dir)).load_config()
    config.CourseDirectory.root = str(course_dir)
    return config


def db_path(config) -> Path:
    url = config.CourseDirectory.get("db_url") or f"sqlite:///{Path(config.CourseDirectory.root) / 'gradebook.db'}"
    if not url.startswith("sqlite:///"):
        raise ValueError(f"the gradebook {url} is not a SQLite file; this grader merges into SQLite only")
    return Path(url[len("sqlite:///") :])


def source_dir(config) -> Path:
    return Path(config.CourseDirectory.root) / config.CourseDirectory.get("source_directory", "source")


@contextlib.contextmanager
def exclusive(config):
    """Hold the course's grading lock: two graders merging into one gradebook would interleave."""
    lock_path = db_path(config).with_suffix(".grading-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another grading run holds {lock_path}; wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    lock_path.unlink(missing_ok=True)


@dataclass
class GradeCell:
    notebook: str
    name: str
    max_score: float
    manual: bool  # graded by a person (a written answer)

    @property
    def column(self) -> str:
        return f"{self.notebook}:{self.name}"


@dataclass
class AssignmentInfo:
    name: str
    notebooks: list[str]
    cells: list[GradeCell]

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.cells)

    @property
    def auto_max_score(self) -> float:
        return sum(c.max_score for c in self.cells if not c.manual)


def register_assignment(config, assignment: str) -> AssignmentInfo:
    """Record the assignment's notebooks and grade cells in the course gradebook (what
    ``nbgrader generate_assignment`` does), without touching the release folder."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    folder = source_dir(config) / assignment
    if not folder.is_dir():
        raise FileNotFoundError(f"no assignment {assignment!r} in {source_dir(config)}")
    with tempfile.TemporaryDirectory(prefix="course_grading-release-") as release:
        scratch = copy.deepcopy(config)
        scratch.CourseDirectory.release_directory = release  # absolute: the release goes to a scratch folder
        result = NbGraderAPI(config=scratch).generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise RuntimeError(
            f"nbgrader could not register {assignment!r} in the gradebook:\n{result.get('error') or result.get('log')}"
        )
    with Gradebook(f"sqlite:///{db_path(config)}", config.CourseDirectory.course_id) as gb:
        found = gb.find_assignment(assignment)
        notebooks = sorted(nb.name for nb in found.notebooks)
        cells = []
        for nb in found.notebooks:
            manual = {cell.name for cell in nb.solution_cells}
            order = _positions(folder / f"{nb.name}.ipynb")
            found_cells = [
                GradeCell(nb.name, cell.name, float(cell.max_score), cell.name in manual) for cell in nb.grade_cells
            ]
            cells += sorted(found_cells, key=lambda c: order.get(c.name, len(order)))
    return AssignmentInfo(assignment, notebooks, sorted(cells, key=lambda c: c.notebook))


def _positions(notebook: Path) -> dict[str, int]:
    """grade_id -> position in the source notebook (report columns follow the notebook)."""
    import nbformat

    cells = nbformat.read(notebook, as_version=4).cells
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
    return {grade_id: i for i, grade_id in enumerate(ids) if grade_id}
