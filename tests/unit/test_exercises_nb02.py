import pytest

from course_utils.containers import find_docker
from course_utils.diagnostics import lab
from course_utils.exercises import nb02

ANSWERS = {
    "only GPU 2": "docker run --rm --gpus device=2 ubuntu:24.04 nvidia-smi",
    "any two GPUs": "docker run --rm --gpus 2 ubuntu:24.04 nvidia-smi",
    "GPUs 0 and 3": "docker run --rm --gpus '\"device=0,3\"' ubuntu:24.04 nvidia-smi",
    "all GPUs, with CUDA and nvidia-smi only": (
        "docker run --rm --gpus 'all,\"capabilities=compute,utility\"' ubuntu:24.04 nvidia-smi"
    ),
}


def test_gpus_goals():
    assert nb02.check_gpus_goals(ANSWERS).ok
    mistakes = {
        "only GPU 2": "docker run --rm --gpus 2 ubuntu:24.04 nvidia-smi",
        "GPUs 0 and 3": "docker run --rm --gpus device=0,3 ubuntu:24.04 nvidia-smi",
        "all GPUs, with CUDA and nvidia-smi only": (
            "docker run --rm --gpus all,capabilities=compute,utility ubuntu:24.04 x"
        ),
    }
    for goal, wrong in mistakes.items():
        fb = nb02.check_gpus_goals({**ANSWERS, goal: wrong})
        assert not fb.ok and goal in fb.message, str(fb)
        assert ANSWERS[goal] not in str(fb)
    assert not nb02.check_gpus_goals(None).ok
    assert not nb02.check_gpus_goals({**ANSWERS, "only GPU 2": "docker run --rm ubuntu:24.04"}).ok


def test_host_gpu():
    assert nb02.check_host_gpu(3).ok
    for wrong, words in ((None, "None"), ("3", "int"), (0, "not even"), (1, "host index")):
        fb = nb02.check_host_gpu(wrong)
        assert not fb.ok and words in fb.message
        assert "3" not in fb.message + fb.hint


def test_shm():
    needed = 64 * 3 * 224 * 224 * 4 * 8 * 2 / 2**20
    assert nb02.check_shm(needed, "2g").ok
    for args, words in (
        ((None, "2g"), "None"),
        ((needed / 8, "2g"), "not what"),
        ((needed, "64m"), "smaller"),
        ((needed, "lots"), "cannot read"),
        ((needed, "500g"), "more than"),
    ):
        fb = nb02.check_shm(*args)
        assert not fb.ok and words in fb.message, str(fb)
        assert f"{needed:.0f}" not in str(fb)


FIXES = {
    1: dict(docker_args=("--gpus", "all")),
    2: dict(docker_args=("--gpus", 'all,"capabilities=compute,utility"')),
    3: dict(docker_args=("--gpus", "all")),
    4: dict(docker_args=("--gpus", "all")),
    5: dict(framework_cuda="12.8"),
}


@pytest.mark.parametrize("number", sorted(lab.LAB_STEPS))
def test_each_lab_step_is_broken_then_fixable(number):
    assert not nb02.check_lab(number, lab.LAB_STEPS[number]).ok
    assert any(c.status == "fail" for c in lab.diagnose(lab.LAB_STEPS[number]))
    assert nb02.check_lab(number, lab.step(number, **FIXES[number])).ok
    assert not nb02.check_lab(number, None).ok


def test_lab_refuses_the_wrong_fix():
    assert "cannot" in nb02.check_lab(5, lab.step(5, host_driver="580.65.06")).message
    fb = nb02.check_lab(2, lab.step(2, docker_args=("--gpus", 'all,"capabilities=utility"')))
    assert not fb.ok and "PyTorch" in fb.message
    assert not nb02.check_lab(1, lab.step(1, docker_args=("--gpus", "device=0,1"))).ok  # daemon refuses


@pytest.mark.skipif(find_docker() is None, reason="needs the docker client")
def test_goals_are_checked_by_the_real_client():
    assert nb02.check_gpus_goals(ANSWERS).message.endswith("accepted every line.")


def test_odd_types_get_feedback_not_a_crash():
    assert not nb02.check_gpus_goals({goal: 2 for goal in nb02.GOALS}).ok
    assert not nb02.check_shm(2352.0, 4096).ok
    assert not nb02.check_lab(1, lab.step(1, docker_args=None)).ok
