"""``python -m course_utils.containers check [ROOT]``: check every docker command the course shows."""

import argparse
import sys

from .course_check import main

parser = argparse.ArgumentParser(prog="python -m course_utils.containers")
sub = parser.add_subparsers(dest="command", required=True)
chk = sub.add_parser("check", help="check every docker command in notebooks, README.md, docs/ and docker/")
chk.add_argument("root", nargs="?", default=".", help="course root (default: current folder)")
args = parser.parse_args()
sys.exit(main(args.root))
