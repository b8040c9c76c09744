"""A real Prometheus (Debian's binary) scraping two exporters of simulated GPUs.

One stack per test session, shared by the exporter and the dashboard tests:
job ``course-gpus`` (4 simulated GPUs) and job ``other-job`` (2), scraped
every second. Starting it takes a few seconds; everything is stopped and its
temporary config and storage removed at the end (the server also dies with
this process if pytest is killed).
"""

from dataclasses import dataclass

import pytest

from course_utils.telemetry import Sampler, SimulatedBackend
from course_utils.telemetry.prometheus import Exporter, start_exporter
from course_utils.telemetry.promserver import LocalPrometheus, find_prometheus

SCRAPE_S = 1.0
JOBS = {"course-gpus": 4, "other-job": 2}


@dataclass
class Stack:
    prometheus: LocalPrometheus
    samplers: dict[str, Sampler]
    exporters: dict[str, Exporter]


@pytest.fixture(scope="package")
def stack():
    if find_prometheus() is None:
        pytest.skip(
            "the prometheus binary is not installed: `make prometheus-deps` installs Debian's package (as root)"
        )
    samplers, exporters, prom = {}, {}, None
    try:
        for seed, (job, n_gpus) in enumerate(JOBS.items(), start=1):
            # a virtual clock, 0.25 s of trace per 0.25 s tick: deterministic values that move. The
            # seeds' first jobs run from ~5 s to 83 s (seed 1) and 101 s (seed 2) of the trace: a minute
            # of training for the session, so memory and power are not idle zeros.
            sampler = Sampler(
                SimulatedBackend(n_gpus, seed=seed, step_s=0.25), interval=0.25, name=None, processes_every=2
            )
            for _ in range(48):  # 12 s into the trace: the job trains on every GPU
                sampler.sample_once()
            samplers[job] = sampler.start()
            exporters[job] = start_exporter(sampler, "127.0.0.1:0")
        prom = LocalPrometheus({job: [e.url] for job, e in exporters.items()}, scrape_interval_s=SCRAPE_S)
        prom.start()
        # three scrapes of every target, so range queries and rate() have data
        prom.wait_for("count_over_time(DCGM_FI_DEV_GPU_UTIL[1m]) >= 3", count=sum(JOBS.values()))
        yield Stack(prom, samplers, exporters)
    finally:
        if prom is not None:
            prom.stop()
        for exporter in exporters.values():
            exporter.stop()
        for sampler in samplers.values():
            sampler.close()
