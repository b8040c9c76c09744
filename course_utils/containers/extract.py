"""Find every docker command the course shows: notebooks, Markdown, shell, Dockerfiles, YAML.

A command is found where a reader would copy it from:

* shell text (fenced code blocks, ``!docker`` lines, ``%%bash`` cells, ``*.sh``):
  each logical line (backslash continuations joined), cut at ``|``, ``&&``, ``;``;
* a comment whose text starts with ``docker`` (usage notes in Dockerfiles, YAML, code);
* Markdown inline code that starts with ``docker`` and has more than two words
  (```docker run`` alone names a subcommand);
* Python string literals that start with ``docker``, and lists of strings that start
  with ``"docker"`` (an argv).

Placeholders a reader replaces (``$IMAGE``, ``${TAG}``, ``$(id -u)``, ``<container>``,
``...``) become the word ``placeholder``, so the rest of the command can still be checked.
Inline code may be a fragment that leaves out the image (``docker run --gpus all``); the
check then adds a stand-in image.
A command shown on purpose as wrong carries ``expect: parse error`` (the client must
reject it) or ``expect: daemon error`` (the client accepts it, the daemon would refuse
it) in a comment on its line.
"""

from __future__ import annotations

import ast
import io
import json
import re
import shlex
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

EXPECT = re.compile(r"expect: (parse error|daemon error)")
_PLACEHOLDERS = re.compile(r"\$\([^()]*\)|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|<[A-Za-z_][\w.-]*>")
_OPERATORS = {"|", "||", "&&", ";", "&", ";;", "(", ")"}
_REDIRECTS = {">", ">>", "<", ">&", "<&", "&>", ">|", "<<", "<<<"}
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_INLINE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_LABEL = re.compile(r"^[A-Za-z][\w ()-]{0,30}:\s+(?=(?:\$ |sudo )*docker )")
_SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh", "text", "terminal", "shell-session"}
_PREFIXES = ("$ ", "sudo ")


@dataclass(frozen=True)
class DockerCommand:
    source: str  # file, and the notebook cell where there is one
    line: int  # 1-based line in the file or cell
    text: str  # as shown
    argv: tuple[str, ...]  # as checked (placeholders replaced)
    expect: str | None = None  # None, "parse error" or "daemon error"
    substituted: bool = False
    fragment: bool = False  # inline code in prose: may leave out the image

    @property
    def where(self) -> str:
        return f"{self.source}:{self.line}"


def _expect(text: str) -> str | None:
    match = EXPECT.search(text)
    return match.group(1) if match else None


def _strip_prefixes(text: str) -> str:
    text = text.strip()
    changed = True
    while changed:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix):
                text, changed = text[len(prefix) :].lstrip(), True
    return text


def _split_commands(line: str) -> list[list[str]]:
    """Split a shell line into simple commands (lists of words); placeholders already replaced."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=True)
    lex.whitespace_split = True
    lex.commenters = "#"
    try:
        tokens = list(lex)
    except ValueError:  # unbalanced quotes: hand the raw words over, so the check reports it
        return [line.split()]
    commands: list[list[str]] = []
    current: list[str] = []
    skip_next = False
    for tok in tokens:
        if skip_next:
            skip_next = False
            continue
        if tok in _OPERATORS:
            commands.append(current)
            current = []
        elif tok in _REDIRECTS:
            if current and current[-1].isdigit():  # the "2" of 2>&1
                current.pop()
            skip_next = True
        else:
            current.append(tok)
    commands.append(current)
    return [c for c in commands if c]


def _commands_in_line(line: str) -> Iterator[tuple[list[str], bool]]:
    """Docker commands in one logical shell line, as (argv, substituted)."""
    text = _strip_prefixes(line)
    if "docker" not in text:
        return
    replaced = _PLACEHOLDERS.sub("placeholder", text)
    for words in _split_commands(replaced):
        while words and words[0] in ("sudo", "time", "exec", "!"):
            words = words[1:]
        elided = [w for w in words if w in ("...", "…")]
        words = ["placeholder" if w in ("...", "…") else w for w in words]
        if words and words[0] == "docker" and len(words) > 1:
            yield words, replaced != text or bool(elided)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, line with backslash continuations joined)."""
    buf: list[str] = []
    start = 0
    for n, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = n
        if raw.rstrip().endswith("\\"):
            buf.append(raw.rstrip()[:-1])
            continue
        buf.append(raw)
        yield start, " ".join(part.strip() for part in buf)
        buf = []
    if buf:
        yield start, " ".join(part.strip() for part in buf)


def _comment_command(comment: str) -> str | None:
    """The command in a comment such as ``# docker info`` or ``# Build: docker build ...``."""
    body = _strip_prefixes(_LABEL.sub("", comment.lstrip("#").strip(), count=1))
    return body if body.startswith("docker ") else None


def from_shell(text: str, source: str, *, comments: bool = True) -> list[DockerCommand]:
    found = []
    for n, line in _logical_lines(text):
        stripped = line.strip()
        expect = _expect(line)
        if stripped.startswith("#"):
            body = _comment_command(stripped) if comments else None
            if body is None:
                continue
            stripped = body
        for argv, sub in _commands_in_line(stripped):
            found.append(DockerCommand(source, n, line.strip(), tuple(argv), expect, sub))
    return found


def from_comments_only(text: str, source: str) -> list[DockerCommand]:
    """Dockerfiles and YAML: only comments hold commands (the rest is not shell a reader runs)."""
    found = []
    for n, line in _logical_lines(text):
        if "#" not in line:
            continue
        comment = line[line.index("#") :]
        body = _comment_command(comment)
        if body is not None:
            for argv, sub in _commands_in_line(body):
                found.append(DockerCommand(source, n, comment.strip(), tuple(argv), _expect(line), sub))
    return found


def from_markdown(text: str, source: str) -> list[DockerCommand]:
    found: list[DockerCommand] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence:
            marker, lang = fence.group(2), fence.group(3).lower()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(marker[0] * len(marker)):
                j += 1
            body = "\n".join(lines[i + 1 : j])
            if lang in ("python", "py", "ipython", "python3"):
                block = from_python(body, source)
            elif lang in _SHELL_LANGS:
                block = from_shell(body, source)
            else:  # dockerfile, yaml, ...: commands live in comments there
                block = from_comments_only(body, source)
            found += [_shift(c, i + 1) for c in block]
            i = j + 1
            continue
        for span in _INLINE.finditer(lines[i]):
            code = _strip_prefixes(span.group(1))
            # In prose, `docker run` or `docker run -e` names a subcommand or a flag; a command
            # (or a fragment of one, checked with a stand-in image) has a word that is not a flag.
            words = code.split()
            if code.startswith("docker ") and any(not w.startswith("-") for w in words[2:]):
                for argv, sub in _commands_in_line(code):
                    found.append(DockerCommand(source, i + 1, code, tuple(argv), _expect(lines[i]), sub, fragment=True))
        i += 1
    return found


def _shift(cmd: DockerCommand, offset: int) -> DockerCommand:
    return DockerCommand(cmd.source, cmd.line + offset, cmd.text, cmd.argv, cmd.expect, cmd.substituted, cmd.fragment)


def from_python(code: str, source: str) -> list[DockerCommand]:
    """String literals, argv lists, comments, and IPython ``!`` / ``%%bash`` shell lines."""
    lines = code.splitlines()
    if lines and lines[0].startswith(("%%bash", "%%sh", "%%script bash")):
        return [_shift(c, 1) for c in from_shell("\n".join(lines[1:]), source)]
    found: list[DockerCommand] = []
    python_lines = []
    for n, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped.startswith(("!", "%")):  # IPython syntax: shell escapes and magics
            if stripped.startswith("!"):
                found += [_shift(c, n - 1) for c in from_shell(stripped[1:], source)]
            python_lines.append("")
        else:
            python_lines.append(line)
    py = "\n".join(python_lines)
    try:
        tree = ast.parse(py)
    except SyntaxError:
        return found + from_shell(py, source)  # not Python after all: read it as text
    in_fstring = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in in_fstring:
            text = node.value
            if not _strip_prefixes(text).startswith("docker "):
                continue
        elif (
            isinstance(node, ast.List | ast.Tuple)
            and node.elts
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts)
        ):
            words = [str(e.value) for e in node.elts if isinstance(e, ast.Constant)]  # str constants, checked above
            if words[0] != "docker" or len(words) < 2:
                continue
            text = shlex.join(words)
        else:
            continue
        span = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        for n, line in _logical_lines(text):
            for argv, sub in _commands_in_line(line):
                found.append(DockerCommand(source, node.lineno + n - 1, line.strip(), tuple(argv), _expect(span), sub))
    try:
        for tok in tokenize.generate_tokens(io.StringIO(py).readline):
            if tok.type == tokenize.COMMENT and (body := _comment_command(tok.string)):
                for argv, sub in _commands_in_line(body):
                    found.append(DockerCommand(source, tok.start[0], body, tuple(argv), _expect(tok.string), sub))
    except (tokenize.TokenError, SyntaxError):
        pass
    return sorted(found, key=lambda c: c.line)


def from_notebook(path: Path, source: str | None = None) -> list[DockerCommand]:
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    name = source or str(path)
    found = []
    for k, cell in enumerate(nb.get("cells", []), 1):
        text = "".join(cell.get("source", ""))
        where = f"{name} cell {k}"
        if cell.get("cell_type") == "markdown":
            found += from_markdown(text, where)
        elif cell.get("cell_type") == "code":
            found += from_python(text, where)
    return found


def from_file(path: Path, source: str | None = None) -> list[DockerCommand]:
    path = Path(path)
    name = source or str(path)
    if path.suffix == ".ipynb":
        return from_notebook(path, name)
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".md":
        return from_markdown(text, name)
    if path.suffix == ".py":
        return from_python(text, name)
    if path.suffix in (".sh", ".bash") or (text.startswith("#!") and "sh" in text.splitlines()[0]):
        return from_shell(text, name)
    return from_comments_only(text, name)  # Dockerfiles, YAML, ignore files


def course_sources(root: Path) -> list[Path]:
    """Where the course shows docker commands: notebooks, README.md, docs/*.md, docker/ files."""
    root = Path(root)
    paths = sorted(root.glob("notebooks/*.ipynb"))
    paths += [p for p in [root / "README.md"] if p.is_file()]
    paths += sorted(root.glob("docs/*.md"))
    paths += sorted(p for p in root.glob("docker/**/*") if p.is_file())
    return paths


def course_commands(root: Path) -> list[DockerCommand]:
    root = Path(root)
    found = []
    for path in course_sources(root):
        found += from_file(path, str(path.relative_to(root)))
    return found
