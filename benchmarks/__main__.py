"""Entry point of `python -m benchmarks` (vLLM spawns processes: keep the guard)."""

import sys

from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
