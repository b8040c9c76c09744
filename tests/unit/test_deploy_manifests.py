"""deploy/: the compose file and Kubernetes manifests against their published
schemas (shipped inside PyPI packages, so no network), and the facts that tie
them together (ports, names, GPU requests, the rendezvous address)."""

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import check_jsonschema
import jsonschema
import kubernetes_validate
import pytest
import yaml

from course_utils.telemetry.prometheus import parse_address

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.monitoring.yaml"
K8S = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
# the oldest Kubernetes still in wide use with Indexed Jobs and the newest the package knows
K8S_VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]


def compose_schema():
    path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_follows_the_compose_specification(compose):
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, errors


def test_the_schema_check_catches_a_mistake(compose):
    schema = compose_schema()
    broken = json.loads(json.dumps(compose))
    broken["services"]["prometheus"]["portz"] = ["9090:9090"]
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def test_the_workshop_comes_from_docker_compose_yaml(compose):
    ext = compose["services"]["workshop"]["extends"]
    base = yaml.safe_load((COMPOSE.parent / ext["file"]).resolve().read_text())
    workshop = base["services"][ext["service"]]
    # named volumes of the extended service must be declared here (extends does not bring them)
    for volume in workshop.get("volumes", []):
        name = str(volume).split(":")[0]
        if not name.startswith((".", "/")):
            assert name in compose["volumes"], name
    exporter = compose["services"]["gpu-exporter"]
    assert exporter["image"] == workshop["image"]
    # the image is not in any registry: compose must be able to build it for this service too
    assert (COMPOSE.parent / exporter["build"]["context"]).resolve() == ROOT
    assert exporter["build"]["dockerfile"] == workshop["build"]["dockerfile"]


def test_prometheus_scrapes_the_exporter_the_compose_file_runs(compose):
    exporter = compose["services"]["gpu-exporter"]
    host, port = parse_address(exporter["command"][exporter["command"].index("--prometheus") + 1])
    assert host == "0.0.0.0", "inside a container the exporter must listen on every interface"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    assert f"gpu-exporter:{port}" in targets
    assert exporter["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_published_ports_are_loopback_only(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} to every interface"


def test_mounted_files_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source}"


def test_grafana_needs_a_password_and_gets_the_dashboard(compose):
    grafana = compose["services"]["grafana"]
    assert grafana["profiles"] == ["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/course.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert any(str(v).split(":")[1].startswith(path) for v in grafana["volumes"] if "dashboard.json" in str(v))


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool comes with Debian's prometheus package")
def test_promtool_accepts_the_prometheus_config():
    proc = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def k8s_documents():
    return [(path, doc) for path in K8S for doc in yaml.safe_load_all(path.read_text()) if doc]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(("path", "doc"), k8s_documents(), ids=lambda x: getattr(x, "name", None) or x.get("kind"))
def test_kubernetes_manifests_validate_strictly(path, doc, version):
    kubernetes_validate.validate(doc, version, strict=True)


def test_the_kubernetes_check_catches_a_mistake():
    _, job = next((p, d) for p, d in k8s_documents() if d["kind"] == "Job")
    broken = json.loads(json.dumps(job))
    broken["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def _jobs():
    return {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == "Job"}


def test_every_pod_asks_for_whole_gpus_under_limits():
    for name, job in _jobs().items():
        for container in job["spec"]["template"]["spec"]["containers"]:
            gpus = container["resources"]["limits"]["nvidia.com/gpu"]
            assert isinstance(gpus, int) and gpus >= 1, name
            assert (
                "nvidia.com/gpu" not in container["resources"].get("requests", {})
                or container["resources"]["requests"]["nvidia.com/gpu"] == gpus
            )


def test_the_torchrun_job_meets_at_pod_zero_of_its_headless_service():
    job = _jobs()["shapes-ddp"]
    service = next(d for _, d in k8s_documents() if d["kind"] == "Service")
    spec, pod = job["spec"], job["spec"]["template"]["spec"]
    args = dict(a.split("=", 1) for a in pod["containers"][0]["args"] if a.startswith("--") and "=" in a)
    assert spec["completionMode"] == "Indexed"
    assert int(args["--nnodes"]) == spec["completions"] == spec["parallelism"]
    assert int(args["--nproc-per-node"]) == pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert service["spec"]["clusterIP"] == "None" and pod["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    host, port = args["--rdzv-endpoint"].rsplit(":", 1)
    assert host == f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]
    mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
    shm = next(v for v in pod["volumes"] if v["name"] == mounts["/dev/shm"])
    assert shm["emptyDir"]["medium"] == "Memory"


def test_slurm_and_kubernetes_run_the_same_training():
    sbatch = (DEPLOY / "slurm" / "shapes-ddp.sbatch").read_text()
    line = " ".join(sbatch.split("srun ", 1)[1].replace("\\\n", " ").split())
    slurm = shlex.split(line)
    k8s = _jobs()["shapes-ddp"]["spec"]["template"]["spec"]["containers"][0]["args"]
    worker = slurm[slurm.index("-m") :]
    assert [a for a in worker if not a.startswith("--run-dir")] == [
        a for a in k8s[k8s.index("-m") :] if not a.startswith("--run-dir")
    ]
    nodes = int(re.search(r"--nodes=(\d+)", sbatch).group(1))
    assert nodes == _jobs()["shapes-ddp"]["spec"]["completions"]
    proc = subprocess.run(["bash", "-n", str(DEPLOY / "slurm" / "shapes-ddp.sbatch")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_worker_accepts_the_arguments_the_manifests_give_it():
    from course_utils.distributed.config import TrainConfig
    from course_utils.distributed.worker import build_parser

    args = _jobs()["shapes-ddp"]["spec"]["template"]["spec"]["containers"][0]["args"]
    worker_args = args[args.index("course_utils.distributed.worker") + 1 :]
    args = build_parser().parse_args(worker_args)  # the worker's own parser: exits on a bad flag
    cfg = TrainConfig.from_args(args)
    assert args.mode == "ddp" and cfg.epochs == 10
