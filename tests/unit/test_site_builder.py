"""The site builder's pure parts: link rewriting, GitHub anchors, frozen widgets."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "site"))

from links import add_github_anchors, github_slug, rewrite_links  # noqa: E402
from static_widgets import CLOSED_CLASS, STATE, VIEW, freeze_widgets  # noqa: E402

PAGES = {"notebooks/01_container_toolkit.ipynb", "docs/fact-check.md", "README.md"}


def _rewrite(html: str, source: str) -> tuple[str, set[str]]:
    copies: set[str] = set()
    return rewrite_links(html, source, PAGES, ROOT, copies), copies


def test_links_to_pages_become_html_and_keep_their_anchor():
    out, copies = _rewrite(
        '<a href="../docs/fact-check.md#row-3">x</a> <a href="01_container_toolkit.ipynb">y</a>',
        "notebooks/00_welcome.ipynb",
    )
    assert 'href="../docs/fact-check.html#row-3"' in out
    assert 'href="01_container_toolkit.html"' in out
    assert not copies


def test_links_to_other_repo_files_are_kept_and_copied_and_missing_ones_left_to_the_check():
    out, copies = _rewrite(
        '<img src="../docs/figures/container-stack.svg"> <a href="../nowhere.txt">n</a>',
        "notebooks/01_container_toolkit.ipynb",
    )
    assert 'src="../docs/figures/container-stack.svg"' in out and 'href="../nowhere.txt"' in out
    assert copies == {"docs/figures/container-stack.svg"}


def test_external_and_in_page_links_and_escapes_outside_the_repo_are_untouched():
    html = '<a href="https://x.org/a.md">a</a><a href="#top">b</a><a href="../../etc/passwd">c</a>'
    out, copies = _rewrite(html, "docs/fact-check.md")
    assert out == html and not copies


def test_github_anchor_is_added_next_to_nbconvert_id():
    assert github_slug("2. The tutorial's `--gpus` form!") == "2-the-tutorials---gpus-form"
    page = '<h2 id="1.-Ask-the-doctor">1. Ask the doctor<a class="anchor-link" href="#1.-Ask-the-doctor">¶</a></h2>'
    assert '<a id="1-ask-the-doctor" class="course-anchor"></a><h2' in add_github_anchors(page)


def _nb_with_widgets(state: dict, model_id: str):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("dash")
    cell.outputs = [
        nbformat.v4.new_output(
            "display_data", data={VIEW: {"model_id": model_id, "version_major": 2}, "text/plain": "VBox(...)"}
        )
    ]
    nb.cells = [cell]
    nb.metadata["widgets"] = {STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    return nb


def test_widgets_are_frozen_to_their_last_html_with_controls_disabled():
    state = {
        "box": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_html", "IPY_MODEL_btn", "IPY_MODEL_dd"]}},
        "html": {"model_name": "HTMLModel", "state": {"value": "<b class=cud-sl>GPU0 42%</b>"}},
        "btn": {"model_name": "ButtonModel", "state": {"description": "Stop"}},
        "dd": {
            "model_name": "DropdownModel",
            "state": {"description": "window", "_options_labels": ["1 min", "5 min"], "index": 1},
        },
    }
    nb = _nb_with_widgets(state, "box")
    assert freeze_widgets(nb) == 1
    data = nb.cells[0].outputs[0].data
    assert VIEW not in data and "widgets" not in nb.metadata
    html = data["text/html"]
    assert "<b class=cud-sl>GPU0 42%</b>" in html and '<button type="button" disabled>Stop</button>' in html
    assert "5 min" in html and "1 min" not in html


def test_a_widget_closed_before_the_end_is_marked_for_the_site_check_and_not_counted():
    nb = _nb_with_widgets({}, "gone")
    assert freeze_widgets(nb) == 0
    data = nb.cells[0].outputs[0].data
    assert list(data) == ["text/html"] and CLOSED_CLASS in data["text/html"]
