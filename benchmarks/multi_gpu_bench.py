"""Multi-GPU training benchmark: one GPU vs nn.DataParallel vs DDP (torchrun), ResNet-50 and ResNet-18.

    python benchmarks/multi_gpu_bench.py --gpus 1,2,4 --out docs/results/multi_gpu.json
    python benchmarks/multi_gpu_bench.py --modes single --compile max-autotune-no-cudagraphs --batch 384

See course_utils/bench/multi_gpu.py (``--help``) for every option.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from course_utils.bench.multi_gpu import main

if __name__ == "__main__":
    sys.exit(main())
