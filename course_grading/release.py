"""Generate an assignment's release (exercises/) from its source (solutions/), safely.

    course-release multi_gpu_training
    course-release --all

nbgrader's own ``generate_assignment`` deletes the old release before it writes the new one, so
a failure half-way (``alembic`` not on PATH, a broken source notebook) leaves no release at all.
This command runs the same nbgrader step into a scratch folder next to ``exercises/`` and only
when it succeeded swaps the result in; a failed release leaves ``exercises/`` as it was. It finds
nbgrader's ``alembic`` next to this Python, so it works without the environment on PATH.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

from .course import load_config, put_python_bins_on_path


class ReleaseError(RuntimeError):
    pass


def prepare_path() -> None:
    """nbgrader runs `alembic` (installed next to this Python) through PATH."""
    try:
        put_python_bins_on_path()
    except RuntimeError as exc:
        raise ReleaseError(str(exc)) from None


def _load_config(course_dir: Path):
    try:
        return load_config(course_dir)
    except FileNotFoundError as exc:
        raise ReleaseError(str(exc)) from None


def release(course_dir: Path, assignment: str) -> Path:
    """Generate ``assignment`` and swap it into the release folder; return the release's path."""
    from nbgrader.apps import NbGraderAPI

    prepare_path()
    course_dir = course_dir.resolve()
    config = _load_config(course_dir)
    source = course_dir / config.CourseDirectory.get("source_directory", "source") / assignment
    if not source.is_dir():
        raise ReleaseError(f"no source assignment {source}")
    release_root = course_dir / config.CourseDirectory.get("release_directory", "release")
    release_root.mkdir(exist_ok=True)
    target = release_root / assignment
    _recover(target)
    scratch = Path(tempfile.mkdtemp(prefix=f".release-{assignment}-", dir=release_root))
    try:
        config.CourseDirectory.release_directory = str(scratch)  # absolute: nbgrader writes there
        result = NbGraderAPI(config=config).generate_assignment(assignment, force=True, create=True)
        fresh = scratch / assignment
        if not result.get("success") or not any(fresh.glob("*.ipynb")):
            detail = result.get("error") or result.get("log") or "no notebook was generated"
            raise ReleaseError(f"nbgrader could not generate {assignment!r}; {target} is unchanged:\n{detail[-4000:]}")
        _swap(fresh, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _swap(fresh: Path, target: Path) -> None:
    """Put ``fresh`` at ``target``: the old release is moved aside first and comes back on failure."""
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    had_old = target.exists()
    if had_old:
        os.rename(target, old)
    try:
        os.rename(fresh, target)
    except OSError:
        if had_old:
            os.rename(old, target)
        raise
    if had_old:
        shutil.rmtree(old)


def _recover(target: Path) -> None:
    """A run killed between the two renames left the old release aside: put it back."""
    if target.exists():
        for stale in target.parent.glob(f".{target.name}.old-*"):
            shutil.rmtree(stale, ignore_errors=True)
        return
    aside = sorted(target.parent.glob(f".{target.name}.old-*"))
    if aside:
        os.rename(aside[-1], target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", help="assignment names (folders of solutions/)")
    parser.add_argument("--all", action="store_true", help="every assignment in the source folder")
    parser.add_argument("--course-dir", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    try:
        names = args.assignments
        if args.all:
            config = _load_config(args.course_dir.resolve())
            source = args.course_dir / config.CourseDirectory.get("source_directory", "source")
            names = sorted(p.name for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not names:
            parser.error("name an assignment, or --all")
        for name in names:
            print(f"released {name} -> {release(args.course_dir, name)}")
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
