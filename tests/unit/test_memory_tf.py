"""TensorFlow memory settings: the clash and "too late" paths, for real on the CPU and against a fake GPU TF."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from course_utils.memory import tf_config
from course_utils.memory.tf_config import (
    ENV_GROWTH,
    TfSettingsClash,
    TfTooLate,
    configure_tensorflow_memory,
)


class FakeConfig:
    """tf.config with GPUs and TensorFlow's own rules (context.py, TF 2.21) for growth and logical devices."""

    def __init__(self, n_gpus=2):
        self.gpus = [SimpleNamespace(name=f"/physical_device:GPU:{i}", device_type="GPU") for i in range(n_gpus)]
        self.growth = {}
        self.logical = {}
        self.initialised = False
        self.experimental = SimpleNamespace(
            set_memory_growth=self.set_memory_growth, get_memory_growth=lambda g: self.growth.get(g.name)
        )
        self.LogicalDeviceConfiguration = lambda memory_limit=None: SimpleNamespace(memory_limit=memory_limit)

    def list_physical_devices(self, kind):
        return list(self.gpus) if kind == "GPU" else []

    def get_logical_device_configuration(self, gpu):
        return self.logical.get(gpu.name)

    def set_memory_growth(self, gpu, on):
        if gpu.name in self.logical:
            raise ValueError("Cannot set memory growth on device when virtual devices configured")
        if self.growth.get(gpu.name) == on:
            return
        if self.initialised:
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        self.growth[gpu.name] = on

    def set_logical_device_configuration(self, gpu, devices):
        if self.initialised:
            raise RuntimeError("Virtual devices cannot be modified after being initialized")
        self.logical[gpu.name] = devices


@pytest.fixture
def fake_tf(monkeypatch):
    tf = SimpleNamespace(config=FakeConfig())
    monkeypatch.setattr(tf_config, "_tf", lambda: tf)
    return tf


def test_growth_on_every_gpu(fake_tf):
    result = configure_tensorflow_memory(growth=True, env={})
    assert result.applied and result.mode == "growth"
    assert fake_tf.config.growth == {"/physical_device:GPU:0": True, "/physical_device:GPU:1": True}
    assert "keeps what it grows" in str(result)


def test_limit_on_chosen_gpus(fake_tf):
    result = configure_tensorflow_memory(limit_mb=4096, gpus=[1], env={})
    assert result.devices == ["/physical_device:GPU:1"]
    assert [d.memory_limit for d in fake_tf.config.logical["/physical_device:GPU:1"]] == [4096]
    assert "/physical_device:GPU:0" not in fake_tf.config.logical
    assert "4096 MiB" in str(result)


def test_asking_for_both_is_refused_before_tensorflow_is_touched(monkeypatch):
    monkeypatch.setattr(tf_config, "_tf", lambda: pytest.fail("TensorFlow must not be imported for this"))
    with pytest.raises(TfSettingsClash, match="growth OR a memory limit"):
        configure_tensorflow_memory(growth=True, limit_mb=1024, env={})


def test_limit_with_the_growth_variable_set_is_a_clash(fake_tf):
    with pytest.raises(TfSettingsClash, match=ENV_GROWTH):
        configure_tensorflow_memory(limit_mb=1024, env={ENV_GROWTH: "true"})
    assert fake_tf.config.logical == {}


def test_the_tutorials_order_is_caught_both_ways(fake_tf):
    # tutorial: growth on all GPUs, then a limit on GPU 0; TF would silently drop growth everywhere
    configure_tensorflow_memory(growth=True, env={})
    with pytest.raises(TfSettingsClash, match="silently turn growth off"):
        configure_tensorflow_memory(limit_mb=1024, gpus=[0], env={})
    assert fake_tf.config.logical == {}
    # and the other order
    fresh = FakeConfig()
    fake_tf.config = fresh
    configure_tensorflow_memory(limit_mb=1024, env={})
    with pytest.raises(TfSettingsClash, match="already has a logical device"):
        configure_tensorflow_memory(growth=True, env={})


def test_after_initialisation_the_error_says_restart(fake_tf):
    fake_tf.config.initialised = True
    with pytest.raises(TfTooLate, match=r"(?s)already initialised.*Kernel > Restart") as info:
        configure_tensorflow_memory(limit_mb=2048, env={})
    assert ENV_GROWTH not in str(info.value)  # the growth variable is no way to set a limit
    with pytest.raises(TfTooLate, match="after being initialized") as info:
        configure_tensorflow_memory(growth=True, env={})
    assert f"{ENV_GROWTH}=true" in str(info.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "nothing to set"),
        ({"limit_mb": 0}, "limit_mb"),
        ({"limit_mb": 1.5}, "limit_mb"),
        ({"growth": True, "gpus": [5]}, "no GPU 5"),
    ],
)
def test_bad_arguments(fake_tf, kwargs, match):
    with pytest.raises(ValueError, match=match):
        configure_tensorflow_memory(env={}, **kwargs)


_REAL = r"""
import json, sys
from course_utils.memory import configure_tensorflow_memory, configure_logical_cpus, TfTooLate, tf_initialised
out = {"tf_imported_before": "tensorflow" in sys.modules}
r = configure_tensorflow_memory(growth=True, env={})
out["no_gpu"] = [r.applied, r.note]
out["init_before"] = tf_initialised()
out["split"] = str(configure_logical_cpus(2))
import tensorflow as tf
out["logical"] = len(tf.config.list_logical_devices("CPU"))
out["init_after"] = tf_initialised()
tf.constant(1.0) + 1
try:
    configure_logical_cpus(3)
    out["late"] = None
except TfTooLate as exc:
    out["late"] = str(exc)
print("JSON" + json.dumps(out))
"""


@pytest.mark.slow
def test_real_tensorflow_on_this_cpu():
    pytest.importorskip("tensorflow")
    proc = subprocess.run(
        [sys.executable, "-c", _REAL],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("JSON")]
    assert line, proc.stderr[-3000:]
    out = json.loads(line[0][4:])
    assert out["tf_imported_before"] is False
    if out["no_gpu"][0] is False:  # a CPU build: says so instead of failing
        assert "sees no GPU" in out["no_gpu"][1]
    assert out["init_before"] is False and out["init_after"] is True
    assert out["split"].startswith("TensorFlow: 2 logical CPU devices")
    assert out["logical"] == 2
    assert out["late"] and "Virtual devices cannot be modified after being initialized" in out["late"]
    assert "Kernel > Restart" in out["late"]
