"""TensorFlow's data parallelism on one machine: ``tf.distribute.MirroredStrategy``.

The same tiny CNN and the same synthetic images as the PyTorch runs. Mirrored
keeps one replica per visible GPU in *one* process and all-reduces gradients
each step (NCCL on GPUs); on a machine with no GPU it makes one replica on the
CPU, which is how CI runs it. Several machines use
``MultiWorkerMirroredStrategy`` (one process per machine, ``TF_CONFIG`` says who
is who): see notebooks/08_distributed_training.ipynb.
"""

from __future__ import annotations

import os
import time

import numpy as np

from ..data import SyntheticShapes

# before TensorFlow is first imported: its C++ start-up chatter would fill the notebook
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _images(n: int, size: int, seed: int, split: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = SyntheticShapes(n, size, seed=seed, split=split).batch(range(n))
    return x.permute(0, 2, 3, 1).numpy(), y.numpy()  # Keras wants channels last (NHWC)


def build_keras_tinycnn(num_classes: int = 10, width: int = 16, image_size: int = 32):
    """The Keras twin of course_utils.distributed.TinyCNN (GroupNorm, global average pooling)."""
    import keras
    from keras import layers

    def block(filters):
        return [layers.Conv2D(filters, 3, padding="same"), layers.GroupNormalization(groups=4), layers.ReLU()]

    w = width
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            layers.Rescaling(4.0, offset=-2.0),  # (x - 0.5) * 4, as in the PyTorch model
            *block(w),
            *block(w),
            layers.MaxPooling2D(),
            *block(2 * w),
            layers.MaxPooling2D(),
            *block(4 * w),
            layers.GlobalAveragePooling2D(),
            layers.Dense(num_classes),
        ]
    )


def train_mirrored(
    train_size: int = 2048,
    test_size: int = 500,
    image_size: int = 32,
    epochs: int = 2,
    batch_per_replica: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    verbose: int = 0,
) -> dict:
    """Train under MirroredStrategy; returns replicas, devices, img/s and test accuracy."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    strategy = tf.distribute.MirroredStrategy()  # every visible GPU, or the CPU when there is none
    replicas = strategy.num_replicas_in_sync
    global_batch = batch_per_replica * replicas  # each replica gets batch_per_replica of every step
    xtr, ytr = _images(train_size, image_size, seed, "train")
    xte, yte = _images(test_size, image_size, seed, "test")
    train_ds = tf.data.Dataset.from_tensor_slices((xtr, ytr)).shuffle(train_size, seed=seed).batch(global_batch)
    test_ds = tf.data.Dataset.from_tensor_slices((xte, yte)).batch(global_batch)
    with strategy.scope():  # variables created here are mirrored on every replica
        model = build_keras_tinycnn(image_size=image_size)
        model.compile(
            optimizer=keras.optimizers.AdamW(lr, weight_decay=0.0),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    model.fit(train_ds.take(1), epochs=1, verbose=0, shuffle=False)  # builds and traces the step: not timed
    start = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, verbose=verbose, shuffle=False)  # tf.data shuffles
    seconds = time.perf_counter() - start
    _, accuracy = model.evaluate(test_ds, verbose=0)
    gpus = tf.config.list_physical_devices("GPU")
    return {
        "framework": "tensorflow " + tf.__version__,
        "strategy": type(strategy).__name__,
        "replicas": replicas,
        "devices": list(strategy.extended.worker_devices),
        "label": "GPU" if gpus else "CPU",
        "global_batch": global_batch,
        "img_per_s": round(train_size * epochs / seconds, 1),
        "final_accuracy": round(float(accuracy), 4),
        "train_loss": [round(float(v), 4) for v in history.history["loss"]],
    }
