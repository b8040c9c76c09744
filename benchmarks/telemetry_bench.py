"""Telemetry cost benchmark; same as `python -m course_utils bench telemetry`.

python benchmarks/telemetry_bench.py [--gpus N] [--simulate N] [--json-out FILE] [--quick]
"""

import sys

from course_utils.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "telemetry", *sys.argv[1:]]))
