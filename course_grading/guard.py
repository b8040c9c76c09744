"""Keeping the tests honest inside a kernel the student's code shares.

Student cells and the hidden tests run in one Python process, so no check inside it is
beyond the student's reach in principle. Three layers make tampering fail or show:

1. ``PREAMBLE`` runs before any notebook cell, sent by the grader (not read from the
   notebook). It installs an audit hook (``sys.addaudithook``: it cannot be removed) that
   stops the kernel at once (exit code ``GUARD_EXIT``, a line in ``GUARD_LOG``) when code
   that is not a trusted library (a cell, a file the student wrote, ``<string>``) uses
   what tampering needs: ctypes, the garbage collector's object lists, trace/profile
   hooks, another audit hook, or rewriting a function it did not define
   (``f.__code__ = ...``; Python does not audit class attribute assignment, which the
   probe checks instead). It also
   makes the kernel non-dumpable, so another process of the sandbox uid cannot ptrace it
   or write its memory. A stopped kernel scores the cells it did not run as zero.
2. ``probe_expression()`` runs before every test cell and after the last cell, through
   ``user_expressions`` (no input transformers, no ``run_cell``), and reports what the
   hook cannot see: input/AST transformers, an instance-level ``run_cell``, replaced
   builtins or hooks, a trace function, import machinery or a ``course_checks`` that is
   not the assignment's file. Anything found: the test cell is not run (0 points) and
   the submission is flagged for review.
3. ``scan`` (static, see ``scan.py``) flags source that reaches for kernel internals.

Plus what the sandbox itself gives: the assignment's files are read-only, test cells
are restored from the gradebook by nbgrader (OverwriteCells) and outputs are cleared.
The limits are in docs/grading-security.md.
"""

from __future__ import annotations

import json

GUARD_EXIT = 86
GUARD_LOG = "guard.log"  # in the kernel's private run folder

# Runs once, first, in the kernel; ``preamble`` fills in @ARGS@.
_PREAMBLE = r"""
def _course_guard_install(trusted, log_path, guard_exit):
    import os, sys
    try:  # no ptrace / /proc/PID/mem from other processes of this uid
        import ctypes
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    except Exception:
        pass
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    blocked_prefixes = ("ctypes.",)
    blocked = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.settrace", "sys.setprofile",
               "sys._setprofileallthreads", "sys._settraceallthreads", "sys.addaudithook",
               "sys._current_frames", "code.__new__"}
    getframe, write, exit_now = sys._getframe, os.write, os._exit

    def passthrough(filename):  # the library that raised the event on its caller's behalf
        return filename.startswith("<frozen ") or (
            filename.startswith(trusted) and ("/ctypes/" in filename or "/importlib/" in filename))

    def hook(event, args):
        if not (event in blocked or event.startswith(blocked_prefixes)
                or event in ("object.__setattr__", "object.__delattr__")):
            return
        frame = getframe(1)
        while frame is not None and passthrough(frame.f_code.co_filename):
            frame = frame.f_back
        if frame is None or frame.f_code.co_filename.startswith(trusted):
            return
        if event in ("object.__setattr__", "object.__delattr__") and \
                getattr(args[0], "__module__", None) == "__main__":
            return  # a class or function the notebook itself defined
        where = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        try:
            write(log_fd, f"{event} from {where}\n".encode())
        finally:
            exit_now(guard_exit)

    sys.addaudithook(hook)


_course_guard_install(@ARGS@)
del _course_guard_install
"""

# Evaluated fresh by the kernel before each test cell; returns a JSON list of findings.
_PROBE = r"""
def _probe(cwd, checks_sha256, trusted=()):
    import builtins, hashlib, importlib, json, os, sys, types
    found = []
    ip = get_ipython()  # noqa: F821 (the kernel's)
    for name in ("run_cell", "run_cell_async", "run_ast_nodes", "run_code", "transform_cell",
                 "should_run_async", "showtraceback", "user_expressions"):
        if name in vars(ip):
            found.append(f"the kernel's {name} was replaced")
        method = getattr(type(ip), name, None)
        module = getattr(method, "__module__", "") or ""
        if method is not None and not module.startswith(("IPython", "ipykernel")):
            found.append(f"the kernel's {name} was replaced (in its class)")
    cleanup = [t for t in ip.input_transformers_cleanup
               if not (getattr(t, "__module__", "") or "").startswith("IPython")]
    post = list(ip.input_transformers_post)
    manager = ip.input_transformer_manager
    extra = [t for t in list(manager.cleanup_transforms) + list(manager.line_transforms)
             if not (getattr(t, "__module__", "") or "").startswith("IPython")]
    token = [t for t in manager.token_transformers
             if not (getattr(t, "__module__", "") or "").startswith("IPython")]
    if cleanup or post or extra or token:
        found.append("an input transformer was installed")
    if list(ip.ast_transformers):
        found.append("an AST transformer was installed")
    if type(ip.compile).__module__.split(".")[0] not in ("IPython", "ipykernel"):
        found.append("the kernel's compiler was replaced")
    for name in ("compile", "exec", "eval", "__import__", "print", "open", "isinstance", "len", "all", "any",
                 "getattr", "setattr", "type", "sorted", "sum", "abs", "round", "range", "repr", "str", "int", "float",
                 "AssertionError", "Exception", "BaseException"):
        value = getattr(builtins, name, None)
        if isinstance(value, type):
            ok = value.__module__ == "builtins"
        elif name == "open":
            owner = getattr(getattr(value, "__self__", None), "__name__", "")
            ok = isinstance(value, types.BuiltinFunctionType) and owner in ("io", "_io")
        else:
            ok = isinstance(value, types.BuiltinFunctionType) and value.__self__ is builtins
        if not ok:
            found.append(f"builtins.{name} was replaced")
    if sys.gettrace() is not None or sys.getprofile() is not None:
        found.append("a trace or profile function is set")
    for hook in ("excepthook", "displayhook"):
        value = getattr(sys, hook)
        module = getattr(value, "__module__", None) or type(value).__module__
        if not str(module).startswith(("IPython", "ipykernel", "sys")):
            found.append(f"sys.{hook} was replaced")
    if importlib.reload.__module__ != "importlib":
        found.append("importlib.reload was replaced")
    for finder in sys.meta_path:
        cls = finder if isinstance(finder, type) else type(finder)  # PathFinder & co. sit there as classes
        module = getattr(cls, "__module__", "") or ""
        if module.startswith(("_frozen_importlib", "importlib")):
            continue
        # a finder whose class comes from a file of the read-only installation (a library's own,
        # such as numba-cuda's redirector) is the machine's; one from a cell or a student's file is not
        source = getattr(sys.modules.get(module), "__file__", None)
        if not (isinstance(source, str) and trusted and os.path.realpath(source).startswith(tuple(trusted))):
            found.append(f"an import finder {cls.__name__} from {module} was added")
    mine = os.path.realpath(os.path.join(cwd, "course_checks.py"))
    if os.path.isdir(os.path.join(cwd, "course_checks")) or any(
            n.startswith("course_checks.") and n != "course_checks.py" for n in os.listdir(cwd)):
        found.append("a second course_checks module was written next to the assignment's")
    module = sys.modules.get("course_checks")
    if module is not None:
        path = vars(module).get("__file__") if isinstance(module, types.ModuleType) else None
        if not isinstance(path, str) or os.path.realpath(path) != mine:
            found.append("course_checks in sys.modules is not the assignment's file")
    if checks_sha256 and os.path.exists(mine):
        with open(mine, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != checks_sha256:
                found.append("course_checks.py was changed")
    return json.dumps(found)
"""


def preamble(trusted_prefixes: list[str], log_path: str) -> str:
    return _PREAMBLE.replace("@ARGS@", f"{tuple(trusted_prefixes)!r}, {log_path!r}, {GUARD_EXIT!r}")


def probe_expression(cwd: str, checks_sha256: str | None, trusted: tuple[str, ...] = ()) -> str:
    """One expression (for ``user_expressions``) that defines and runs the probe in a fresh namespace."""
    call = f"_probe({cwd!r}, {checks_sha256!r}, {tuple(trusted)!r})"
    return f"(lambda ns: (exec({_PROBE!r}, ns), eval({call!r}, ns))[1])({{'get_ipython': get_ipython}})"


def parse_probe(reply: dict) -> list[str]:
    """Findings from an execute reply carrying the probe; a probe that did not answer is a finding."""
    result = (reply.get("content", {}).get("user_expressions") or {}).get("probe") or {}
    if result.get("status") != "ok":
        return [f"the integrity check could not run ({result.get('ename', 'no answer')}: {result.get('evalue', '')})"]
    text = result.get("data", {}).get("text/plain", "")
    try:
        found = json.loads(json.loads(text.replace("'", '"')) if text.startswith("'") else text)
    except (ValueError, TypeError):
        import ast

        try:
            found = json.loads(ast.literal_eval(text))
        except (ValueError, SyntaxError):
            return [f"the integrity check gave an unreadable answer: {text[:100]!r}"]
    return [str(f) for f in found] if isinstance(found, list) else ["the integrity check gave an unreadable answer"]
