"""Feedback that does not give the hidden tests away.

nbgrader's feedback page shows the autograded notebook: the test cells with their hidden
tests restored, and tracebacks quoting them. By default the grader shows, for each test
cell, only its name, its score and the error's type and message; ``--feedback-detail
full`` keeps nbgrader's page as it is.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from nbformat.v4 import new_output
from traitlets import Bool


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class RedactTests(Preprocessor):
    """Replace each test cell's source by its name and its outputs by the error message alone;
    hide any other output that quotes a test's code (a cell can print ``In``, the history)."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled

    def preprocess(self, nb, resources):
        self._test_lines = {
            line.strip()
            for cell in nb.cells
            if _is_test(cell)
            for line in cell.source.splitlines()
            if len(line.strip()) >= 16
        }
        return super().preprocess(nb, resources)

    def _quotes_a_test(self, output) -> bool:
        texts = [
            output.get("text", ""),
            *(str(v) for v in output.get("data", {}).values()),
            output.get("evalue", ""),
            *output.get("traceback", []),
        ]
        blob = "\n".join(t if isinstance(t, str) else "".join(t) for t in texts)
        return any(line in blob for line in self._test_lines)

    def preprocess_cell(self, cell, resources, index):
        if not _is_test(cell):
            if cell.cell_type == "code":
                cell.outputs = [
                    o
                    if not self._quotes_a_test(o)
                    else new_output("stream", name="stdout", text="[output hidden: it quoted the tests' code]\n")
                    for o in cell.get("outputs", [])
                ]
            return cell, resources
        name = cell.metadata["nbgrader"].get("grade_id", f"cell {index + 1}")
        cell.source = f"# test {name} (its code is not shown)"
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"[:2000]
                output["traceback"] = [message]
                kept.append(output)
        cell.outputs = kept
        return cell, resources


def configure(config, detail: str) -> None:
    """Put RedactTests in nbgrader's feedback pipeline unless ``detail`` is "full"."""
    if detail == "full":
        return
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    config.GenerateFeedback.preprocessors = [GetGrades, RedactTests, CSSHTMLHeaderPreprocessor]
