"""`python -m kit.worker ...`: the Python worker's entry point (scripts find it by that command line)."""

import sys

from kit.worker.main import main

# Guarded: a spawned pool process imports this module as __mp_main__ and must not start a worker.
if __name__ == "__main__":
    sys.exit(main())
