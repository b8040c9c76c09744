"""The notebook self-checks of 06-11: the reference answer passes, typical wrong answers fail with
the right message, and no feedback gives the answer away."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils.exercises import nb06, nb07, nb08, nb09, nb10, nb11
from course_utils.telemetry import AlertRule, LoopDrivenBackend


def no_answer(fb, *answers):
    text = f"{fb.message} {fb.hint}"
    for a in answers:
        assert str(a) not in text


def test_nb06_allocated():
    truth = nb06.tensor_bytes_truth()
    assert nb06.check_allocated_prediction(truth).ok
    assert nb06.check_allocated_prediction(truth, measured_bytes=truth).ok
    fb = nb06.check_allocated_prediction(None)
    assert not fb.ok and "not a number" in fb.message
    fb = nb06.check_allocated_prediction(truth / 1024**2)
    assert not fb.ok and "bytes" in fb.hint
    fb = nb06.check_allocated_prediction(sum(n * 4 for n in (2048 * 1024, 4096 * 4096, 8192)))
    assert not fb.ok and "4 bytes" in fb.message
    fb = nb06.check_allocated_prediction(truth - 8192 * 8)
    assert not fb.ok and "leaves one tensor out" in fb.message
    no_answer(fb, truth, f"{truth:,}")


def test_nb06_empty_cache_and_fragmentation():
    assert nb06.check_empty_cache_prediction(dict(nb06.EMPTY_CACHE_TRUTH)).ok
    wrong = dict(nb06.EMPTY_CACHE_TRUTH, allocated="lower")
    fb = nb06.check_empty_cache_prediction(wrong)
    assert not fb.ok and "allocated" in fb.message
    assert not nb06.check_empty_cache_prediction({"allocated": None}).ok
    assert not nb06.check_empty_cache_prediction({k: "maybe" for k in nb06.EMPTY_CACHE_TRUTH}).ok
    assert nb06.check_fragmentation_reading(1.98, 1.11).ok
    fb = nb06.check_fragmentation_reading(0.5, 0.9)
    assert not fb.ok and "below 1" in fb.message


def test_nb07_recorded_figures():
    single = nb07._pick("resnet50", "single", 1)["img_per_s"]
    dp2 = nb07._pick("resnet50", "dataparallel", 2, bench=False)["img_per_s"]
    assert nb07.check_dp_speedup(dp2 / single, dp2 > single).ok
    compiled = nb07._pick("resnet50", "single", 1, "default")["img_per_s"]
    fb = nb07.check_dp_speedup(dp2 / compiled, False)
    assert not fb.ok and "compiled" in fb.message
    fb = nb07.check_dp_speedup(single / dp2, True)
    assert not fb.ok and "the other way round" in fb.hint
    assert not nb07.check_dp_speedup(dp2 / single, True).ok
    no_answer(fb, f"{dp2 / single:.2f}")
    dp4 = nb07._pick("resnet50", "dataparallel", 4, bench=False)["img_per_s"]
    assert nb07.check_efficiency_function(nb07.efficiency, dp4 / (4 * single)).ok
    fb = nb07.check_efficiency_function(lambda a, g, s: a / s, 0.3)
    assert not fb.ok and "Perfect scaling" in fb.hint
    assert not nb07.check_efficiency_function(lambda a, g, s: None, None).ok
    assert not nb07.check_efficiency_function(nb07.efficiency, dp4 / single).ok


REFERENCE = Path(__file__).parent / "data" / "my_ddp_reference.py"


def run_ddp(script, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(script),
            str(run_dir),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return run_dir, proc.returncode


@pytest.mark.slow
def test_nb08_reference_ddp_script_passes(tmp_path):
    run_dir, rc = run_ddp(REFERENCE, tmp_path)
    fb = nb08.check_ddp_run(run_dir, rc, REFERENCE)
    assert fb.ok, fb


@pytest.mark.slow
def test_nb08_script_without_ddp_wrap_is_told_about_gradients(tmp_path):
    script = tmp_path / "no_wrap.py"
    script.write_text(REFERENCE.read_text().replace("return DDP(model)", "return model"))
    run_dir, rc = run_ddp(script, tmp_path)
    fb = nb08.check_ddp_run(run_dir, rc, script)
    assert not fb.ok and "different gradients" in fb.message and "TODO 3" in fb.hint


def test_nb08_checks_from_files(tmp_path):
    import json

    script = tmp_path / "s.py"
    script.write_text(REFERENCE.read_text())
    assert "rank" in nb08.check_ddp_run(tmp_path, 1, script).message  # nothing written
    same = list(range(64))
    for r in (0, 1):
        (tmp_path / f"rank{r}.json").write_text(
            json.dumps({"backend": "gloo", "world_size": 2, "indices": same, "allreduce": 3.0, "grads": [1.0]})
        )
    fb = nb08.check_ddp_run(tmp_path, 0, script)
    assert not fb.ok and "split" in fb.message and "TODO 2" in fb.hint
    reference = REFERENCE.read_text()
    assert nb08.teardown_problem(reference) is None
    no_import = reference.replace("import torch.distributed.nn ", "import json ")
    assert "torch.distributed.nn" in nb08.teardown_problem(no_import)
    no_end = reference.replace("    dist.destroy_process_group()", "    pass")
    assert "no function calls" in nb08.teardown_problem(no_end)
    model_held = "import torch.distributed.nn\ndef main():\n    m = wrap(1)\n    dist.destroy_process_group()\n"
    assert "still holds the group" in nb08.teardown_problem(model_held)
    barrier_in_finally = (
        "import torch.distributed.nn\ndef main():\n    try:\n        train()\n"
        "    finally:\n        dist.barrier()\n        dist.destroy_process_group()\n"
    )
    assert "barrier" in nb08.teardown_problem(barrier_in_finally)


def test_nb08_sync_batchnorm():
    assert nb08.check_sync_batchnorm(torch.nn.SyncBatchNorm.convert_sync_batchnorm).ok
    fb = nb08.check_sync_batchnorm(lambda m: m)
    assert not fb.ok and "plain BatchNorm2d" in fb.message
    assert "convert_sync_batchnorm" not in fb.hint
    assert not nb08.check_sync_batchnorm(lambda m: None).ok


def test_nb09_readings_and_alert():
    gpu = LoopDrivenBackend(1)
    with gpu.step() as s:
        s.holds(torch.zeros(1024, 1024))
    snap = gpu.snapshot()
    g = snap.gpus[0]
    good = [
        {"index": 0, "memory_used_mib": g.memory_used_mib, "memory_total_mib": g.memory_total_mib, "utilization_pct": 0}
    ]
    assert nb09.check_readings(good, snap).ok
    bytes_total = [dict(good[0], memory_total_mib=g.memory_total_bytes)]
    fb = nb09.check_readings(bytes_total, snap)
    assert not fb.ok and "bytes" in fb.hint
    assert not nb09.check_readings([], snap).ok
    assert not nb09.check_readings(None, snap).ok
    assert nb09.check_alert_rule(AlertRule("memory_used_pct", high=80.0, clear=70.0)).ok
    fb = nb09.check_alert_rule(AlertRule("memory_busy_pct", high=80.0, clear=70.0))
    assert not fb.ok and "utilization.memory" in fb.message
    assert not nb09.check_alert_rule(AlertRule("memory_used_pct", high=80.0, clear=80.0)).ok
    assert not nb09.check_alert_rule(None).ok


def chunked(model, batch):
    chunk, out, i = batch.shape[0], [], 0
    while i < batch.shape[0]:
        failed = False
        try:
            out.append(model(batch[i : i + chunk]))
        except torch.cuda.OutOfMemoryError:
            if chunk == 1:
                raise
            failed = True
        if failed:
            chunk //= 2
        else:
            i += chunk
    return torch.cat(out)


def test_nb10_retry_loop():
    assert nb10.check_retry_loop(chunked).ok
    fb = nb10.check_retry_loop(lambda model, batch: model(batch))
    assert not fb.ok and "escaped" in fb.message

    def tutorial(model, batch):
        try:
            return model(batch)
        except torch.cuda.OutOfMemoryError:
            return model(batch[: batch.shape[0] // 2])

    assert not nb10.check_retry_loop(tutorial).ok

    def swallow(model, batch):
        try:
            return chunked(model, batch)
        except ValueError:
            return batch

    fb = nb10.check_retry_loop(swallow)
    assert not fb.ok and "ValueError" in fb.message


def test_nb10_doctor_scenarios_and_diagnosis():
    report = nb10.simulated_report("C")
    assert "SIMULATED" in report and "Unknown Error" in report
    assert "void" in nb10.simulated_report("D")
    assert nb10.check_diagnosis(dict(nb10._TRUTH)).ok
    fb = nb10.check_diagnosis(dict(nb10._TRUTH, B="a"))
    assert not fb.ok and "Scenario B" in fb.message
    no_answer(fb, "utility capability: NVIDIA")
    assert not nb10.check_diagnosis({"A": None}).ok
    with pytest.raises(ValueError):
        nb10.simulated_report("Z")


def test_nb11_dockerfile_and_run_command():
    assert nb11.check_dockerfile_review({1, 2, 3}).ok
    assert "Line 4" in nb11.check_dockerfile_review({1, 4}).message
    assert "more line" in nb11.check_dockerfile_review({1}).message
    assert not nb11.check_dockerfile_review(set()).ok
    good = (
        'docker run --rm --gpus \'"device=0,1","capabilities=compute,utility"\' --ipc=host '
        "pytorch/pytorch:2.9.0-cuda13.0-cudnn9-runtime torchrun --nproc-per-node 2 train.py"
    )
    assert nb11.check_run_command(good, run_client=False).ok
    unquoted = good.replace('\'"device=0,1","capabilities=compute,utility"\'', "device=0,1")
    assert "daemon would refuse" in nb11.check_run_command(unquoted, run_client=False).message
    assert "shared memory" in nb11.check_run_command(good.replace("--ipc=host ", ""), run_client=False).message
    assert (
        "floats" in nb11.check_run_command(good.replace(":2.9.0-cuda13.0-cudnn9-runtime", ""), run_client=False).message
    )
    assert not nb11.check_run_command("", run_client=False).ok


def test_nb09_reference_read_gpus_through_the_simulated_nvml_passes():
    from course_utils.telemetry.simnvml import SimulatedNvml

    gpu = LoopDrivenBackend(2)
    with gpu.step() as s:
        s.holds(torch.zeros(256, 1024))

    def read_gpus(nvml):
        nvml.nvmlInit()
        try:
            out = []
            for i in range(nvml.nvmlDeviceGetCount()):
                h = nvml.nvmlDeviceGetHandleByIndex(i)
                mem = nvml.nvmlDeviceGetMemoryInfo(h, version=nvml.nvmlMemory_v2)
                util = nvml.nvmlDeviceGetUtilizationRates(h)
                out.append(
                    {
                        "index": i,
                        "memory_used_mib": mem.used / 1024**2,
                        "memory_total_mib": mem.total / 1024**2,
                        "utilization_pct": util.gpu,
                    }
                )
            return out
        finally:
            nvml.nvmlShutdown()

    assert nb09.check_readings(read_gpus(SimulatedNvml(gpu)), gpu.snapshot()).ok
