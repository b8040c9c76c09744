"""Self-checks of the cluster sections (08 training, 09 monitoring): right answers
pass, typical wrong ones get a hint, and none raises."""

import copy
from pathlib import Path

import pytest
import yaml

from course_utils.exercises.cluster import (
    CLUSTER_TRAINING_QUIZ,
    MONITORING_QUIZ,
    check_memory_pct_query,
    check_scaled_job,
    check_scraped_value,
)
from course_utils.telemetry import Sampler, SimulatedBackend

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sampler():
    s = Sampler(SimulatedBackend(2, seed=1, step_s=0.5), interval=1.0, name=None)
    for _ in range(30):
        s.sample_once()
    return s


def test_scraped_value(sampler):
    mib = sampler.latest.gpus[0].memory_used_mib
    assert check_scraped_value(mib, sampler).ok
    assert check_scraped_value(str(mib), sampler).ok  # a number as text is fine
    bytes_answer = check_scraped_value(mib * 1024 * 1024, sampler)
    assert not bytes_answer.ok and "bytes" in bytes_answer.message
    assert not check_scraped_value(None, sampler).ok
    assert not check_scraped_value("lots", sampler).ok
    assert not check_scraped_value(sampler.latest.gpus[1].memory_used_mib + 1, sampler).ok


def test_memory_query_without_prometheus_is_not_checked(sampler):
    assert "not checked" in check_memory_pct_query("100 * DCGM_FI_DEV_FB_USED", None, sampler).message
    assert "empty" in check_memory_pct_query("...", None, sampler).message


@pytest.fixture
def manifests():
    service, job = yaml.safe_load_all((ROOT / "deploy/kubernetes/torchrun-job.yaml").read_text())
    return service, job


def scale(job, nodes, gpus):
    job = copy.deepcopy(job)
    job["spec"]["completions"] = job["spec"]["parallelism"] = nodes
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [
        f"--nnodes={nodes}"
        if a.startswith("--nnodes=")
        else f"--nproc-per-node={gpus}"
        if a.startswith("--nproc-per-node=")
        else a
        for a in container["args"]
    ]
    container["resources"]["limits"]["nvidia.com/gpu"] = gpus
    return job


def test_scaled_job(manifests):
    service, job = manifests
    assert not check_scaled_job(service, job).ok  # the file as it is: 2 x 4
    assert check_scaled_job(service, scale(job, 4, 8)).ok
    half = scale(job, 4, 8)
    half["spec"]["parallelism"] = 2
    assert "parallelism" in check_scaled_job(service, half).message
    wrong_gpus = scale(job, 4, 8)
    wrong_gpus["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = 4
    assert "GPUs" in check_scaled_job(service, wrong_gpus).message
    typo = scale(job, 4, 8)
    typo["spec"]["completionz"] = 4
    assert "schema" in check_scaled_job(service, typo).message
    assert not check_scaled_job(service, {"spec": None}).ok


def test_quizzes():
    assert CLUSTER_TRAINING_QUIZ.check(1, "b").ok and not CLUSTER_TRAINING_QUIZ.check(1, "c").ok
    assert MONITORING_QUIZ.check(1, "b").ok and MONITORING_QUIZ.check(2, "b").ok


def test_repo_files_are_found_from_a_notebook_folder_or_say_where_they_are(monkeypatch, tmp_path):
    from course_utils.exercises.cluster import find_repo_file

    monkeypatch.chdir(ROOT / "notebooks")
    assert find_repo_file("deploy/grafana/gpu-dashboard.json") == ROOT / "deploy/grafana/gpu-dashboard.json"
    with pytest.raises(FileNotFoundError, match="full checkout"):
        find_repo_file("deploy/no-such-file.yaml")
