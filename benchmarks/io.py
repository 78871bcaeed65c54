"""Runs :mod:`hf3fs.bench.io` (also ``hf3fs bench io``); ``--help`` lists its options."""

import sys

from hf3fs.bench.io import main

if __name__ == "__main__":
    sys.exit(main())
