import random

from course_utils.exercises import nb01

ROOTLESS = "nvidia-ctk runtime configure --runtime=docker --config=$HOME/.config/docker/daemon.json"
CDI = "sudo nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml"
VERIFY = "docker run --rm --device nvidia.com/gpu=all ubuntu:24.04 nvidia-smi"


def test_reference_answers_pass():
    assert nb01.check_stack_order(list(nb01.STACK_PIECES)).ok
    assert nb01.check_rootless_configure(ROOTLESS).ok
    assert nb01.check_rootless_configure(ROOTLESS.replace("$HOME", "~")).ok
    assert nb01.check_cdi_generate(CDI).ok
    assert nb01.check_cdi_generate("nvidia-ctk cdi generate --output /var/run/cdi/nvidia.yaml").ok
    assert nb01.check_verify_command(VERIFY).ok


def test_stack_mistakes():
    shuffled = list(nb01.STACK_PIECES)
    random.Random(1).shuffle(shuffled)
    for wrong in (None, shuffled, list(nb01.STACK_PIECES)[:-1]):
        fb = nb01.check_stack_order(wrong)
        assert not fb.ok and fb.hint


def test_command_mistakes_never_show_the_answer():
    cases = [
        (nb01.check_rootless_configure, None, "empty"),
        (nb01.check_rootless_configure, "sudo nvidia-ctk runtime configure --runtime=docker", "starts with"),
        (nb01.check_rootless_configure, "nvidia-ctk runtime configure --runtime=docker", "rootless"),
        (
            nb01.check_rootless_configure,
            "nvidia-ctk runtime configure --runtime=docker --config=/etc/docker/daemon.json",
            "not rootless",
        ),
        (nb01.check_cdi_generate, "nvidia-ctk cdi list", "not the command"),
        (nb01.check_cdi_generate, "nvidia-ctk cdi generate", "printed"),
        (nb01.check_cdi_generate, "nvidia-ctk cdi generate --output=/tmp/x.yaml", "do not look"),
        (nb01.check_verify_command, "docker run --rm --gpus all ubuntu:24.04 nvidia-smi", "CDI"),
        (
            nb01.check_verify_command,
            "docker run --rm --device nvidia.com/gpu=all nvidia/cuda:11.0-base nvidia-smi",
            "deleted",
        ),
        (nb01.check_verify_command, "docker run --rm --device nvidia.com/gpu=all ubuntu nvidia-smi", "floats"),
        (nb01.check_verify_command, "docker run --rm --device nvidia.com/gpu=all ubuntu:24.04", "lists the GPUs"),
    ]
    for check, answer, words in cases:
        fb = check(answer)
        assert not fb.ok and words in str(fb), (answer, str(fb))
        for secret in (ROOTLESS, CDI, "/etc/cdi/nvidia.yaml", ".config/docker/daemon.json", "--device"):
            assert secret not in fb.message + fb.hint


def test_odd_types_get_feedback_not_a_crash():
    for check in (nb01.check_rootless_configure, nb01.check_cdi_generate, nb01.check_verify_command):
        assert not check(42).ok
