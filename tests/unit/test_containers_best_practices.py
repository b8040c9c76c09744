"""11_best_practices links every practice to a notebook that exists and demonstrates it.

(This check used to be a code cell of the notebook; it is QA, not learning, so it lives here.)
"""

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


# Each practice of the table, in order: the notebook it links and a piece of evidence it must contain.
PRACTICES = [
    ("01_container_toolkit", "nvidia-ctk runtime configure"),
    ("01_container_toolkit", "ubuntu:24.04 nvidia-smi"),
    ("02_gpus_in_docker", '"capabilities=compute,utility"'),
    ("02_gpus_in_docker", "nvidia.com/gpu=0:1"),
    ("02_gpus_in_docker", "--ipc=host"),
    ("03_gpu_memory_limits", "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"),
    ("04_dockerfiles", "check_runtime_on_driver"),
    ("04_dockerfiles", "HEALTHCHECK"),
    ("05_tensorflow_memory", "set_memory_growth"),
    ("06_pytorch_memory", "empty_cache"),
    ("07_data_parallel", "DataParallel"),
    ("08_distributed_training", "torchrun"),
    ("09_monitoring", "docker stats"),
    ("10_common_issues", "OutOfMemoryError"),
    ("10_common_issues", "nvidia-ctk cdi list"),
]


def _checked_practices():
    return PRACTICES


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
