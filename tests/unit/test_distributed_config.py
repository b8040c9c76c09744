"""TrainConfig travels to torchrun workers as flags: the round trip must be exact."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from course_utils.distributed import TrainConfig
from course_utils.distributed.config import COMPILE_MODES


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(["tinycnn", "resnet18", "resnet50"]),
    image_size=st.integers(16, 512),
    train_size=st.none() | st.integers(1, 10**6),
    epochs=st.integers(1, 50),
    lr=st.floats(1e-6, 10, allow_nan=False),
    compile_mode=st.sampled_from(COMPILE_MODES),
    cudnn_benchmark=st.booleans(),
    checkpoint=st.booleans(),
    fail_rank=st.none() | st.integers(0, 7),
    run_dir=st.none() | st.text(alphabet="abc/_-.", min_size=1, max_size=12).filter(lambda s: s.lower() != "none"),
)
def test_flags_round_trip_exactly(
    model, image_size, train_size, epochs, lr, compile_mode, cudnn_benchmark, checkpoint, fail_rank, run_dir
):
    cfg = TrainConfig(
        model=model,
        image_size=image_size,
        train_size=train_size,
        epochs=epochs,
        lr=lr,
        compile=compile_mode,
        cudnn_benchmark=cudnn_benchmark,
        checkpoint=checkpoint,
        fail_rank=fail_rank,
        run_dir=run_dir,
    )
    assert TrainConfig.from_argv(cfg.to_argv()) == cfg


def test_only_changed_settings_become_flags():
    assert TrainConfig().to_argv() == []
    assert TrainConfig(epochs=3, cudnn_benchmark=False, test_size=None).to_argv() == [
        "--test-size=none",
        "--epochs=3",
        "--no-cudnn-benchmark",
    ]


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(model="vgg"), "model must be one of tinycnn, resnet18, resnet50"),
        (dict(batch_size=0), "batch_size must be a positive whole number"),
        (dict(train_size=-5), "train_size must be a positive whole number or None"),
        (dict(compile="fast"), "compile must be one of none, default"),
        (dict(amp="fp16"), "amp must be one of auto, bf16, none"),
        (dict(lr=0.0), "lr must be positive"),
        (dict(timeout_s=0), "timeout_s must be positive"),
        (dict(fail_mode="explode"), "fail_mode must be one of raise, exit, hang"),
    ],
)
def test_bad_settings_are_refused_with_the_allowed_values(changes, words):
    with pytest.raises(ValueError, match=words):
        TrainConfig(**changes)


@pytest.mark.filterwarnings("ignore:Unable to enable fault handler")  # torchrun's @record, outside torchrun
def test_worker_rejects_bad_flags_with_exit_code_2(capsys):
    from course_utils.distributed.worker import main

    assert main(["--batch-size", "0"]) == 2
    assert "batch_size must be a positive whole number" in capsys.readouterr().err
