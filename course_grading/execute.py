"""An nbgrader ``Execute`` that grades what ran when a submission kills or hangs its kernel.

Stock nbgrader aborts the whole submission when the kernel dies (``os._exit``,
``exit()``, a segfault, running out of memory) and, when a cell ignores the
interrupt sent at its timeout, waits the full timeout again on every later cell.
Here the cell that killed or hung the kernel gets an error output saying so, every
later code cell gets a "not run" error (so its tests score zero rather than pass
on an empty output), and grading goes on to save the scores of the cells that
did run. The student sees the reason in the feedback.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_core.utils import ensure_async
from nbclient.client import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer

from . import guard, sandbox

INTEGRITY = "GradingIntegrityError"
TIME_BUDGET = "TimeBudgetExceeded"


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class KernelUnresponsiveError(RuntimeError):
    """The kernel stayed busy after being interrupted at a cell's timeout."""


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class RobustExecute(Execute):
    """nbgrader's Execute, with the kernel in the grading worker's sandbox (sandbox.py), the
    integrity guard (guard.py) and the per-cell guard described above."""

    interrupt_grace = Integer(
        10,
        help="Seconds to wait for a timed-out cell to stop after the interrupt before the "
        "kernel is treated as hung and the cells below are not run.",
    ).tag(config=True)

    time_budget = Float(
        0,
        help="Seconds for all the cells of a submission together (0: no budget). Each cell may "
        "run until its own timeout or the rest of the budget, whichever comes first; once the "
        "budget is spent, the cells below are not run, so a looping submission costs a few "
        "times an honest one (grading.py sets it).",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = sandbox.SandboxKernelManager
        super().__init__(*args, **kwargs)
        self._budget_end: float | None = None

    def _get_timeout(self, cell):
        timeout = super()._get_timeout(cell)
        if self._budget_end is None or cell is None:  # the guard's own probes are not the learner's time
            return timeout
        left = max(1, int(self._budget_end - time.monotonic() + 0.999))
        return left if timeout is None else min(timeout, left)

    def _budget_spent(self) -> bool:
        return self._budget_end is not None and time.monotonic() >= self._budget_end

    async def _async_handle_timeout(self, timeout, cell=None):
        reply = await super()._async_handle_timeout(timeout, cell)
        if reply is None:  # no interrupt, or nbclient waits for the real reply itself
            return reply
        # The interrupted request answers on the shell channel once the kernel is
        # idle again; a loop that swallows KeyboardInterrupt never answers.
        try:
            await ensure_async(self.kc.shell_channel.get_msg(timeout=self.interrupt_grace))
        except Empty:
            raise KernelUnresponsiveError(
                f"the cell ran past the {timeout} s limit and did not stop when interrupted "
                f"(waited {self.interrupt_grace} s more)"
            ) from None
        return reply

    def preprocess(self, nb, resources=None, km=None):
        # nbconvert's ExecutePreprocessor.preprocess, with the guards
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        cwd = str(Path(resources.get("metadata", {}).get("path") or ".").resolve())
        checks = Path(cwd) / "course_checks.py"
        checks_sha = hashlib.sha256(checks.read_bytes()).hexdigest() if checks.is_file() else None
        findings: list[str] = []
        with self.setup_kernel(cwd=cwd):
            provisioner = getattr(self.km, "provisioner", None)
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            self._trusted_preamble(cwd)
            if self.time_budget > 0:
                self._budget_end = time.monotonic() + self.time_budget
            stopped = False
            for index, cell in enumerate(self.nb.cells):
                if _is_test(cell) and not stopped:
                    found = self._probe(cwd, checks_sha)
                    if found:
                        findings += [f for f in found if f not in findings]
                        cell.outputs = [
                            _error_output(INTEGRITY, "not run: the kernel was tampered with (" + "; ".join(found) + ")")
                        ]
                        cell.execution_count = None
                        continue
                try:
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    self._stop_at(
                        index,
                        "KernelDied",
                        "the kernel died while running this cell "
                        "(os._exit, exit(), a crash, running out of memory, or the grading guard)",
                    )
                    stopped = True
                    break
                except KernelUnresponsiveError as exc:
                    self._stop_at(index, "KernelUnresponsive", str(exc))
                    stopped = True
                    break
                if cell.cell_type == "code" and self._budget_spent():
                    self._stop_at(
                        index,
                        TIME_BUDGET,
                        f"this submission's cells used their whole "
                        f"time budget of {self.time_budget:.0f} s (a few times what the course's solution "
                        "needs) by the end of this cell",
                    )
                    stopped = True
                    break
            if not stopped:
                findings += [f for f in self._probe(cwd, checks_sha) if f not in findings]
        guard_log = getattr(provisioner, "guard_log", "")
        if guard_log:
            findings.append("the grading guard stopped the kernel: " + guard_log.strip().splitlines()[0])
        if findings:  # a note for the report, in a cell nbgrader does not grade
            note = nbformat.v4.new_code_cell("# grading integrity check")
            note.outputs = [_error_output(INTEGRITY, "; ".join(findings))]
            self.nb.cells.append(note)
        if sandbox.CURRENT is not None:
            sandbox.sweep(Path(cwd))
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _trusted_preamble(self, cwd: str) -> None:
        trusted = sandbox.readonly_python_paths() + [
            str(p) for p in Path(cwd).iterdir() if p.is_file() and p.suffix == ".py" and p.stat().st_uid == 0
        ]
        rundir = getattr(getattr(self.km, "provisioner", None), "rundir", None)
        log = str(Path(rundir) / guard.GUARD_LOG) if rundir else os.devnull
        reply = self.wait_for_reply(self.kc.execute(guard.preamble(trusted, log), silent=True, store_history=False))
        if reply is None or reply["content"].get("status") != "ok":
            raise RuntimeError(f"the grading guard could not be installed in the kernel: {reply}")

    def _probe(self, cwd: str, checks_sha: str | None) -> list[str]:
        msg_id = self.kc.execute(
            "",
            silent=True,
            store_history=False,
            user_expressions={"probe": guard.probe_expression(cwd, checks_sha, tuple(sandbox.readonly_python_paths()))},
        )
        try:
            reply = self.wait_for_reply(msg_id)
        except (DeadKernelError, RuntimeError, TimeoutError) as exc:
            return [f"the integrity check did not answer ({type(exc).__name__})"]
        return guard.parse_probe(reply or {})

    def _stop_at(self, index: int, ename: str, why: str) -> None:
        self.log.warning("Cell %d: %s; the cells below it are marked as not run", index, why)
        cells = self.nb.cells
        cells[index].setdefault("outputs", []).append(_error_output(ename, why + "."))
        for cell in cells[index + 1 :]:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [_error_output("NotRun", f"not run: in an earlier cell {why}.")]
                cell.execution_count = None
