"""Issue 18's speed figures in one run: the course's best 1-GPU step, the plain-PyTorch reference,
compiled DDP, ResNet-18 scaling and a DDP profile, within ``--budget-s``.

    python benchmarks/speed_bench.py --budget-s 420 --out docs/results/multi_gpu.json

The same as ``python -m course_utils bench speed``; see course_utils/bench/speed.py.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from course_utils.bench.speed import main

if __name__ == "__main__":
    sys.exit(main())
