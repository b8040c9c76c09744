"""11_best_practices links every practice to a notebook that exists and demonstrates it."""

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NB = json.loads((NOTEBOOKS / "11_best_practices.ipynb").read_text())


def _source(cell):
    return "".join(cell["source"])


def _table_links():
    table = next(_source(c) for c in NB["cells"] if c["cell_type"] == "markdown" and "| practice |" in _source(c))
    return re.findall(r"\[([\w]+)\]\(([\w]+\.ipynb)\)", table)


def _checked_practices():
    code = next(_source(c) for c in NB["cells"] if c["cell_type"] == "code" and "PRACTICES = [" in _source(c))
    tree = ast.parse(code)
    assign = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "PRACTICES")
    return ast.literal_eval(assign.value)


def test_table_and_check_cell_list_the_same_practices():
    links = _table_links()
    assert len(links) >= 10
    assert all(f"{name}.ipynb" == target for name, target in links)
    assert [name for name, _ in links] == [name for name, _ in _checked_practices()]


@pytest.mark.parametrize(("notebook", "evidence"), _checked_practices())
def test_each_linked_notebook_exists_and_shows_the_practice(notebook, evidence):
    path = NOTEBOOKS / f"{notebook}.ipynb"
    assert path.exists(), f"{path.name} is linked from 11_best_practices but does not exist (yet)"
    text = "\n".join(_source(c) for c in json.loads(path.read_text())["cells"])
    assert evidence in text, f"{path.name} does not mention {evidence!r}"


def test_every_course_notebook_section_is_covered():
    linked = {name for name, _ in _table_links()}
    expected = {f"{n:02d}" for n in range(1, 11)}
    assert {name[:2] for name in linked} == expected
