"""Training on several devices: one GPU, ``nn.DataParallel``, DDP under ``torchrun``.

>>> from course_utils.distributed import TrainConfig, train, launch_torchrun
>>> cfg = TrainConfig(epochs=1, train_size=512)          # tiny CNN on synthetic shapes
>>> single = train(cfg, "single")                          # in this process   # doctest: +SKIP
>>> ddp = launch_torchrun(cfg, nproc=2).result             # 2 processes, gloo on CPU  # doctest: +SKIP

The worker that torchrun runs is ``python -m course_utils.distributed.worker``.
"""

from .config import TrainConfig
from .launch import DistributedJobError, JobResult, JobTimeoutError, launch_torchrun, torchrun_command
from .models import MODELS, TinyCNN, build_model
from .trainer import MODES, train

__all__ = [
    "MODELS",
    "MODES",
    "DistributedJobError",
    "JobResult",
    "JobTimeoutError",
    "TinyCNN",
    "TrainConfig",
    "build_model",
    "launch_torchrun",
    "torchrun_command",
    "train",
]
