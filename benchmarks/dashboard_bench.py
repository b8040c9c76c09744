"""Dashboard cost benchmark: kernel CPU and bytes/s to the browser, 8 simulated GPUs at 4 Hz.

    python benchmarks/dashboard_bench.py [--gpus 8] [--hz 4] [--seconds 20] [--candidates]
                                         [--json-out docs/results/dashboard.json]

``--candidates`` also measures the charts drawn with plotly FigureWidget, bqplot and an
anywidget (each only if importable, e.g. ``PYTHONPATH=/path/to/extra/site-packages``).
"""

import sys

from course_utils.bench.dashboard import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
