"""Helpers for this assignment's tests (given; the autograder uses its own copy of this file).

Each test cell reloads this module and checks the notebook first, so a notebook that
redefines a name (a helper, or a Python builtin such as ``all`` or ``len``) cannot
change what a test checks.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path

# the builtins the tests use: shadowing one of them in the notebook fails the test
TEST_BUILTINS = (
    "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "isinstance", "len", "list",
    "max", "min", "range", "repr", "round", "set", "sorted", "str", "sum", "tuple", "type", "zip",
    "AssertionError", "Exception", "ValueError",
)
SCRIPT = Path("work") / "ddp_train.py"


def no_shadowed_builtins(namespace: dict) -> None:
    shadowed = [name for name in TEST_BUILTINS
                if name in namespace and namespace[name] is not getattr(builtins, name)]
    if shadowed:
        raise AssertionError(f"this notebook redefines the Python builtin(s) {', '.join(shadowed)}; "
                             "the tests rely on them: rename your variables and run again")


def load_script(path=SCRIPT):
    """A fresh import of the training script (its functions, without running main())."""
    path = Path(path)
    assert path.exists(), f"{path} does not exist: run the cell that writes it (%%writefile) first"
    name = f"_ddp_train_under_test_{id(object())}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up here
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def load_run(out) -> dict:
    """What a DDP run left in ``out``: run.json, the rank-0 log, each rank's seen indices and
    the final parameters."""
    import torch

    out = Path(out)
    missing = [n for n in ("run.json", "model.pt", "seen_rank0.json") if not (out / n).exists()]
    assert not missing, f"the run left no {', '.join(missing)} in {out}: did it finish?"
    log = out / "log.jsonl"
    seen = {}
    for path in sorted(out.glob("seen_rank*.json")):
        record = json.loads(path.read_text())
        seen[record["rank"]] = record
    return {
        "run": json.loads((out / "run.json").read_text()),
        "log": [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else [],
        "seen": seen,
        "state": torch.load(out / "model.pt", map_location="cpu", weights_only=True),
    }


def assert_state_close(state: dict, reference: dict, what: str, atol: float = 1e-5) -> None:
    import torch

    assert isinstance(state, dict) and sorted(state) == sorted(reference), (
        f"{what}: parameters {sorted(state) if isinstance(state, dict) else type(state).__name__}, "
        f"expected {sorted(reference)}")
    for name, want in reference.items():
        got = state[name]
        assert isinstance(got, torch.Tensor) and got.shape == want.shape, f"{what}: {name} has the wrong shape"
        diff = (got.detach().cpu().double() - want.double()).abs().max().item()
        assert diff <= atol + 1e-4 * want.abs().max().item(), (
            f"{what}: {name} differs from the reference by up to {diff:.2e}")


def cli_args(out, options: dict) -> list[str]:
    """``{"batch_size": 16}`` -> ``["--out", out, "--batch-size", "16"]``."""
    args = ["--out", str(out)]
    for key, value in options.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    return args


def scratch() -> Path:
    """A fresh folder for a test's files, under work/ (graded with the notebook, not left in /tmp)."""
    Path("work").mkdir(exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="check-", dir="work"))


@contextlib.contextmanager
def quiet():
    """Keep library warnings (Python's, and NCCL's or gloo's printed from C++) out of the test's
    output: nbgrader scores a test cell that writes to stderr as failed, whatever it checked.
    What was printed is shown if the block fails."""
    sys.stderr.flush()
    saved, python_err = os.dup(2), io.StringIO()
    with tempfile.TemporaryFile(mode="w+b") as sink, warnings.catch_warnings(), \
            contextlib.redirect_stderr(python_err):
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException as exc:
            os.dup2(saved, 2)
            sink.seek(0)
            printed = (python_err.getvalue() + sink.read().decode(errors="replace")).strip()
            if printed:
                exc.add_note("printed while it ran:\n" + printed[-2000:])
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
