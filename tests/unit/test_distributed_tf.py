"""TensorFlow's MirroredStrategy on the same model and data: one CPU replica in CI."""

import pytest

tf = pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install '.[tf-cpu]')")

from course_utils.distributed.tf_mirrored import build_keras_tinycnn, train_mirrored  # noqa: E402


@pytest.mark.slow
def test_mirrored_strategy_trains_the_tiny_cnn_on_every_visible_device():
    result = train_mirrored(train_size=1024, test_size=300, epochs=2, batch_per_replica=64)
    gpus = tf.config.list_physical_devices("GPU")
    assert result["strategy"] == "MirroredStrategy"
    assert result["replicas"] == max(1, len(gpus)) and len(result["devices"]) == result["replicas"]
    assert result["label"] == ("GPU" if gpus else "CPU")
    assert result["global_batch"] == 64 * result["replicas"]
    assert result["train_loss"][-1] < result["train_loss"][0]
    assert result["final_accuracy"] > 0.2, "chance is 0.1"


def test_the_keras_twin_has_the_same_shape_as_the_pytorch_model():
    from course_utils.distributed import TinyCNN

    keras_params = build_keras_tinycnn().count_params()
    torch_params = sum(p.numel() for p in TinyCNN().parameters())
    assert keras_params == torch_params
