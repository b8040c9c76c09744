"""Every relative link and image in the notebooks' markdown and in the Markdown docs points to a
file inside the repository (no `../shared/...`, no missing figure). Cheap and static; the
rendered site's browser check (tests/browser/test_site_browser.py) also follows anchors."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|<img[^>]+src=\"([^\"]+)\"")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.I)


def _markdown_sources() -> list[tuple[Path, str]]:
    sources = [(p, p.read_text(encoding="utf-8")) for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]]
    for nb_path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(nb_path, as_version=4)
        text = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        sources.append((nb_path, text))
    return sources


def _targets(text: str) -> list[str]:
    text = INLINE_CODE.sub("", FENCE.sub("", text))
    return [a or b for a, b in LINK.findall(text)]


@pytest.mark.parametrize("path,text", _markdown_sources(), ids=lambda v: v.name if isinstance(v, Path) else "")
def test_relative_links_and_images_resolve_inside_the_repo(path, text):
    bad = []
    for url in _targets(text):
        if EXTERNAL.match(url):
            continue
        target = (path.parent / url.split("#", 1)[0]).resolve()
        if not target.is_relative_to(ROOT):
            bad.append(f"{url} (outside the repository)")
        elif not target.exists():
            bad.append(f"{url} (missing)")
    assert not bad, f"{path.relative_to(ROOT)}: " + ", ".join(bad)


def test_the_link_finder_sees_images_links_and_html_and_skips_code():
    text = (
        "![fig](../docs/figures/a.svg) [doc](../docs/b.md#x) <img alt='' src=\"c.png\">\n"
        "`[not](a link)`\n```\n[neither](x.md)\n```\n"
    )
    assert _targets(text) == ["../docs/figures/a.svg", "../docs/b.md#x", "c.png"]
