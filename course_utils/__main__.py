import sys

from .cli import main

# a command-line process: on SIGINT/SIGTERM it leaves at once (see cli.main)
sys.exit(main(exit_now_on_signal=True))
