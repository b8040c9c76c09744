"""Run every GPU-facing part of the course and write a report.

Each step is a command; its status, time and key figures go into
docs/results/gpu_validation_<N>gpu.json (merged across calls, so the steps can
be spread over several shorter runs) and docs/gpu-validation.md is rebuilt from
all those files. A step whose script does not exist is reported as "not run".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STARTED = time.time()
RESULTS = ROOT / "docs" / "results"
REPORT = ROOT / "docs" / "gpu-validation.md"


@dataclass
class Step:
    name: str
    argv: list[str]
    timeout_s: int
    figures: str = ""  # a results JSON file whose key figures are summarised
    min_gpus: int = 1
    needs: str = ""  # a file that must exist for the step to run
    shared: bool = False  # may run alongside other shared steps (notebooks); benchmarks run alone
    expect_s: int = 60  # a first guess at its time, for the budget; the last run's time replaces it


@dataclass
class Outcome:
    name: str
    status: str  # pass | fail | not run
    seconds: float
    figures: str = ""
    log: str = ""
    detail: dict = field(default_factory=dict)


def gpu_inventory() -> dict:
    smi = shutil.which("nvidia-smi")
    info = {"date": date.today().isoformat(), "gpus": 0, "gpu_model": None, "driver": None}
    if smi:
        out = (
            subprocess.run(
                [smi, "--query-gpu=name,driver_version", "--format=csv,noheader"], capture_output=True, text=True
            )
            .stdout.strip()
            .splitlines()
        )
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible:
            out = [out[int(i)] for i in visible.split(",") if i.strip().isdigit() and int(i) < len(out)]
        if out:
            info.update(gpus=len(out), gpu_model=out[0].split(",")[0].strip(), driver=out[0].split(",")[1].strip())
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    info["python"] = sys.version.split()[0]
    return info


def notebooks_with_own_kernel() -> dict[str, list[str]]:
    """kernel name -> notebooks that ask for a kernel other than python3 (the workshop image
    points TensorFlow notebooks at its separate TensorFlow environment)."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        kernel = json.loads(path.read_text()).get("metadata", {}).get("kernelspec", {}).get("name", "python3")
        if kernel != "python3":
            found.setdefault(kernel, []).append(str(path.relative_to(ROOT)))
    return found


def steps_for(n_gpus: int, tag: str) -> list[Step]:
    py = sys.executable
    counts = ",".join(str(n) for n in (1, 2, 4, 8) if n <= n_gpus)
    pytest_common = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra --strict-markers"]
    nbval = ["--nbval-lax", "--nbval-sanitize-with", "tests/notebooks/sanitize.cfg"]
    own_kernel = {nb: kernel for kernel, nbs in notebooks_with_own_kernel().items() for nb in nbs}
    # one step per notebook: its own time limit, its own line in the report
    notebook_steps = []
    for path in [*sorted((ROOT / "notebooks").glob("*.ipynb")), *sorted((ROOT / "solutions").glob("*/*.ipynb"))]:
        rel = str(path.relative_to(ROOT))
        kernel = ["--nbval-kernel-name", own_kernel[rel]] if rel in own_kernel else ["--nbval-current-env"]
        notebook_steps.append(
            Step(f"nbval {rel}", [*pytest_common, *nbval, *kernel, rel], 300, shared=True, expect_s=60)
        )
    return [
        Step("doctor", [py, "-m", "course_utils", "doctor", "--json"], 180, expect_s=10),
        Step("gpu tests", [*pytest_common, "-m", "gpu", "tests/gpu"], 600, expect_s=90),
        Step(
            "telemetry bench",
            [
                py,
                "-m",
                "course_utils",
                "bench",
                "telemetry",
                "--gpus",
                str(min(2, n_gpus)),
                "--json-out",
                f"docs/results/telemetry_{tag}.json",
            ],
            240,
            figures=f"telemetry_{tag}.json",
            expect_s=30,
        ),
        Step(
            "memory bench",
            [py, "benchmarks/memory_bench.py", "--out", "docs/results/memory.json"],
            300,
            figures="memory.json",
            needs="benchmarks/memory_bench.py",
            expect_s=40,
        ),
        Step(
            "dashboard vs nvidia-smi",
            [py, "benchmarks/dashboard_vs_nvidia_smi.py", "--json-out", "docs/results/dashboard_vs_smi.json"],
            240,
            figures="dashboard_vs_smi.json",
            needs="benchmarks/dashboard_vs_nvidia_smi.py",
            expect_s=45,
        ),
        Step(
            "grading self-test",
            [py, "-m", "course_grading", "--selftest", "--out", f"docs/results/grading_gpu_{tag}.json"],
            600,
            figures=f"grading_gpu_{tag}.json",
            needs="course_grading/selftest.py",
            shared=True,
            expect_s=90,
        ),
        *notebook_steps,
        Step(
            "DataParallel probe",
            [py, "benchmarks/dataparallel_probe.py", "--out", "docs/results/dataparallel_probe.json"],
            300,
            figures="dataparallel_probe.json",
            min_gpus=2,
            needs="benchmarks/dataparallel_probe.py",
            expect_s=90,
        ),
        Step(
            "multi-GPU bench",
            [
                py,
                "benchmarks/multi_gpu_bench.py",
                "--gpus",
                counts,
                "--out",
                "docs/results/multi_gpu.json",
                "--budget-s",
                os.environ.get("MULTI_GPU_BUDGET_S", "150"),
            ],
            300,
            figures="multi_gpu.json",
            needs="benchmarks/multi_gpu_bench.py",
            expect_s=170,
        ),
    ]


# `--cpu`: what can be checked without a GPU, in about a minute on 2 cores (the container smoke
# test runs it): the doctor reports (and names what is missing), PyTorch computes, and two short
# notebooks run under nbval. Results are printed, not written to docs/results.
CPU_NOTEBOOKS = ["notebooks/00_welcome.ipynb", "notebooks/06_pytorch_memory.ipynb"]


def cpu_steps() -> list[Step]:
    py = sys.executable
    pytest_common = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra --strict-markers"]
    nbval = ["--nbval-lax", "--nbval-sanitize-with", "tests/notebooks/sanitize.cfg", "--nbval-current-env"]
    return [
        Step("doctor", [py, "-m", "course_utils", "doctor", "--json"], 180, min_gpus=0),
        Step(
            "torch on CPU",
            [
                py,
                "-c",
                "import torch; x = torch.randn(256, 256); "
                "assert torch.allclose(x @ torch.eye(256), x); print('torch', torch.__version__)",
            ],
            120,
            min_gpus=0,
        ),
        *[Step(f"nbval {nb}", [*pytest_common, *nbval, nb], 300, min_gpus=0) for nb in CPU_NOTEBOOKS],
    ]


def summarise(path: Path) -> str:
    """A short line of key figures from a results JSON file."""
    if not path.exists():
        return ""
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "snapshot_us_ours" in data:
        raw = data.get("snapshot_us_raw_nvml") or 0
        return (
            f"snapshot {data['snapshot_us_ours']:.1f} us vs raw NVML {raw:.1f} us; "
            f"sampler 10 Hz {data['sampler_cpu_pct_10hz']:.2f}% of a core; nvidia-smi "
            f"{data.get('nvidia_smi_ms') or 0:.0f} ms"
        )
    if isinstance(data, dict) and isinstance(data.get("summary"), str):
        return data["summary"]
    if isinstance(data, dict) and isinstance(data.get("verdict"), dict):
        return str(data["verdict"].get("result", ""))
    if isinstance(data, dict) and isinstance(data.get("checks"), dict):  # dashboard vs nvidia-smi
        return "agreement: " + ", ".join(f"{k} {v.get('agree')}/{v.get('readings')}" for k, v in data["checks"].items())
    rows = data.get("runs") if isinstance(data, dict) else data
    if isinstance(rows, list) and rows and isinstance(rows[0], dict) and "img_per_s" in rows[0]:
        parts = []
        for r in rows:
            if r.get("device", "cuda") != "cuda" or not r.get("img_per_s"):
                continue
            eff = f" ({100 * r['scaling_efficiency']:.0f}%)" if r.get("scaling_efficiency") else ""
            extra = "" if r.get("compile", "none") == "none" else f" compile={r['compile']}"
            extra += "" if r.get("cudnn_benchmark", True) else " cudnn.benchmark off"
            parts.append(f"{r['model']} {r['mode']} x{r['gpus']}{extra}: {r['img_per_s']:,.0f} img/s{eff}")
        return "; ".join(parts)
    return f"see {path.relative_to(ROOT)}"


def log_name(step_name: str) -> str:
    """A file name for a step's log: `nbval notebooks/00_welcome.ipynb` -> `nbval_notebooks_00_welcome.ipynb.log`
    (a `/` in the name would point into a folder that does not exist)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", step_name).strip("_") + ".log"


def run_step(step: Step, n_gpus: int, log_dir: Path, time_left_s: float | None = None) -> Outcome:
    """Run one step; ``time_left_s`` (the call's budget) shortens its time limit, and a step
    stopped by the budget is *not run* (run it again with --only), not a failure."""
    if n_gpus < step.min_gpus:
        return Outcome(step.name, "not run", 0.0, f"needs {step.min_gpus} GPUs")
    if step.needs and not (ROOT / step.needs).exists():
        return Outcome(step.name, "not run", 0.0, f"{step.needs} does not exist")
    log = log_dir / log_name(step.name)
    limit = step.timeout_s if time_left_s is None else max(1, min(step.timeout_s, int(time_left_s)))
    print(f"==> {step.name}: {' '.join(step.argv)}", flush=True)
    start = time.perf_counter()
    stopped_by_budget = False
    with open(log, "w") as f:
        try:
            proc = subprocess.run(step.argv, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=limit)
            status = "pass" if proc.returncode == 0 else "fail"
        except subprocess.TimeoutExpired:
            stopped_by_budget = limit < step.timeout_s
            status = "not run" if stopped_by_budget else "fail"
            why = "the call's time budget" if stopped_by_budget else "its time limit"
            f.write(f"\n[gpu_validate] stopped after {limit} s ({why})\n")
    seconds = time.perf_counter() - start
    tail = log.read_text(errors="replace").strip().splitlines()[-15:]
    print("\n".join(f"    [{step.name}] " + line for line in tail), flush=True)
    figures = summarise(RESULTS / step.figures) if step.figures else _pytest_counts(tail)
    if stopped_by_budget:
        figures = f"stopped at the time budget after {seconds:.0f} s: run again with --only '{step.name}'"
    if step.name == "doctor" and status == "pass" and n_gpus > 0:
        status, figures = _doctor_status(log)
    where = str(log.relative_to(ROOT)) if log.is_relative_to(ROOT) else str(log)
    return Outcome(step.name, status, seconds, figures, where)


def _pytest_counts(tail: list[str]) -> str:
    for line in reversed(tail):
        if " passed" in line or " failed" in line or " skipped" in line:
            return line.strip("= ")
    return ""


def _doctor_status(log: Path) -> tuple[str, str]:
    text = log.read_text()
    report = json.loads(text[text.index("{") :])
    failed = [c["name"] for c in report["checks"] if c["status"] == "fail"]
    return ("fail" if failed else "pass"), (
        f"failed: {', '.join(failed)}" if failed else f"mode {report['mode']}: " + report["mode_detail"]
    )


def matches(name: str, words: set[str]) -> bool:
    """A step is chosen by its full name or by a prefix ending a word: `nbval` picks every notebook."""
    return any(name == w or name.startswith(w + " ") for w in words)


def write_report() -> None:
    runs = []
    for path in sorted(RESULTS.glob("gpu_validation_*gpu.json")):
        runs.append(json.loads(path.read_text()))
    lines = [
        "# GPU validation reports",
        "",
        "Written by `scripts/gpu_validate.sh` (do not edit by hand). Each section is one GPU count; "
        "steps marked *not run* did not run on that machine, with the reason.",
        "",
    ]
    for run in sorted(runs, key=lambda r: r["machine"]["gpus"]):
        m = run["machine"]
        lines += [
            f"## {m['gpus']} x {m['gpu_model']}",
            "",
            f"Driver {m['driver']}, torch {m['torch']}, Python {m['python']}, run on {m['date']}.",
            "",
            "| item | result | time | key figures |",
            "|---|---|---|---|",
        ]
        for o in run["steps"]:
            figures = o["figures"].replace("|", "/").replace("\n", " ")
            lines.append(f"| {o['name']} | {o['status']} | {o['seconds']:.0f} s | {figures} |")
        lines.append("")
    notes = RESULTS / "gpu_validation_notes.md"  # what a person found out about a row after the run
    if notes.exists():
        lines += ["## Notes on these runs", "", notes.read_text().strip(), ""]
    REPORT.write_text("\n".join(lines))


def plan(steps: list[Step]) -> list[list[Step]]:
    """Phases, in order: each exclusive step alone, and each run of consecutive shared steps
    together (notebooks and grading may share the GPUs; a benchmark's figures may not)."""
    phases: list[list[Step]] = []
    for step in steps:
        if step.shared and phases and all(s.shared for s in phases[-1]):
            phases[-1].append(step)
        else:
            phases.append([step])
    return phases


def expected_s(step: Step, previous: dict[str, dict]) -> float:
    last = previous.get(step.name)
    return last["seconds"] if last and last.get("status") == "pass" and last.get("seconds") else step.expect_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", help="comma-separated step names to run")
    parser.add_argument("--skip", help="comma-separated step names to skip")
    parser.add_argument("--list", action="store_true", help="list the steps and exit")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="only rebuild docs/gpu-validation.md from docs/results/gpu_validation_*gpu.json",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="no GPU needed: the doctor, PyTorch on CPU and two short notebooks; results printed only",
    )
    parser.add_argument("--log-dir", default=os.environ.get("OUT") or "test-artifacts/gpu-validation")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=float(os.environ.get("GPU_VALIDATE_BUDGET_S", 450)),
        help="end within this many seconds (default 450): a step that would not fit is "
        "'not run', and a later call with --only runs it; results merge across calls",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=max(1, min(4, (os.cpu_count() or 1) // 4)),
        help="notebook/grading steps run side by side (default: a quarter of the cores, at most 4)",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.budget_s <= 0:
        parser.error("--jobs and --budget-s must be positive")
    if args.report_only:
        write_report()
        print(f"rebuilt {REPORT}")
        return 0
    started = time.monotonic()
    machine = gpu_inventory()
    n = machine["gpus"]
    tag = f"{n}gpu"
    steps = cpu_steps() if args.cpu else steps_for(max(n, 1), tag)
    if args.cpu:
        n, tag = 0, "cpu"
    if args.list:
        print("\n".join(s.name for s in steps))
        return 0
    chosen = {s.strip() for s in args.only.split(",")} if args.only else None
    skipped = {s.strip() for s in args.skip.split(",")} if args.skip else set()
    unknown = {w for w in (chosen or set()) | skipped if not any(matches(s.name, {w}) for s in steps)}
    if unknown:
        parser.error(f"unknown step(s) {sorted(unknown)}; --list shows them")
    if n == 0 and not args.cpu:
        print(
            "No NVIDIA GPU found (nvidia-smi missing or lists none): nothing to validate on a GPU. "
            "Run `python -m course_utils doctor` for the reason."
        )
        return 1
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    results_file = RESULTS / f"gpu_validation_{tag}.json"
    previous = json.loads(results_file.read_text()) if results_file.exists() and not args.cpu else {"steps": []}
    outcomes = {o["name"]: o for o in previous["steps"]}
    last_run = dict(outcomes)
    todo = [s for s in steps if not ((chosen and not matches(s.name, chosen)) or matches(s.name, skipped))]
    order = [s.name for s in steps]

    def save() -> None:  # after every step: a call cut short keeps what it measured
        if args.cpu:  # the CPU self-test prints its results; it records nothing
            return
        ordered = [outcomes.get(name) or asdict(Outcome(name, "not run", 0.0, "not run yet")) for name in order]
        RESULTS.mkdir(parents=True, exist_ok=True)
        results_file.write_text(json.dumps({"machine": machine, "steps": ordered}, indent=2) + "\n")
        write_report()
        export(results_file, log_dir)

    def skipped_for_time(step: Step, left: float) -> dict:
        why = (
            f"time budget: ~{expected_s(step, last_run):.0f} s needed, {max(0, left):.0f} s left; "
            f"run again with --only '{step.name}'"
        )
        return asdict(Outcome(step.name, "not run", 0.0, why))

    def admit_and_run(step: Step) -> dict:
        left = args.budget_s - (time.monotonic() - started)
        if expected_s(step, last_run) > left:
            return skipped_for_time(step, left)
        return asdict(run_step(step, n, log_dir, left))

    for phase in plan(todo):
        with ThreadPoolExecutor(max_workers=args.jobs if len(phase) > 1 else 1) as pool:
            running = {pool.submit(admit_and_run, s): s for s in phase}
            for done in as_completed(running):
                outcomes[running[done].name] = done.result()
                save()
    save()
    ordered = [outcomes.get(name) or asdict(Outcome(name, "not run", 0.0, "not run yet")) for name in order]
    print(f"\n{'item':<26}{'result':<9}{'time':>7}  key figures")
    for o in ordered:
        print(f"{o['name']:<26}{o['status']:<9}{o['seconds']:>6.0f}s  {o['figures'][:150]}")
    if args.cpu:
        print(f"\nCPU self-test (no GPU used), {machine['date']}; {time.monotonic() - started:.0f} s")
    else:
        print(
            f"\n{n} x {machine['gpu_model']}, driver {machine['driver']}, {machine['date']}; report: {REPORT}; "
            f"{time.monotonic() - started:.0f} s"
        )
    return 0 if all(o["status"] != "fail" for o in ordered) else 1


def export(results_file: Path, log_dir: Path) -> None:
    """Copy the results and the report next to the logs (under $OUT on the device machine, the
    only folder that comes back), as docs/..., ready to copy into the repository."""
    if not log_dir.resolve().is_relative_to(ROOT.resolve()):
        target = log_dir / "docs"
        (target / "results").mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPORT, target / REPORT.name)
        for path in RESULTS.glob("*.json"):
            if path.stat().st_mtime >= STARTED:  # written by this call
                shutil.copy2(path, target / "results" / path.name)
        shutil.copy2(results_file, target / "results" / results_file.name)


if __name__ == "__main__":
    sys.exit(main())
