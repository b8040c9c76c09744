"""Make a page's relative links work in the site, which mirrors the repository's layout.

A link to a notebook or a Markdown page becomes a link to its .html page; a link to any
other file of the repository (a script, a Dockerfile, a figure) is kept, and the file is
copied into the site. Headings also get GitHub-style ids, so `page.md#some-heading`
links written for GitHub land on the same heading here.
"""

from __future__ import annotations

import html
import posixpath
import re
from pathlib import Path
from urllib.parse import quote, unquote

ATTR = re.compile(r'(?P<attr>href|src)="(?P<url>[^"]*)"')
HEADING = re.compile(r'<h(?P<level>[1-6]) id="(?P<id>[^"]*)">(?P<body>.*?)</h(?P=level)>', re.S)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#|$)", re.I)


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"<[^>]+>", "", text).replace("¶", "")
    text = html.unescape(text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def add_github_anchors(page: str) -> str:
    def add(m: re.Match) -> str:
        slug = github_slug(m["body"])
        if not slug or slug == m["id"]:
            return m[0]
        return f'<a id="{slug}" class="course-anchor"></a>{m[0]}'

    return HEADING.sub(add, page)


def rewrite_links(page: str, source: str, pages: set[str], repo: Path, copies: set[str]) -> str:
    """Rewrite relative href/src in ``page`` (rendered from repo-relative ``source``)."""
    base = posixpath.dirname(source)

    def fix(m: re.Match) -> str:
        url = html.unescape(m["url"])
        if EXTERNAL.match(url) or url.startswith("/"):
            return m[0]
        path, _, anchor = url.partition("#")
        target = posixpath.normpath(posixpath.join(base, unquote(path)))
        if target in pages:
            new = posixpath.relpath(posixpath.splitext(target)[0] + ".html", base or ".")
            return f'{m["attr"]}="{html.escape(quote(new) + ("#" + anchor if anchor else ""))}"'
        if not target.startswith("..") and (repo / target).is_file():
            copies.add(target)
        return m[0]

    return ATTR.sub(fix, page)
