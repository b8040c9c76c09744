"""The whole workshop loop on a real JupyterHub: hand out, hand in, collect, grade, give back.

Three learner accounts and one instructor, each a Unix account, on a JupyterHub started from
hub/jupyterhub_config.py (local processes, PAM logins, nbgrader's exchange). The instructor
releases both assignments; the learners fetch, answer (the solution, half of it, nothing) and
submit as themselves; the instructor collects, autogrades with the course's grading command,
grades the written answer in the gradebook (as formgrader does) and releases feedback; the
learners fetch it and find their scores. The honest learner does their part in headless
Chromium: the hub's login page, then JupyterLab's Assignment List (Fetch, Submit, Fetch
Feedback clicked). Needs root (useradd, runuser); the phase timings go to
test-artifacts/hub-loop.json.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hub_support import (
    ASSIGNMENTS,
    BIN,
    CHP,
    COURSE_ID,
    REPO,
    Workshop,
    answer,
    make_workshop,
    remove_account,
    start_hub,
    stop_hub,
)
from support.browser import CHROMIUM, chromium

pytestmark = [pytest.mark.hub, pytest.mark.timeout(1500)]  # ~4 min on an idle 2-core machine

ARTIFACTS = REPO / "test-artifacts"
GPUS = ["0", "1"]
MIG = "MIG-4f6e1a2b-0c3d-5e7f-8a9b-0c1d2e3f4a5b"
EXPECTED = {  # automatic points: every part (honest), the first half of the parts (partial), none
    "gpu_monitoring_dashboard": {"honest": 10.0, "partial": 6.0, "blank": 0.0},
    "multi_gpu_training": {"honest": 11.0, "partial": 10.0, "blank": 0.0},
}
MANUAL = {"honest": 2.5, "partial": 0.0, "blank": 0.0}  # the written answer, graded "by a person"


def autograde(workshop: Workshop, assignment: str) -> subprocess.CompletedProcess:
    """The course's grading command on what `nbgrader collect` gathered, as the runbook says:
    run by root (the sandbox gives every kernel a uid of its own) with the course's own
    environment, then the instructor gets the course's files back. (The one place to change
    when the grading command changes.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "COURSE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "course_grading", assignment, "submitted", "--workers", "2"],
        cwd=workshop.course,
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    if done.returncode != 0:
        raise AssertionError(f"grading failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    owner = workshop.instructor.name
    subprocess.run(["chown", "-R", f"{owner}:{owner}", str(workshop.course)], check=True)
    return done


def _each(jobs) -> None:
    """Run learners' commands side by side (they never touch the instructor's gradebook)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root: creates Unix accounts (useradd) and runs commands as them (runuser)"
    for tool in ("useradd", "userdel", "runuser", "chpasswd"):
        if not shutil.which(tool):
            return f"`{tool}` not found"
    if not CHP.exists() and not shutil.which("configurable-http-proxy"):
        return "configurable-http-proxy not installed: run `make hub-deps`"
    if not (BIN / "jupyterhub").exists():
        return "jupyterhub is not installed in this environment (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def workshop():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    base = Path(tempfile.mkdtemp(prefix="course-hub-", dir="/tmp"))
    shop = make_workshop(base)
    try:
        t0 = time.monotonic()
        start_hub(shop, gpus=GPUS, assign={shop.learners["blank"].name: MIG})
        shop.timings["hub start"] = time.monotonic() - t0
        yield shop
    finally:
        stop_hub(shop)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "hub-loop.json").write_text(
            json.dumps(
                {
                    "timings_s": {k: round(v, 1) for k, v in shop.timings.items()},
                    "total_s": round(sum(shop.timings.values()), 1),
                    "load_average": os.getloadavg(),
                },
                indent=1,
            )
            + "\n"
        )
        shutil.copy2(base / "hub.log", ARTIFACTS / "hub.log") if (base / "hub.log").exists() else None
        for account in (shop.instructor, *shop.learners.values()):
            remove_account(account)
        shutil.rmtree(base, ignore_errors=True)


def _server_environment(name: str) -> dict:
    """The environment of that user's running jupyterhub.singleuser process (from /proc)."""
    uid = int(subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True).stdout)
    for proc in Path("/proc").iterdir():
        try:
            if (
                proc.name.isdigit()
                and proc.stat().st_uid == uid
                and b"jupyterhub.singleuser" in (proc / "cmdline").read_bytes()
            ):
                pairs = (proc / "environ").read_bytes().split(b"\0")
                return dict(p.decode().split("=", 1) for p in pairs if b"=" in p)
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    raise AssertionError(f"no jupyterhub.singleuser process of {name}")


def _browser_learner(shop: Workshop, step: str) -> None:
    """The honest learner in Chromium: log in through the hub, then in JupyterLab's Assignment
    List either fetch both assignments, submit both, or fetch the feedback."""
    learner = shop.learners["honest"]
    with chromium(shop.base / f"chromium-{step}") as browser:
        page = browser.pages[0] if browser.pages else browser.new_page()
        page.goto(f"{shop.url}/hub/login")
        page.fill("#username_input", learner.name)
        page.fill("#password_input", learner.password)
        page.click("#login_submit")
        page.wait_for_url(re.compile(rf".*/user/{learner.name}/lab.*"), timeout=120_000)
        page.wait_for_selector(".jp-LabShell", timeout=120_000)
        menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
        page.click(".lm-MenuBar-itemLabel:text-is('Nbgrader')")
        items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
        # learners get learner tools only (hub/learner/labconfig/page_config.json)
        assert "Assignment List" in items, items
        assert not {"Formgrader", "Course List"} & set(items), f"instructor tools shown to a learner: {items}"
        page.click(".lm-Menu-itemLabel:text-is('Assignment List')")
        if step == "fetch":
            for assignment in ASSIGNMENTS:
                row = page.locator("#released_assignments_list .list_item", has_text=assignment)
                row.locator("button:text-is('Fetch')").click(timeout=60_000)
                page.locator("#fetched_assignments_list .list_item", has_text=assignment).first.wait_for(timeout=60_000)
        elif step == "submit":
            for assignment in ASSIGNMENTS:
                row = page.locator("#fetched_assignments_list .list_item", has_text=assignment).first
                row.locator("button:text-is('Submit')").click(timeout=60_000)
                page.locator("#submitted_assignments_list .list_item", has_text=assignment).first.wait_for(
                    timeout=60_000
                )
        elif step == "feedback":
            for assignment in ASSIGNMENTS:
                row = page.locator("#submitted_assignments_list .list_item", has_text=assignment).first
                row.locator("button:text-is('Fetch Feedback')").click(timeout=60_000)
                folder = learner.home / assignment / "feedback"
                deadline = time.monotonic() + 60
                while not list(folder.glob(f"*/{ASSIGNMENTS[assignment]}.html")):
                    assert time.monotonic() < deadline, f"no feedback in {folder} after Fetch Feedback"
                    time.sleep(0.5)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"hub-assignment-list-{step}.png"))
        assert "Nbgrader" in menus


def test_the_workshop_loop(workshop: Workshop):
    shop, timings = workshop, workshop.timings
    learners, instructor = shop.learners, shop.instructor
    browser = os.path.exists(CHROMIUM)
    if browser:
        pytest.importorskip("playwright.sync_api")

    # -- the instructor hands out both assignments through the exchange
    t0 = time.monotonic()
    for assignment in ASSIGNMENTS:  # the instructor's commands one at a time: they share gradebook.db
        shop.nbgrader_as(instructor, "release_assignment", assignment, "--force")
    timings["release"] = time.monotonic() - t0

    # -- learners fetch: the honest one in the browser, the others with nbgrader's CLI
    t0 = time.monotonic()
    if browser:
        _browser_learner(shop, "fetch")
    _each(
        lambda learner=learner, a=a: shop.nbgrader_as(learner, "fetch_assignment", a, "--course", COURSE_ID)
        for kind, learner in learners.items()
        if kind != "honest" or not browser
        for a in ASSIGNMENTS
    )
    timings["fetch"] = time.monotonic() - t0

    # the hub started the honest learner's server with its GPU and the learner configuration
    if browser:
        env = _server_environment(learners["honest"].name)
        assert env["CUDA_VISIBLE_DEVICES"] == GPUS[0]
        assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0].endswith("hub/learner")
        assert env["COURSE_EXCHANGE"] == str(shop.exchange)
        # and formgrader is not served to learners (the server extension is off, not only hidden)
        status, _ = shop.api(f"/user/{learners['honest'].name}/formgrader")
        assert status == 404, status

    # -- each learner answers (as themselves) and submits
    t0 = time.monotonic()
    for kind, learner in learners.items():
        for assignment, notebook in ASSIGNMENTS.items():
            fetched = learner.home / assignment / f"{notebook}.ipynb"
            assert fetched.exists(), f"{learner.name} has no {fetched}"
            answer(fetched, REPO / "solutions" / assignment / f"{notebook}.ipynb", kind)
    if browser:
        _browser_learner(shop, "submit")
    _each(
        lambda learner=learner, a=a: shop.nbgrader_as(learner, "submit", a, "--course", COURSE_ID)
        for kind, learner in learners.items()
        if kind != "honest" or not browser
        for a in ASSIGNMENTS
    )
    timings["answer and submit"] = time.monotonic() - t0
    # learners cannot list the exchange's inbound folder, so nobody finds another's submission
    # (nbgrader names each with a random part; the folder is write-only for learners)
    inbound = shop.exchange / COURSE_ID / "inbound"
    assert len(list(inbound.iterdir())) == 2 * len(learners)
    peek = shop.run_as(learners["blank"], ["ls", inbound], check=False)
    assert peek.returncode != 0, f"a learner could list the submissions: {peek.stdout}"

    # -- the instructor collects and autogrades
    t0 = time.monotonic()
    for assignment in ASSIGNMENTS:
        shop.nbgrader_as(instructor, "collect", assignment)
    timings["collect"] = time.monotonic() - t0
    for assignment in ASSIGNMENTS:
        t1 = time.monotonic()
        autograde(shop, assignment)
        timings[f"autograde {assignment}"] = time.monotonic() - t1
    assert (shop.course / "feedback").is_dir()

    # -- the written answer, graded in the gradebook as formgrader would; feedback released
    t0 = time.monotonic()
    manual = {learners[kind].name: points for kind, points in MANUAL.items()}
    script = (
        "import json, sys\nfrom nbgrader.api import Gradebook\n"
        "scores = json.loads(sys.argv[1])\n"
        f"with Gradebook('sqlite:///{shop.course}/gradebook.db', {COURSE_ID!r}) as gb:\n"
        "    for student, points in scores.items():\n"
        "        grade = gb.find_grade('comparison', 'multi_gpu_training', 'multi_gpu_training', student)\n"
        "        grade.manual_score = points\n"
        "        grade.needs_manual_grade = False\n"
        "        gb.db.commit()\n"
    )
    shop.run_as(instructor, [shop.python, "-c", script, json.dumps(manual)], cwd=shop.course)
    for assignment in ASSIGNMENTS:
        shop.nbgrader_as(instructor, "generate_feedback", assignment, "--force")
        shop.nbgrader_as(instructor, "release_feedback", assignment)
    timings["manual grade and feedback"] = time.monotonic() - t0

    # -- the report from the gradebook agrees
    report = shop.run_as(instructor, [shop.python, "-m", "course_grading.export", "--format", "json"], cwd=shop.course)
    rows = {(r["student"], r["assignment"]): r for r in json.loads(report.stdout)}
    for assignment, expected in EXPECTED.items():
        for kind, auto in expected.items():
            row = rows[(learners[kind].name, assignment)]
            want = auto + (MANUAL[kind] if assignment == "multi_gpu_training" else 0)
            assert row["score"] == pytest.approx(want), (kind, assignment, row)
            assert not row["awaiting_manual_grade"], row

    # -- learners fetch their feedback and find their scores
    t0 = time.monotonic()
    if browser:
        _browser_learner(shop, "feedback")
    _each(
        lambda learner=learner, a=a: shop.nbgrader_as(learner, "fetch_feedback", a, "--course", COURSE_ID)
        for kind, learner in learners.items()
        if kind != "honest" or not browser
        for a in ASSIGNMENTS
    )
    timings["fetch feedback"] = time.monotonic() - t0
    for kind, learner in learners.items():
        for assignment, notebook in ASSIGNMENTS.items():
            pages = sorted((learner.home / assignment / "feedback").glob(f"*/{notebook}.html"))
            assert pages, f"{learner.name} has no feedback for {assignment}"
            html = pages[-1].read_text(errors="replace")
            total = EXPECTED[assignment][kind] + (MANUAL[kind] if assignment == "multi_gpu_training" else 0)
            top = 10.0 if assignment == "gpu_monitoring_dashboard" else 14.0
            assert re.search(rf"Score:\s*{total:g}(\.0+)?\s*/\s*{top:g}(\.0+)?", html) or re.search(
                rf"{total:.1f}\s*/\s*{top:.1f}", html
            ), f"{kind} {assignment}: score not in feedback"

    print("hub loop timings (s):", {k: round(v, 1) for k, v in timings.items()}, f"total {sum(timings.values()):.0f}")
