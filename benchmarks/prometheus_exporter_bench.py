"""The Prometheus exporter's CPU and scrape response time, beside the sampler alone.

python benchmarks/prometheus_exporter_bench.py --simulate 8 [--json-out FILE] [--quick]
python benchmarks/prometheus_exporter_bench.py --json-out docs/results/exporter_gpu.json   # real GPUs
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from course_utils.bench.exporter import main

if __name__ == "__main__":
    sys.exit(main())
