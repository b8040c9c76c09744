"""Feedback that does not give the hidden tests away.

nbgrader's feedback page shows the autograded notebook: the test cells with their hidden
tests restored, and tracebacks quoting them. By default the grader shows, for each test
cell, only its name, its score and the error's type and message; ``--feedback-detail
full`` keeps nbgrader's page as it is.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor


def _is_test(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


class RedactTests(Preprocessor):
    """Replace each test cell's source by its name and its outputs by the error message alone."""

    def preprocess_cell(self, cell, resources, index):
        if not _is_test(cell):
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
