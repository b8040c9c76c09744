"""Course-wide rules for notebooks: stored without outputs, in the tutorial's
order, and never running a command that changes the host or the GPU."""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COURSE = [
    "00_welcome",
    "01_container_toolkit",
    "02_gpus_in_docker",
    "03_gpu_memory_limits",
    "04_dockerfiles",
    "05_tensorflow_memory",
    "06_pytorch_memory",
    "07_data_parallel",
    "08_distributed_training",
    "09_monitoring",
    "10_common_issues",
    "11_best_practices",
]
ALL_NOTEBOOKS = sorted(
    p
    for folder in ("notebooks", "solutions", "exercises")
    for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)
CHECKED_TAG = "nbval-check-output"  # nbval's own cell tag: the marker stays out of the learner's sight
OLD_MARKER = "NBVAL_CHECK_OUTPUT"  # the comment form it replaced; learners saw it in the cell

# Commands a course cell must never run: they change a (possibly shared) host or GPU.
FORBIDDEN = [
    (
        re.compile(
            r"nvidia-smi\b.*\s(-pl|--power-limit|-lgc|--lock-gpu-clocks|-ac|--applications-clocks|-mig|"
            r"--multi-instance-gpu|-r|--gpu-reset|-pm|--persistence-mode|-c|--compute-mode)\b"
        ),
        "changes GPU settings",
    ),
    (re.compile(r"nvidia-smi\s+mig\s+-(cgi|dgi|cci|dci)\b"), "changes the MIG layout"),
    (re.compile(r"\bsystemctl\s+(restart|start|stop|enable|disable|daemon-reload)\b"), "changes host services"),
    (re.compile(r"\bapt(-get)?\s+(install|remove|purge|update|upgrade)\b"), "changes host packages"),
    (re.compile(r"\bapt-key\b"), "changes host keyrings"),
    (re.compile(r"nvidia-ctk\s+(runtime\s+configure|cdi\s+generate)\b"), "changes the Docker configuration"),
    (re.compile(r"/etc/docker/daemon\.json"), "touches the Docker daemon configuration"),
    (re.compile(r"\bmodprobe\b|\bnvidia-modprobe\b"), "loads kernel modules"),
]
SHELL_CALLS = {"system", "run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"}


def load(path):
    return json.loads(path.read_text())


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def executed_shell_text(src: str) -> list[str]:
    """The parts of a code cell that reach a shell: `!` lines, %%bash/%%sh cells,
    and string arguments of subprocess/os calls."""
    lines = src.splitlines()
    if lines and re.match(r"%%(bash|sh|script)", lines[0]):
        return lines[1:]
    found = [ln.lstrip()[1:] for ln in lines if ln.lstrip().startswith("!")]
    python = "\n".join(ln for ln in lines if not ln.lstrip().startswith(("!", "%")))
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in SHELL_CALLS:
                for arg in ast.walk(node):
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.append(arg.value)
                # an argv list is one command line
                for arg in node.args:
                    if isinstance(arg, (ast.List, ast.Tuple)):
                        found.append(
                            " ".join(
                                e.value for e in arg.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
                            )
                        )
    return found


def test_the_course_has_one_notebook_per_section_in_order():
    present = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert present == COURSE


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_stored_without_outputs(path):
    nbgrader = path.relative_to(ROOT).parts[0] in ("solutions", "exercises")
    for cell in code_cells(load(path)):
        if cell.get("outputs") or cell.get("execution_count"):
            assert not nbgrader, f"{path}: nbgrader notebooks keep no outputs"
            assert CHECKED_TAG in cell.get("metadata", {}).get("tags", []), (
                f"{path.name}: a cell keeps outputs; strip them (only cells tagged `{CHECKED_TAG}` keep "
                f"theirs): {source(cell)[:60]!r}"
            )


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_checked_cells_use_the_tag_not_a_comment(path):
    for cell in code_cells(load(path)):
        assert OLD_MARKER not in source(cell), (
            f"{path.name}: replace the `# {OLD_MARKER}` comment by the cell tag `{CHECKED_TAG}` "
            f"(cell metadata), which nbval reads the same way: {source(cell)[:60]!r}"
        )
        tags = cell.get("metadata", {}).get("tags", [])
        if CHECKED_TAG in tags:
            assert cell.get("outputs"), f"{path.name}: a `{CHECKED_TAG}` cell has no stored output to compare"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_cell_changes_the_host_or_the_gpu(path):
    for cell in code_cells(load(path)):
        for text in executed_shell_text(source(cell)):
            for pattern, why in FORBIDDEN:
                assert not pattern.search(text), f"{path.name} runs `{text.strip()}`, which {why}"


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.name)
def test_each_notebook_opens_with_a_title_and_uses_the_python3_kernel(path):
    nb = load(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and source(first).startswith("# ")
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_the_checker_catches_what_it_should():
    assert executed_shell_text("!nvidia-smi -pl 150") == ["nvidia-smi -pl 150"]
    assert executed_shell_text("import subprocess\nsubprocess.run(['nvidia-smi', '-lgc', '1500'])")
    assert executed_shell_text("%%bash\nsudo systemctl restart docker") == ["sudo systemctl restart docker"]
    harmless = executed_shell_text("print('sudo systemctl restart docker')")
    assert harmless == []
    texts = executed_shell_text("import os\nos.system('sudo apt-get install -y nvidia-container-toolkit')")
    assert any(p.search(t) for t in texts for p, _ in FORBIDDEN)
