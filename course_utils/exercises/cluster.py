"""Self-checks for the cluster sections of notebooks 08 (training) and 09 (monitoring).

Each check looks at what the learner produced and returns a
:class:`~course_utils.selfcheck.Feedback`; none raises on a wrong answer or
gives the answer away.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..selfcheck import Feedback, Question, Quiz, first_failure
from ..units import MIB


def find_repo_file(relative: str) -> Path:
    """``relative`` (e.g. ``deploy/grafana/gpu-dashboard.json``) in the course checkout: looked for
    above the working directory (a notebook runs in ``notebooks/``) and above this package."""
    starts = [Path.cwd(), Path(__file__).resolve().parent]
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / relative).is_file():
                return folder / relative
    raise FileNotFoundError(
        f"{relative} is not in this copy of the course (looked above {', '.join(map(str, starts))}). "
        "It is in the course repository: open this notebook from a full checkout of it."
    )


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def check_scraped_value(value, sampler, gpu: int = 0) -> Feedback:
    """Exercise: GPU ``gpu``'s ``DCGM_FI_DEV_FB_USED`` read from the exporter's text.

    Right when it equals the memory in MiB of that GPU in one of the sampler's
    last snapshots (the exporter serves the latest snapshot, never a new reading)."""
    number = _number(value)
    recent = [g.memory_used_mib for snap in sampler.window(60.0) for g in snap.gpus if g.index == gpu]
    recent_bytes = [m * MIB for m in recent if m is not None]
    return first_failure(
        f"Exercise: GPU {gpu}'s memory from the exporter",
        [
            (
                value is not None,
                "`fb_used` is still None.",
                'Find the line that starts with DCGM_FI_DEV_FB_USED and has gpu="0", and take its number.',
            ),
            (number is not None, f"{value!r} is not a number.", "float() of the last field of the line."),
            (
                number is None
                or not any(math.isclose(number, b, rel_tol=1e-9) for b in recent_bytes)
                or any(math.isclose(number, m, abs_tol=1e-6) for m in recent if m is not None),  # 0 is both
                f"{value} is the value in bytes, but this metric is in MiB.",
                "Read the # HELP line.",
            ),
            (
                number is not None
                and any(math.isclose(number, m, rel_tol=1e-9, abs_tol=1e-6) for m in recent if m is not None),
                f"{value} MiB is not what the sampler read for GPU {gpu} in the last minute.",
                f'Pick the series with gpu="{gpu}" (there is one per GPU), and scrape again if your text is old.',
            ),
        ],
        success="Right: the scrape handed back the sampler's own reading; no GPU was asked again.",
    )


def check_memory_pct_query(query: str | None, prometheus_url: str | None, sampler) -> Feedback:
    """Exercise: a PromQL query for each GPU's memory in use, as % of its total.

    Runs the query against Prometheus and compares each GPU's answer with the
    sampler's ``memory_used_pct`` (within 2 points: the two are read moments apart)."""
    from ..telemetry.promserver import PromQLError
    from ..telemetry.promserver import query as run_query

    title = "Exercise: memory in use, % per GPU, in PromQL"
    if not query or not str(query).strip() or "..." in str(query):
        return Feedback(
            False, title, "`memory_pct_query` is still empty.", "Divide DCGM_FI_DEV_FB_USED by the total, times 100."
        )
    if prometheus_url is None:
        return Feedback(
            False,
            title,
            "There is no Prometheus to run it against here, so it was not checked.",
            "Install Prometheus (see the section above) or set PROMETHEUS_URL, then run this again.",
        )
    try:
        result = run_query(prometheus_url, str(query))
    except PromQLError as exc:
        return Feedback(
            False,
            title,
            f"Prometheus refused the query: {exc}",
            "Check brackets and metric names; PromQL is case-sensitive.",
        )
    expected: dict[str, list[float]] = {}
    for snap in sampler.window(10.0):
        for g in snap.gpus:
            if g.memory_used_pct is not None:
                expected.setdefault(str(g.index), []).append(g.memory_used_pct)
    got = {r["metric"].get("gpu"): _number(r["value"][1]) for r in result}
    return first_failure(
        title,
        [
            (
                len(result) > 0,
                "The query returned no series.",
                "Start from DCGM_FI_DEV_FB_USED alone, then build on it.",
            ),
            (
                None not in got,
                "Some series have no `gpu` label: the answer must stay per GPU.",
                "Arithmetic between two metrics keeps the labels they share; an aggregation like sum() drops them.",
            ),
            (
                set(got) == set(expected),
                f"Series for GPUs {sorted(got)}; the sampler sees {sorted(expected)}.",
                "Ask for every GPU the exporter publishes.",
            ),
            (
                set(got) == set(expected)
                and all(v is not None and any(abs(v - e) <= 2.0 for e in expected[k]) for k, v in got.items()),
                "The numbers do not match the share of memory in use: "
                + ", ".join(f"GPU {k}: {v:.3g}" for k, v in sorted(got.items()) if v is not None),
                "FB_FREE leaves out the driver's reservation; the total is DCGM_FI_DEV_FB_TOTAL "
                "(or USED + FREE + RESERVED). Multiply by 100.",
            ),
        ],
        success="Right: Prometheus matched the two series by their labels and divided them GPU by GPU.",
    )


def check_scaled_job(service: dict, job: dict, nodes: int = 4, gpus_per_node: int = 8) -> Feedback:
    """Exercise: the torchrun Job scaled to ``nodes`` x ``gpus_per_node``, every place that says so."""
    title = f"Exercise: the Job on {nodes} nodes x {gpus_per_node} GPUs"
    try:
        spec = job["spec"]
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        args = dict(a.split("=", 1) for a in container["args"] if a.startswith("--") and "=" in a)
        gpus = container["resources"]["limits"]["nvidia.com/gpu"]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        return Feedback(
            False,
            title,
            f"The manifest lost part of its structure ({exc!r}).",
            "Reload it from the file and change values only.",
        )
    rdzv = args.get("--rdzv-endpoint", "")
    steps = [
        (
            spec.get("completions") == nodes,
            f"completions is {spec.get('completions')}: one pod per node.",
            "An Indexed Job makes `completions` pods, numbered 0..completions-1.",
        ),
        (
            spec.get("parallelism") == nodes,
            f"parallelism is {spec.get('parallelism')}.",
            "A DDP job cannot start with some of its nodes: all pods must run at once.",
        ),
        (
            args.get("--nnodes") == str(nodes),
            f"torchrun's --nnodes is {args.get('--nnodes')}.",
            "torchrun waits at the rendezvous until --nnodes launchers have joined.",
        ),
        (
            args.get("--nproc-per-node") == str(gpus_per_node),
            f"--nproc-per-node is {args.get('--nproc-per-node')}.",
            "One process per GPU of the pod.",
        ),
        (
            gpus == gpus_per_node,
            f"the pod asks for {gpus} GPUs.",
            "resources.limits['nvidia.com/gpu'] must match the processes torchrun starts.",
        ),
        (
            rdzv == f"{job['metadata']['name']}-0.{service['metadata']['name']}:29400",
            f"the rendezvous endpoint is {rdzv!r}.",
            "It stays pod 0 of the headless Service: nothing to change.",
        ),
    ]
    try:
        import kubernetes_validate

        kubernetes_validate.validate(job, kubernetes_validate.utils.latest_version(), strict=True)
        steps.append((True, "", ""))
    except ImportError:
        pass
    except Exception as exc:  # the package's ValidationError and friends
        steps.append(
            (
                False,
                f"Kubernetes' schema rejects it: {str(exc).splitlines()[0]}",
                "Change values only; keep every field name.",
            )
        )
    return first_failure(
        title,
        steps,
        success=f"Right: {nodes * gpus_per_node} ranks; pod i runs ranks "
        f"{gpus_per_node}*i .. {gpus_per_node}*i+{gpus_per_node - 1}.",
    )


CLUSTER_TRAINING_QUIZ = Quiz(
    "Check your understanding: torchrun on a cluster",
    [
        Question(
            "In the Indexed Job, how do the pods find each other?",
            [
                "Through the NCCL_SOCKET_IFNAME variable",
                "At pod 0's DNS name, which the headless Service and the pods' subdomain create",
                "Kubernetes passes MASTER_ADDR to every pod",
                "Through the Job's completion index",
            ],
            "b",
            "Pod 0 hosts the c10d store; the headless Service gives it the name <job>-0.<service>.",
            why={
                "a": "That picks NCCL's network interface, after the rendezvous.",
                "c": "Plain Kubernetes sets no MASTER_ADDR; Kubeflow's operators do.",
                "d": "The index numbers the pods; it is not an address.",
            },
        ),
        Question(
            "What changes between the SLURM script and the Kubernetes Job?",
            [
                "The training code",
                "How the launchers are started and how they find the rendezvous endpoint",
                "The number of processes per GPU",
                "The NCCL version",
            ],
            "b",
            "srun or a Job starts one torchrun per node; the first node's host name or pod 0's DNS name is the "
            "endpoint. The `-m course_utils.distributed.worker ...` part is the same.",
            why={
                "a": "The worker module and its arguments are identical in both files.",
                "c": "One process per GPU in both.",
                "d": "Both run the same image.",
            },
        ),
    ],
)


MONITORING_QUIZ = Quiz(
    "Check your understanding: GPU metrics on a cluster",
    [
        Question(
            "Prometheus scrapes the exporter 4 times a second; the sampler reads the GPUs once a second. "
            "How many NVML readings per second?",
            ["4", "1", "5", "It depends on the number of dashboards"],
            "b",
            "A scrape renders the latest snapshot; only the sampler reads the GPUs.",
            why={
                "a": "Scrapes read no GPU.",
                "c": "Scrapes add nothing.",
                "d": "Dashboards query Prometheus, not GPUs.",
            },
        ),
        Question(
            "A dashboard built for dcgm-exporter shows no 'power against limit' line. Why?",
            [
                "dcgm-exporter cannot read power",
                "DCGM_FI_DEV_ENFORCED_POWER_LIMIT is not among dcgm-exporter's default counters",
                "Prometheus drops gauges above 500",
                "The GPU has no power limit",
            ],
            "b",
            "Add the field to dcgm-exporter's counters CSV, as docs/monitoring.md says.",
            why={
                "a": "DCGM_FI_DEV_POWER_USAGE is a default counter.",
                "c": "It does not.",
                "d": "Every data-centre GPU has an enforced limit.",
            },
        ),
    ],
)
