"""A static look at a submission's own cells for what tampering with the grader needs.

It changes no score: it flags the submission for a person to look at (the report's
``review`` column), because the run-time guards (guard.py) may not see everything.
It reads every code cell that is not a test cell (tests are put back from the gradebook
anyway), including ``%%writefile`` scripts. The course's own solutions raise no flag
(tests/grading checks that).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

SUSPICIOUS_NAMES = {
    "get_ipython": "uses get_ipython() (the kernel's internals)",
    "input_transformers_cleanup": "changes IPython's input transformers",
    "input_transformers_post": "changes IPython's input transformers",
    "input_transformer_manager": "changes IPython's input transformers",
    "ast_transformers": "changes IPython's AST transformers",
    "run_cell": "touches the kernel's run_cell",
    "run_cell_async": "touches the kernel's run_cell",
    "settrace": "sets a trace function",
    "setprofile": "sets a profile function",
    "addaudithook": "adds an audit hook",
    "excepthook": "touches sys.excepthook",
    "displayhook": "touches sys.displayhook",
    "_getframe": "inspects stack frames",
    "f_back": "inspects stack frames",
    "f_globals": "inspects stack frames",
    "__code__": "rewrites a function's code",
    "__closure__": "reads a function's closure",
    "__builtins__": "touches the builtins",
    "course_checks": "touches the tests' helper module",
    "killpg": "sends signals to processes",
    "setsid": "detaches a process from the kernel",
}
SUSPICIOUS_MODULES = {
    "ctypes": "imports ctypes",
    "gc": "imports gc",
    "builtins": "imports builtins",
    "signal": "imports signal",
    "socket": "opens network sockets",
    "importlib": "imports importlib",
    "cffi": "imports cffi",
}
SUSPICIOUS_STRINGS = {
    "/proc": "reads /proc (other processes)",
    "solutions": "looks for the solutions folder",
    "gradebook": "looks for the gradebook",
    "submitted": "looks for other submissions",
}
SUSPICIOUS_CALLS = {
    ("os", "kill"): "sends signals to processes",
    ("os", "fork"): "forks the kernel",
    ("sys", "modules"): "edits sys.modules",
}


def _cell_code(source: str) -> str:
    lines = source.splitlines()
    if lines and lines[0].startswith("%%"):
        lines = lines[1:] if lines[0].startswith("%%writefile") else []
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in lines)


def scan_source(source: str) -> set[str]:
    try:
        tree = ast.parse(_cell_code(source))
    except SyntaxError:
        return set()
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in SUSPICIOUS_NAMES:
            found.add(SUSPICIOUS_NAMES[node.id])
        elif isinstance(node, ast.Attribute):
            if node.attr in SUSPICIOUS_NAMES:
                found.add(SUSPICIOUS_NAMES[node.attr])
            if isinstance(node.value, ast.Name) and (node.value.id, node.attr) in SUSPICIOUS_CALLS:
                found.add(SUSPICIOUS_CALLS[(node.value.id, node.attr)])
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top in SUSPICIOUS_MODULES:
                    found.add(SUSPICIOUS_MODULES[top])
                if top in SUSPICIOUS_NAMES:
                    found.add(SUSPICIOUS_NAMES[top])
            if (
                isinstance(node, ast.ImportFrom)
                and node.module in ("os",)
                and any(a.name in ("kill", "fork", "killpg", "setsid") for a in node.names)
            ):
                found.add("imports process functions from os")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for text, why in SUSPICIOUS_STRINGS.items():
                if text in node.value:
                    found.add(why)
    return found


def _is_test(cell: dict) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def scan_notebook(path: Path) -> list[str]:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    found: dict[str, None] = {}
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and cell.get("outputs"):
            found.setdefault("came with outputs already filled in (they are cleared before grading)")
        if cell.get("cell_type") != "code" or _is_test(cell):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        for why in sorted(scan_source(source)):
            found.setdefault(why)
    return [f"{Path(path).name}: {why}" for why in found]


def scan_folder(folder: Path) -> list[str]:
    out = []
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            out += scan_notebook(path)
        except (OSError, ValueError):
            continue
    return out
