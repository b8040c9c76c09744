"""course_grading.processes: a worker's whole process tree goes, and a vanished process is no error."""

import subprocess
import sys
import time

import psutil

from course_grading.processes import kill_and_wait, kill_tree


def test_kill_tree_kills_the_process_and_its_grandchildren():
    # a parent whose child starts a grandchild: all three must go
    code = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import subprocess, sys, time; "
        'subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]); time.sleep(60)\'])\n'
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    root = psutil.Process(parent.pid)
    deadline = time.monotonic() + 20
    while len(root.children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    tree = [*root.children(recursive=True), root]
    assert len(tree) == 3
    kill_tree(parent.pid)
    parent.wait(5)
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_a_process_already_gone_is_not_an_error():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    handle = psutil.Process(proc.pid)
    proc.wait(5)
    kill_and_wait([handle], timeout=1)
    kill_tree(proc.pid)  # no such process any more: nothing to do
