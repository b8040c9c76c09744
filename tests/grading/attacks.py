"""Hostile submissions for the attack suite (test_attacks.py): what each one adds to an
honest or untouched notebook, and the score it must get.

Each attack's code is written as a student would, knowing the course's layout: the absolute
paths of the course, the submissions folder and the gradebook are filled in, as if guessed.
"""

from __future__ import annotations

import textwrap

SECRET = "s3cr3t-grader-token-8c1f"  # put in the grader's environment by the suite


def code(text: str, **paths) -> str:
    out = textwrap.dedent(text)
    for key, value in paths.items():
        out = out.replace("@" + key.upper() + "@", str(value))
    return out


INPUT_TRANSFORMER = """
get_ipython().input_transformers_cleanup.append(lambda lines: ["pass\\n"])
"""

AST_TRANSFORMER = """
import ast
class Nothing(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(Nothing())
"""

RUN_CELL_INSTANCE = """
_real = get_ipython().run_cell
def run_cell(raw_cell, *args, **kwargs):
    if "course_checks" in raw_cell:
        raw_cell = "pass"
    return _real(raw_cell, *args, **kwargs)
get_ipython().run_cell = run_cell
"""

RUN_CELL_CLASS = """
_shell = type(get_ipython())
_real = _shell.run_cell
def run_cell(self, raw_cell, *args, **kwargs):
    return _real(self, "pass" if "course_checks" in raw_cell else raw_cell, *args, **kwargs)
_shell.run_cell = run_cell
"""

# a replacement that still behaves (one that did not would break the kernel itself first)
BUILTINS_PATCH = """
import builtins
builtins.len = (lambda real: lambda obj: real(obj))(builtins.len)
"""

EXCEPTHOOK = """
import sys
sys.excepthook = lambda *args: None
sys.displayhook = lambda value: None
"""

SETTRACE = """
import sys
def tracer(frame, event, arg):
    return None
sys.settrace(tracer)
"""

CODE_REWRITE = """
import course_checks
course_checks.assert_series_equal.__code__ = (lambda *a, **k: None).__code__
"""

SHADOW_PACKAGE = """
from pathlib import Path
Path("course_checks").mkdir(exist_ok=True)
Path("course_checks/__init__.py").write_text('''
TEST_BUILTINS = ()
def no_shadowed_builtins(namespace): pass
def plain(value, where=""): return value
def __getattr__(name): return lambda *a, **k: None
''')
"""

SYS_MODULES_SHADOW = """
import sys, types
fake = types.ModuleType("course_checks")
fake.__getattr__ = lambda name: (lambda *a, **k: None)
sys.modules["course_checks"] = fake
import importlib
importlib.reload = lambda module: module
"""

IMPORT_FINDER = """
import importlib.abc, importlib.util, sys, types
class _Fake(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    # serves a course_checks whose every check passes, whenever a test imports it afresh
    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name == "course_checks" else None
    def create_module(self, spec):
        fake = types.ModuleType(spec.name)
        fake.__getattr__ = lambda attr: (lambda *a, **k: None)
        return fake
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, _Fake())
sys.modules.pop("course_checks", None)
"""

APPEND_COURSE_CHECKS = """
for _path in ("course_checks.py", "@COURSE@/solutions/gpu_monitoring_dashboard/course_checks.py"):
    try:
        with open(_path, "a") as _f:
            _f.write("\\ndef assert_series_equal(*a, **k): pass\\ndef no_shadowed_builtins(ns): pass\\n")
        print("APPENDED", _path)
    except OSError as exc:
        print("append refused:", _path, type(exc).__name__)
"""

READ_SOLUTIONS = """
import json
try:
    with open("@COURSE@/solutions/gpu_monitoring_dashboard/gpu_dashboard.ipynb") as _f:
        _nb = json.load(_f)
    for _cell in _nb["cells"]:
        if _cell["cell_type"] == "code" and _cell["metadata"].get("nbgrader", {}).get("solution"):
            exec("".join(_cell["source"]).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
    print("SOLUTIONS READ")
except OSError as exc:
    print("no solutions:", type(exc).__name__)
"""

# blanks other students' notebooks: through /proc (other processes' folders) and by guessing paths
BLANK_OTHERS = """
import glob, os
_victims = set()
for _link in glob.glob("/proc/*/cwd"):
    try:
        _victims.update(glob.glob(os.path.join(os.readlink(_link), "..", "..", "*", "*", "*.ipynb")))
    except OSError:
        pass
_victims.update(glob.glob("@SUBS@/*/*.ipynb") + glob.glob("@SUBS@/*/*/*.ipynb"))
_victims.update(glob.glob("/tmp/course_grading-*/*/*/*/*/*.ipynb"))
_blanked = 0
for _path in _victims:
    if "attack_blank_others" in _path:
        continue
    try:
        with open(_path, "w") as _f:
            _f.write("{}")
        _blanked += 1
    except OSError:
        pass
print("BLANKED", _blanked)
"""

# outlives the run (double fork, own session), then rewrites the gradebook
GRADEBOOK_DAEMON = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(120):
            time.sleep(0.5)
            try:
                import sqlite3
                with sqlite3.connect("@COURSE@/gradebook.db") as db:
                    db.execute("UPDATE grade SET auto_score = 0")
            except Exception:
                pass
        os._exit(0)
    os._exit(0)
"""

KILL_GRADER = """
import os, signal
for _target in (os.getppid(), 1, -1):
    try:
        os.kill(_target, signal.SIGKILL)
    except OSError as exc:
        print("kill", _target, "refused:", type(exc).__name__)
"""

READ_ENVIRONMENT = """
import os
print("ENV", sorted(os.environ))
print("ENV-VALUES", list(os.environ.values()))
try:
    print("GRADER-ENV", open("/proc/1/environ").read())
except OSError:
    pass
"""

NETWORK = """
import socket
for _host in (("pypi.org", 443), ("1.1.1.1", 53), ("10.0.0.1", 80)):
    try:
        socket.create_connection(_host, timeout=2).close()
        print("NETWORK REACHED", _host)
    except OSError as exc:
        print("no network:", type(exc).__name__)
"""

WRITE_OUTSIDE = """
for _path in ("/usr/owned.txt", "/etc/owned.txt", "@COURSE@/owned.txt", "@COURSE@/exercises/owned.txt",
              "/root/owned.txt", "@SUBS@/owned.txt", "/owned.txt"):
    try:
        with open(_path, "w") as _f:
            _f.write("owned")
        print("WROTE", _path)
    except OSError as exc:
        print("refused:", _path, type(exc).__name__)
"""

# processes that never end, started until the system says no (spawned, not forked: a fork of
# the kernel per child would take minutes on a busy 2-core machine)
FORK_BOMB = """
import os
_children = 0
try:
    while _children < 100000:
        os.posix_spawn("/bin/sleep", ["sleep", "600"], {})
        _children += 1
except OSError as exc:
    print("fork refused after", _children, type(exc).__name__)
"""

FILL_DISK = """
_n = 0
try:
    while _n < 100000:
        with open(f"filler-{_n}.bin", "wb") as _f:
            _f.write(b"x" * (32 << 20))
        _n += 1
except OSError as exc:
    print("disk full after", _n, "files:", type(exc).__name__)
"""

MEMORY_HOG = """
_hog = []
while True:
    _hog.append(b"x" * (256 << 20))
"""

# children that outlive a cell timeout: a detached sleeper, a daemon, then a loop past the limit
OUTLIVE_TIMEOUT = """
import os, subprocess, time
subprocess.Popen(["sleep", "600"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
while True:
    pass
"""

# a classmate who wants the others to fail for time: many processes spinning for as long as
# its own limits let it, started as the tests import its script
CPU_HOG = """
import multiprocessing as _mp
def _spin():
    while True:
        pass
_hogs = [_mp.Process(target=_spin, daemon=True) for _ in range(8)]
for _p in _hogs:
    _p.start()
"""

GC_HUNT = """
import gc
for _obj in gc.get_objects():
    pass
"""

PRINT_HISTORY = """
print(In)
"""

# pre-filled outputs and edited metadata on the test cells (done on the notebook, see test_attacks)
