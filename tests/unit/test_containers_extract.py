"""Finding docker commands where the course shows them."""

import json

import nbformat

from course_utils.containers.course_check import Verdict, check_commands
from course_utils.containers.extract import (
    from_comments_only,
    from_file,
    from_markdown,
    from_notebook,
    from_python,
    from_shell,
)

MARKDOWN = """\
# Title
Use `docker run --rm --gpus all ubuntu:24.04 nvidia-smi` to check; `docker run` alone is a name.

```bash
# a comment about docker, not a command
sudo docker run --rm \\
    --gpus '"device=0,1"' \\
    ubuntu:24.04 nvidia-smi
docker info | grep -i runtime
docker run --rm --gpus 'all,capabilities=compute,utility' ubuntu:24.04 true   # expect: parse error
$ docker exec <container> nvidia-smi
```

```dockerfile
# docker build -f docker/Dockerfile -t course:dev .
RUN echo docker run is not a command here
```

```python
subprocess.run(["docker", "run", "--rm", "--gpus", "all", "ubuntu:24.04", "true"])
```
"""


def test_markdown_finds_inline_fenced_continued_piped_and_commented_commands():
    found = from_markdown(MARKDOWN, "doc.md")
    argvs = [c.argv for c in found]
    assert argvs == [
        ("docker", "run", "--rm", "--gpus", "all", "ubuntu:24.04", "nvidia-smi"),
        ("docker", "run", "--rm", "--gpus", '"device=0,1"', "ubuntu:24.04", "nvidia-smi"),
        ("docker", "info"),
        ("docker", "run", "--rm", "--gpus", "all,capabilities=compute,utility", "ubuntu:24.04", "true"),
        ("docker", "exec", "placeholder", "nvidia-smi"),
        ("docker", "build", "-f", "docker/Dockerfile", "-t", "course:dev", "."),
        ("docker", "run", "--rm", "--gpus", "all", "ubuntu:24.04", "true"),
    ]
    lines = [c.line for c in found]
    assert lines == [2, 6, 9, 10, 11, 15, 20]
    assert [c.expect for c in found] == [None, None, None, "parse error", None, None, None]
    assert found[4].substituted and not found[0].substituted


def test_python_strings_lists_comments_and_shell_escapes():
    code = """\
import subprocess
CMD = "docker run --rm --gpus all ubuntu:24.04 nvidia-smi"
WRONG = "docker run --rm --gpus 'all,capabilities=compute,utility' ubuntu:24.04 true"  # expect: parse error
argv = ["docker", "run", "--rm", "--device", "nvidia.com/gpu=0", "ubuntu:24.04", "true"]
label = f"docker run --gpus {CMD}"  # built at run time: not a shown command
# docker compose -f docker/compose.yaml up
!docker info
not_docker = "dockerfile lint"
"""
    found = from_python(code, "cell")
    assert [(c.line, c.argv[:3], c.expect) for c in found] == [
        (2, ("docker", "run", "--rm"), None),
        (3, ("docker", "run", "--rm"), "parse error"),
        (4, ("docker", "run", "--rm"), None),
        (6, ("docker", "compose", "-f"), None),
        (7, ("docker", "info"), None),
    ]


def test_bash_cell_magic_is_read_as_shell():
    found = from_python("%%bash\ndocker run --rm --gpus all ubuntu:24.04 true && echo ok\n", "cell")
    assert [(c.line, c.argv[-1]) for c in found] == [(2, "true")]


def test_redirections_are_not_arguments():
    found = from_shell("docker run --rm ubuntu:24.04 true 2>&1 > out.txt | tail -1\n", "x.sh")
    assert found[0].argv == ("docker", "run", "--rm", "ubuntu:24.04", "true")


def test_comments_only_files_ignore_instructions():
    text = "FROM python:3.11\n# Build: docker build -t x:1 .\nRUN docker run nothing\n"
    assert [c.argv for c in from_comments_only(text, "Dockerfile")] == [("docker", "build", "-t", "x:1", ".")]


def test_notebook_cells_are_labelled(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("Run `docker run --rm --gpus all ubuntu:24.04 true`."),
        nbformat.v4.new_code_cell('x = 1\ncmd = "docker info --format json"'),
    ]
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    found = from_notebook(path, "n.ipynb")
    assert [c.where for c in found] == ["n.ipynb cell 1:1", "n.ipynb cell 2:2"]
    assert from_file(path, "n.ipynb") == found


def test_verdicts_fail_a_wrong_command_and_a_wrong_expectation(tmp_path):
    text = """```bash
docker run --rm --gpus 'all,capabilities=compute,utility' ubuntu:24.04 true
docker run --rm --gpus all ubuntu:24.04 true   # expect: parse error
docker run --rm --gpus 'all,capabilities=compute,utility' ubuntu:24.04 true   # expect: parse error
docker run --rm --gpus device=0,1 ubuntu:24.04 true   # expect: daemon error
docker run --rm --gpus device=0,1 ubuntu:24.04 true
docker run --rm --gpus '"device=0,1"' ubuntu:24.04 true
```
"""
    verdicts = check_commands(from_markdown(text, "t.md"))
    assert [v.ok for v in verdicts] == [False, False, True, True, False, True]
    assert all(isinstance(v, Verdict) and v.line() for v in verdicts)


def test_ellipsis_and_prose_fragments():
    text = (
        "Set it with `docker run -e PYTORCH_ALLOC_CONF=expandable_segments:True ...`, "
        "the flag `docker run -e` alone, or `docker run --gpus all`.\n"
    )
    found = from_markdown(text, "p.md")
    assert [c.argv for c in found] == [
        ("docker", "run", "-e", "PYTORCH_ALLOC_CONF=expandable_segments:True", "placeholder"),
        ("docker", "run", "--gpus", "all"),
    ]
    assert found[0].substituted and all(c.fragment for c in found)
    verdicts = check_commands(found)
    assert all(v.ok for v in verdicts), [v.line() for v in verdicts]
    # a fenced command is complete as written: no image is added for it
    block = check_commands(from_markdown("```bash\ndocker run --gpus all\n```\n", "p.md"))
    assert not block[0].ok or block[0].client.status == "not_run"


def test_missing_plugins_are_reported_as_unchecked_not_as_wrong():
    verdicts = check_commands(from_shell("docker compose -f docker/compose.yaml up -d\n", "x.sh"))
    assert verdicts[0].ok
    assert verdicts[0].client.status in ("unavailable", "accepted", "not_run")
