"""Import TensorFlow without its start-up noise in a notebook.

TensorFlow's C++ runtime writes to file descriptor 2 before Python's logging exists
("All log messages before absl::InitializeLog() ...", the oneDNN notice), so
``TF_CPP_MIN_LOG_LEVEL`` alone does not hide it and Jupyter shows it as a pink error box.
``import_tensorflow`` sends descriptor 2 to a temporary file during the import and shows
that text only if the import fails, so a real error is never hidden.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["import_tensorflow", "native_stderr_captured"]


@contextmanager
def native_stderr_captured() -> Iterator[list[str]]:
    """Capture what C/C++ code writes to descriptor 2; the list gets the text at the end."""
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode(errors="replace"))


def import_tensorflow():
    """``import tensorflow`` quietly; on failure the captured native output is shown with the error."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # later C++ INFO/WARNING lines too
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with native_stderr_captured() as captured:
        try:
            import tensorflow as tf
        except BaseException:
            failed = True
        else:
            failed = False
    if failed:
        sys.stderr.write(captured[0])
        import tensorflow as tf  # re-raise the same error, now with its native output visible
    return tf
