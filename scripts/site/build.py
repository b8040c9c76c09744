"""Build the course site: the 12 notebooks executed on this machine (CPU path here),
with their outputs and figures, plus the syllabus and the docs, as static HTML.

    python scripts/site/build.py [--out _build/site] [--fresh] [--allow-errors]

nbconvert does the work (nbclient executes, HTMLExporter renders with JupyterLab's
"lab" look; docs/decisions.md says why this tool). Executed notebooks are kept in
``<out>-executed/`` with a key of everything that can change their outputs (the
notebook, course_utils, docs/results, the pins, the course mode); a second build reuses
them unless ``--fresh``. The build fails when a notebook has an error output, unless
``--allow-errors`` (the browser check then reports them page by page).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from links import add_github_anchors, rewrite_links
from static_widgets import freeze_widgets

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TITLE = "GPU Acceleration for AI Containers"
CELL_TIMEOUT_S = 600
# inputs that can change a notebook's outputs, besides the notebook itself
KEY_INPUTS = ("course_utils", "docs/results", "pyproject.toml", "requirements.lock")


def notebooks() -> list[str]:
    return sorted(p.relative_to(REPO).as_posix() for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def doc_pages() -> list[str]:
    return ["README.md", *sorted(p.relative_to(REPO).as_posix() for p in (REPO / "docs").glob("*.md"))]


def _tree_digest(h, path: Path) -> None:
    if path.is_file():
        files = [path]
    else:
        files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for f in files:
        h.update(f.relative_to(REPO).as_posix().encode())
        h.update(f.read_bytes())


def execution_key(nb_path: str) -> str:
    h = hashlib.sha256()
    _tree_digest(h, REPO / nb_path)
    for name in KEY_INPUTS:
        if (REPO / name).exists():
            _tree_digest(h, REPO / name)
    h.update(os.environ.get("COURSE_GPU_MODE", "auto").encode())
    return h.hexdigest()


def execute(nb_path: str, cache: Path, fresh: bool) -> tuple[nbformat.NotebookNode, float, bool]:
    """The executed notebook (from the cache when its key matches), seconds spent, reused?"""
    key = execution_key(nb_path)
    cached, stamp = cache / Path(nb_path).name, cache / (Path(nb_path).name + ".key")
    if not fresh and cached.exists() and stamp.exists() and stamp.read_text() == key:
        return nbformat.read(cached, as_version=4), 0.0, True
    nb = nbformat.read(REPO / nb_path, as_version=4)
    start = time.monotonic()
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        allow_errors=True,
        store_widget_state=True,
        resources={"metadata": {"path": str((REPO / nb_path).parent)}},
    )
    client.execute()
    seconds = time.monotonic() - start
    cache.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, cached)
    stamp.write_text(key)
    return nb, seconds, False


def errors_in(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"cell {i}: {out.get('ename')}: {out.get('evalue', '')[:200]}")
    return found


def first_heading(text: str, fallback: str) -> str:
    m = re.search(r"^#\s+(.+)$", text, re.M)
    return m.group(1).strip() if m else fallback


def notebook_title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            return first_heading(cell.source, fallback)
    return fallback


def index_markdown(titles: dict[str, str]) -> str:
    rows = "\n".join(f"| {i:02d} | [{html.escape(titles[nb])}]({nb}) |" for i, nb in enumerate(notebooks()))
    label = {**titles, "README.md": "README: install, run, the course at a glance"}
    docs = "\n".join(f"- [{html.escape(label[d])}]({d})" for d in doc_pages() if d != "docs/syllabus.md")
    return f"""# {TITLE}

A hands-on course for people who train computer-vision models: how to use NVIDIA GPUs inside
containers. This site shows every notebook **executed** on the machine that built it, with its
outputs and figures; to run them yourself, clone the repository and `make lab` (see the
[README](README.md)).

**Planning a workshop?** The [syllabus](docs/syllabus.md) has a 3-hour path, a 1-day path and an
instructor's timing guide.

## The notebooks, in order

| # | notebook |
|---|---|
{rows}

## Reading

{docs}
"""


def nav_html(current: str, order: list[str], titles: dict[str, str]) -> tuple[str, str]:
    """Top navigation and the previous/next pager for the page at ``current`` (a site path)."""

    def href(target: str) -> str:
        return html.escape(os.path.relpath(target, os.path.dirname(current) or "."))

    links = [
        f'<a class="course-home" href="{href("index.html")}">{html.escape(TITLE)}</a>',
        f'<a href="{href("docs/syllabus.html")}">Syllabus</a>',
    ]
    for i, nb in enumerate(notebooks()):
        page = nb[: -len(".ipynb")] + ".html"
        mark = ' aria-current="page"' if page == current else ""
        links.append(f'<a href="{href(page)}" title="{html.escape(titles[nb])}"{mark}>{i:02d}</a>')
    pager = ""
    if current in order:
        i = order.index(current)
        prev_link = f'<a rel="prev" href="{href(order[i - 1])}">&larr; previous</a>' if i > 0 else "<span></span>"
        next_link = (
            f'<a rel="next" href="{href(order[i + 1])}">next &rarr;</a>' if i + 1 < len(order) else "<span></span>"
        )
        pager = prev_link + next_link
    return " ".join(links), pager


def footer_html(mode: str) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"Built {when} from commit {html.escape(commit)}; notebooks executed in course mode "
        f"<b>{html.escape(mode)}</b> (outputs are from that run, not from a GPU unless it says so)."
    )


def build(out: Path, fresh: bool, allow_errors: bool) -> int:
    started = time.monotonic()
    out = out.resolve()
    cache = out.with_name(out.name + "-executed")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    exporter = HTMLExporter(template_name="course", extra_template_basedirs=[str(HERE / "template")])
    mode = os.environ.get("COURSE_GPU_MODE", "auto")
    resources_base = {"site_css": (HERE / "site.css").read_text(encoding="utf-8"), "site_footer": footer_html(mode)}

    executed, titles, problems = {}, {}, {}
    for nb_path in notebooks():
        nb, seconds, reused = execute(nb_path, cache, fresh)
        executed[nb_path] = nb
        titles[nb_path] = notebook_title(nb, Path(nb_path).stem)
        problems[nb_path] = errors_in(nb)
        status = "reused" if reused else f"{seconds:5.1f} s"
        flag = f"  ERRORS: {len(problems[nb_path])}" if problems[nb_path] else ""
        print(f"  executed {nb_path:45s} {status}{flag}", flush=True)
    sources = {d: (REPO / d).read_text(encoding="utf-8") for d in doc_pages()}
    for d, text in sources.items():
        titles[d] = first_heading(text, Path(d).stem)
    sources["index.md"] = index_markdown(titles)
    titles["index.md"] = TITLE

    pages = set(executed) | set(sources)
    order = ["index.html", "docs/syllabus.html"] + [nb[: -len(".ipynb")] + ".html" for nb in notebooks()]
    copies: set[str] = set()
    for source in sorted(pages):
        if source in executed:
            nb = copy.deepcopy(executed[source])  # freezing widgets changes it
            freeze_widgets(nb)
        else:
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(sources[source])])
        nb.metadata["title"] = titles[source] if source == "index.md" else f"{titles[source]} · {TITLE}"
        target = source.rsplit(".", 1)[0] + ".html"
        top, pager = nav_html(target, order, titles)
        body, _ = exporter.from_notebook_node(nb, resources={**resources_base, "site_nav": top, "site_pager": pager})
        body = add_github_anchors(rewrite_links(body, source, pages - {"index.md"}, REPO, copies))
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        (out / target).write_text(body, encoding="utf-8")
    for rel in sorted(copies):
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, out / rel)
    total = time.monotonic() - started
    print(f"site: {len(pages)} pages and {len(copies)} linked files in {out} ({total:.0f} s)")
    failed = {name: p for name, p in problems.items() if p}
    for name, p in failed.items():
        print(f"error outputs in {name}:\n    " + "\n    ".join(p))
    if failed and not allow_errors:
        print("the site was built, but notebooks above raised errors (use --allow-errors to accept)")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "site")
    parser.add_argument("--fresh", action="store_true", help="execute every notebook again, ignoring the cache")
    parser.add_argument("--allow-errors", action="store_true", help="exit 0 even if a notebook has error outputs")
    args = parser.parse_args(argv)
    return build(args.out, args.fresh, args.allow_errors)


if __name__ == "__main__":
    sys.exit(main())
