"""Runs :mod:`hf3fs.bench.pack` (also ``hf3fs bench pack``); ``--help`` lists its options."""

import sys

from hf3fs.bench.pack import main

if __name__ == "__main__":
    sys.exit(main())
