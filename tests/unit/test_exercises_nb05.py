import subprocess
import sys

from course_utils.exercises import nb05

# TensorFlow is started once per process, so the checks that need it run in a child.
CHILD = r"""
from course_utils.quiet import import_tensorflow
from course_utils.exercises import nb05
tf = import_tensorflow()
cpu = tf.config.list_physical_devices("CPU")[0]
print("before:", nb05.check_logical_cpus(tf).ok)
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 3)
print("three:", nb05.check_logical_cpus(tf).ok)
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
fb = nb05.check_logical_cpus(tf)
print("two:", fb.ok)
print("started:", len(tf.config.list_logical_devices("CPU")))
too_late = None
try:
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()])
except RuntimeError as exc:
    too_late = exc
print("too_late:", nb05.check_too_late(too_late).ok)
"""


def test_tf_checks_in_a_child_process():
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines == ["before: False", "three: False", "two: True", "started: 2", "too_late: True"], proc.stdout


def test_too_late_wrong_answers():
    assert not nb05.check_too_late(None).ok
    assert "not an exception" in nb05.check_too_late("initialized").message
    assert "ValueError" in nb05.check_too_late(ValueError("x")).message
    assert not nb05.check_too_late(RuntimeError("something else")).ok
    assert nb05.check_too_late(RuntimeError("Virtual devices cannot be modified after being initialized")).ok


def test_memory_choice():
    assert nb05.check_memory_choice({"setting": "growth", "where": "env"}).ok
    for wrong, words in (
        (None, "empty"),
        ({"setting": "both", "where": "env"}, "combine"),
        ({"setting": "limit", "where": "env"}, "reserves"),
        ({"setting": "growth", "where": "python"}, "works only"),
    ):
        fb = nb05.check_memory_choice(wrong)
        assert not fb.ok and words in fb.message
        assert "TF_FORCE_GPU_ALLOW_GROWTH" not in fb.message + fb.hint


def test_odd_types_get_feedback_not_a_crash():
    assert not nb05.check_memory_choice("growth").ok
