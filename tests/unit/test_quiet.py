"""TensorFlow's native start-up noise is captured, and shown again when the import fails."""

import os
import subprocess
import sys

from course_utils.quiet import native_stderr_captured


def test_native_writes_to_fd2_are_captured_and_fd2_restored(capfd):
    with native_stderr_captured() as captured:
        os.write(2, b"absl noise\n")
    os.write(2, b"after\n")
    assert captured == ["absl noise\n"]
    assert capfd.readouterr().err == "after\n"


def test_a_failing_import_shows_its_native_output(tmp_path):
    fake = tmp_path / "tensorflow.py"
    fake.write_text("import os\nos.write(2, b'native detail\\n')\nraise ImportError('broken build')\n")
    code = "from course_utils.quiet import import_tensorflow; import_tensorflow()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode != 0
    assert "native detail" in result.stderr and "broken build" in result.stderr
