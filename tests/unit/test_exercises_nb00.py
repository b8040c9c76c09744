from course_utils.diagnostics.doctor import Check
from course_utils.exercises import nb00


def reference(nvml):
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        print("no GPU:", exc)
        return []
    try:
        rows = []
        for i in range(nvml.nvmlDeviceGetCount()):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            m = nvml.nvmlDeviceGetMemoryInfo(h)
            rows.append(
                {
                    "index": i,
                    "name": nvml.nvmlDeviceGetName(h),
                    "used_mib": m.used // 2**20,
                    "total_mib": m.total // 2**20,
                }
            )
        return rows
    finally:
        nvml.nvmlShutdown()


def test_reference_passes():
    assert nb00.check_read_gpus(reference).ok


def test_reference_works_on_the_real_binding():
    from course_utils.telemetry.nvml import load_nvml

    rows = reference(load_nvml())  # CPU machine: [], GPU machine: real rows
    assert isinstance(rows, list)


def test_typical_mistakes_fail_with_a_hint():
    def no_shutdown(nvml):
        nvml.nvmlInit()
        memory = [
            nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(nvml.nvmlDeviceGetCount())
        ]
        return [
            {"index": i, "name": "x", "used_mib": m.used // 2**20, "total_mib": m.total // 2**20}
            for i, m in enumerate(memory)
        ]

    def bytes_not_mib(nvml):
        rows = reference(nvml)
        return [dict(r, total_mib=r["total_mib"] * 2**20) for r in rows]

    def crashes_without_gpu(nvml):
        nvml.nvmlInit()
        return reference(nvml)

    cases = {
        None: "not a function",
        (lambda nvml: None): "returned None",
        no_shutdown: "never shut down",
        bytes_not_mib: "MiB",
        crashes_without_gpu: "raised",
    }
    for fn, words in cases.items():
        feedback = nb00.check_read_gpus(fn)
        assert not feedback.ok and words in str(feedback), (fn, str(feedback))
        assert feedback.hint


def test_failed_checks_reading():
    checks = [Check("A", "fail", ""), Check("B", "warn", ""), Check("C", "fail", "")]
    assert nb00.check_failed_checks({"A", "C"}, checks).ok
    for wrong in (None, "A", {"A"}, {"A", "B", "C"}):
        feedback = nb00.check_failed_checks(wrong, checks)
        assert not feedback.ok
        assert "'C'" not in str(feedback) and "{'A', 'C'}" not in str(feedback)
    assert nb00.check_failed_checks(set(), [Check("A", "pass", "")]).ok
