from course_utils.exercises import nb03


def test_pl_prediction():
    assert nb03.check_pl_prediction("power", "W", "GPU").ok
    for args, words in (
        (("memory", "MiB", "container"), "wrong"),
        (("clock", "W", "GPU"), "not what"),
        (("power", "MiB", "GPU"), "unit"),
        (("power", "W", "container"), "wider"),
        ((None, None, None), "all three"),
    ):
        fb = nb03.check_pl_prediction(*args)
        assert not fb.ok and words in fb.message
        assert "power" not in (fb.message + fb.hint).lower() or "power" in " ".join(map(str, args))


def test_sharing_choice():
    assert nb03.check_sharing_choice(dict(nb03.SCENARIOS)).ok
    first = next(iter(nb03.SCENARIOS))
    fb = nb03.check_sharing_choice({**nb03.SCENARIOS, first: "mps"})
    assert not fb.ok and first in fb.message and "mig" not in (fb.message + fb.hint).lower().split()
    assert not nb03.check_sharing_choice({**nb03.SCENARIOS, first: "docker"}).ok
    assert not nb03.check_sharing_choice(None).ok


def test_enforcement():
    assert nb03.check_enforcement(dict(nb03.MECHANISMS)).ok
    cooperative = "MPS CUDA_MPS_PINNED_DEVICE_MEM_LIMIT set in the tenant's environment"
    fb = nb03.check_enforcement({**nb03.MECHANISMS, cooperative: True})
    assert not fb.ok and cooperative in fb.message and "False" not in fb.message + fb.hint
    assert not nb03.check_enforcement({k: True for k in nb03.MECHANISMS}).ok
    assert not nb03.check_enforcement({}).ok
    assert "None" in nb03.check_enforcement({k: None for k in nb03.MECHANISMS}).hint


def test_the_docker_hint_is_about_host_ram():
    fb = nb03.check_enforcement({**nb03.MECHANISMS, "Docker's --memory flag": True})
    assert not fb.ok and "memory" in fb.hint and "Who sets it" not in fb.hint
