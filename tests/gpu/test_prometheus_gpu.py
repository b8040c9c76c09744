"""The exporter on real GPUs: dcgm-exporter's labels from NVML, values equal to the snapshot."""

import re
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from course_utils.telemetry import NoGpuError, NvmlBackend, Sampler
from course_utils.telemetry.prometheus import start_exporter

pytestmark = pytest.mark.gpu


def test_real_gpus_get_dcgm_labels_and_the_snapshot_values():
    try:
        backend = NvmlBackend()
    except NoGpuError as exc:
        pytest.skip(f"no usable NVIDIA GPU here: {exc.reason.message}")
    try:
        sampler = Sampler(backend, interval=1.0, name=None, processes_every=1)
        snap = sampler.sample_once()
        with start_exporter(sampler, ":0", max_age_s=60) as exporter:
            body = urllib.request.urlopen(exporter.url, timeout=5).read().decode()
        families = {f.name: f.samples for f in text_string_to_metric_families(body)}
        temps = {s.labels["gpu"]: s for s in families["DCGM_FI_DEV_GPU_TEMP"]}
        assert set(temps) == {str(g.index) for g in snap.gpus}
        for g in snap.gpus:
            labels = temps[str(g.index)].labels
            assert labels["simulated"] == "false" and labels["UUID"] == g.uuid
            assert re.fullmatch(r"[0-9A-Fa-f]{8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-9A-Fa-f]", labels["pci_bus_id"])
            assert re.fullmatch(r"nvidia\d+", labels["device"])
            assert temps[str(g.index)].value == g.temperature_c
    finally:
        backend.close()
