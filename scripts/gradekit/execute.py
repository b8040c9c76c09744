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

from queue import Empty

from jupyter_core.utils import ensure_async
from nbclient.client import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from .forkkernel import ForkingKernelManager


class KernelUnresponsiveError(RuntimeError):
    """The kernel stayed busy after being interrupted at a cell's timeout."""


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class RobustExecute(Execute):
    """nbgrader's Execute, with kernels forked from a warm zygote when a grading worker has
    one (see forkkernel.py; otherwise kernels start as usual) and the guard described above."""

    interrupt_grace = Integer(
        10, help="Seconds to wait for a timed-out cell to stop after the interrupt before the "
                 "kernel is treated as hung and the cells below are not run.").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = ForkingKernelManager
        super().__init__(*args, **kwargs)

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
                f"(waited {self.interrupt_grace} s more)") from None
        return reply

    def preprocess(self, nb, resources=None, km=None):
        # nbconvert's ExecutePreprocessor.preprocess, with a per-cell guard
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        with self.setup_kernel():
            info_msg = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
            for index, cell in enumerate(self.nb.cells):
                try:
                    self.preprocess_cell(cell, resources, index)
                except DeadKernelError:
                    self._stop_at(index, "KernelDied", "the kernel died while running this cell "
                                  "(os._exit, exit(), a crash or running out of memory)")
                    break
                except KernelUnresponsiveError as exc:
                    self._stop_at(index, "KernelUnresponsive", str(exc))
                    break
        self.set_widgets_metadata()
        return self.nb, self.resources

    def _stop_at(self, index: int, ename: str, why: str) -> None:
        self.log.warning("Cell %d: %s; the cells below it are marked as not run", index, why)
        cells = self.nb.cells
        cells[index].setdefault("outputs", []).append(_error_output(ename, why + "."))
        for cell in cells[index + 1:]:
            if cell.cell_type == "code" and cell.source.strip():
                cell.outputs = [_error_output("NotRun", f"not run: in an earlier cell {why}.")]
                cell.execution_count = None
