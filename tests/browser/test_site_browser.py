"""The rendered course site, built and opened page by page in headless Chromium.

The fixture builds the site the way `make site` does (scripts/site/build.py executes
the 12 notebooks on this machine's path: the CPU here), serves it on a free localhost
port, and the test crawls it from index.html: every page reachable by internal links
is opened, and the test fails on a broken internal link or anchor, a missing image,
an error or stderr output box, a widget that a later cell closed (blank after Run All),
a JavaScript error, or any request that leaves localhost (the site must work offline).
Timings go to test-artifacts/site-check.json.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest
from support.browser import chromium, require_chromium

pytestmark = [pytest.mark.site, pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1500)]

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "site"
ARTIFACTS = ROOT / "test-artifacts"
BAD_OUTPUTS = (
    ".course-error, .course-stderr, .course-closed-widget, "
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the test reports what matters itself
        pass


@pytest.fixture(scope="module")
def site():
    require_chromium()
    start = time.monotonic()
    # the same build as `make site`; errors are reported by the browser check, page by page
    build = subprocess.run(
        [sys.executable, "scripts/site/build.py", "--out", str(SITE), "--allow-errors"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    build_s = time.monotonic() - start
    assert build.returncode == 0, f"the site build failed:\n{build.stdout[-3000:]}\n{build.stderr[-3000:]}"
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"base": f"http://127.0.0.1:{server.server_address[1]}", "build_s": build_s, "log": build.stdout}
    finally:
        server.shutdown()
        server.server_close()


def _page_report(page) -> dict:
    return page.evaluate(
        """(bad) => ({
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        ids: [...document.querySelectorAll('[id], a[name]')].map(e => e.id || e.getAttribute('name')),
        images: [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0})),
        bad: [...document.querySelectorAll(bad)].map(e => e.innerText.slice(0, 300)),
        tracebacks: [...document.querySelectorAll('.jp-OutputArea-output')]
            .filter(e => /Traceback \\(most recent call last\\)/.test(e.innerText)).length,
        title: document.title,
    })""",
        BAD_OUTPUTS,
    )


def test_every_page_has_working_links_images_and_no_error_output(site):
    base = site["base"]
    problems: list[str] = []
    external: set[str] = set()
    start = time.monotonic()
    reports: dict[str, dict] = {}
    statuses: dict[str, int] = {}
    with chromium(width=1300, height=900) as context:
        # nothing may leave localhost: record and refuse it
        context.route(
            "**/*",
            lambda route: (
                (external.add(route.request.url), route.abort())
                if not route.request.url.startswith(base)
                else route.continue_()
            ),
        )
        queue, seen = [f"{base}/index.html"], set()
        while queue:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            page = context.new_page()
            errors: list[str] = []
            failed: list[str] = []
            page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
            page.on(
                "response", lambda r, failed=failed: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
            )
            response = page.goto(url, wait_until="load")
            statuses[url] = response.status if response else 0
            name = url[len(base) :]
            if statuses[url] != 200:
                problems.append(f"{name}: HTTP {statuses[url]}")
                page.close()
                continue
            report = reports[url] = _page_report(page)
            problems += [f"{name}: JavaScript error: {e}" for e in errors]
            problems += [f"{name}: failed request {f}" for f in failed]
            problems += [f"{name}: missing image {i['src']}" for i in report["images"] if not i["ok"]]
            problems += [f"{name}: error/stderr output: {b!r}" for b in report["bad"]]
            if report["tracebacks"]:
                problems.append(f"{name}: {report['tracebacks']} output(s) with a Python traceback")
            for link in report["links"]:
                target, _ = urldefrag(link)
                if target.startswith(base) and target.endswith(".html") and target not in seen:
                    queue.append(target)
            page.close()
        # links and anchors, now that every page's ids are known
        for url, report in reports.items():
            for link in report["links"]:
                target, anchor = urldefrag(link)
                if not target.startswith(base):
                    continue
                if target not in statuses:
                    statuses[target] = context.request.get(target).status
                if statuses[target] != 200:
                    problems.append(f"{url[len(base) :]}: broken link {link[len(base) :]} ({statuses[target]})")
                elif anchor and target in reports and anchor not in reports[target]["ids"]:
                    problems.append(f"{url[len(base) :]}: broken anchor {link[len(base) :]}")
    check_s = time.monotonic() - start
    pages = sorted(urlparse(u).path for u in reports)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "site-check.json").write_text(
        json.dumps(
            {
                "build_s": round(site["build_s"], 1),
                "check_s": round(check_s, 1),
                "pages": pages,
                "problems": problems,
                "external_requests": sorted(external),
            },
            indent=1,
        )
    )
    print(f"site: built in {site['build_s']:.0f} s, {len(pages)} pages checked in {check_s:.0f} s")
    expected = {"/index.html", "/docs/syllabus.html", "/docs/gpu-figures.html"} | {
        f"/notebooks/{p.stem}.html" for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    }
    assert expected <= set(pages), f"pages not reachable from the index: {sorted(expected - set(pages))}"
    assert not external, f"the site asked the internet for: {sorted(external)[:10]}"
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:80])
